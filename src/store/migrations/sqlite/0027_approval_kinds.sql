-- Four eyes for payables and securities: a held invoice approved (posted as it stands) or
-- rejected by a person, and a position difference corrected by an entry. Each kind's own data
-- (the invoice's identity, the correcting entry's lines) is kept as JSON in `payload`, so a
-- later kind needs no new column. SQLite cannot change a CHECK in place, so `approvals` is
-- rebuilt as 0024 did, with its rows, id's and the table of its breaks as they were.
CREATE TABLE approvals_next (
    id                 INTEGER PRIMARY KEY,
    kind               TEXT    NOT NULL CHECK (kind IN ('force_match', 'resolve', 'reverse',
        'approve_invoice', 'reject_invoice', 'correct_position')),
    job                TEXT    NOT NULL,
    reason             TEXT    NOT NULL,
    difference_account TEXT,
    currency           TEXT    NOT NULL,
    amount             TEXT    NOT NULL,
    proposed_by        TEXT    NOT NULL,
    proposed_at        TEXT    NOT NULL,
    status             TEXT    NOT NULL
        CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn')),
    decided_by         TEXT,
    decided_at         TEXT,
    decision_note      TEXT,
    entry_id           INTEGER REFERENCES entries(id),
    reverses_entry     INTEGER REFERENCES entries(id),
    payload            TEXT
);
INSERT INTO approvals_next (id, kind, job, reason, difference_account, currency, amount,
    proposed_by, proposed_at, status, decided_by, decided_at, decision_note, entry_id,
    reverses_entry)
SELECT id, kind, job, reason, difference_account, currency, amount, proposed_by, proposed_at,
    status, decided_by, decided_at, decision_note, entry_id, reverses_entry FROM approvals;
CREATE TABLE approval_breaks_kept AS SELECT * FROM approval_breaks;
DROP TABLE approval_breaks;
DROP TABLE approvals;
ALTER TABLE approvals_next RENAME TO approvals;
CREATE INDEX approvals_by_status ON approvals(status, id);
CREATE TABLE approval_breaks (
    approval_id INTEGER NOT NULL REFERENCES approvals(id),
    break_id    INTEGER NOT NULL REFERENCES breaks(id),
    position    INTEGER NOT NULL,
    pending     INTEGER NOT NULL CHECK (pending IN (0, 1)),
    PRIMARY KEY (approval_id, break_id)
);
INSERT INTO approval_breaks SELECT approval_id, break_id, position, pending
    FROM approval_breaks_kept;
DROP TABLE approval_breaks_kept;
CREATE UNIQUE INDEX approval_breaks_one_pending ON approval_breaks(break_id) WHERE pending = 1;
