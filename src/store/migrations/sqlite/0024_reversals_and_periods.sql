-- Reversal, never edit: a posted entry is undone by a second entry with every line negated,
-- linked to it by `reverses`. The unique index keeps an entry reversed at most once.
ALTER TABLE entries ADD COLUMN reverses INTEGER REFERENCES entries(id);
CREATE UNIQUE INDEX entries_reversed_once ON entries(reverses) WHERE reverses IS NOT NULL;

-- Accounting periods: an entry dated in a closed period is posted on the first day of the
-- first open period after it; the date it would have had is kept here.
ALTER TABLE entries ADD COLUMN value_date TEXT;

-- The records a reversed match held, kept after the match is undone: where the reversed
-- entry came from (`clerk journal`), and which records wait for a person. A record held here
-- and not matched again is not offered to the automatic matcher: the match that was reversed
-- was wrong, and the same rule would make it again.
CREATE TABLE reversed_match_records (
    match_id    INTEGER NOT NULL REFERENCES matches(id),
    record_id   INTEGER NOT NULL REFERENCES records(id),
    reversed_at TEXT    NOT NULL,
    PRIMARY KEY (match_id, record_id)
);
CREATE INDEX reversed_match_records_by_record ON reversed_match_records(record_id);

-- Accounting periods (calendar months, `2026-11`) that were ever closed; a month without a row
-- is open. Every close and reopen leaves a line in the history, with who and why.
CREATE TABLE periods (
    period     TEXT PRIMARY KEY CHECK (period GLOB '[0-9][0-9][0-9][0-9]-[0-1][0-9]'),
    status     TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    changed_by TEXT NOT NULL,
    changed_at TEXT NOT NULL
);
CREATE TABLE period_history (
    id     INTEGER PRIMARY KEY,
    period TEXT NOT NULL REFERENCES periods(period),
    at     TEXT NOT NULL,
    actor  TEXT NOT NULL,
    action TEXT NOT NULL CHECK (action IN ('closed', 'reopened')),
    reason TEXT
);

-- Four eyes for reversals: a proposal kind of its own, naming the entry it would reverse.
-- SQLite cannot change a CHECK in place, so `approvals` is rebuilt with its rows, its id's and
-- the table of its breaks (which refers to it) as they were.
CREATE TABLE approvals_next (
    id                 INTEGER PRIMARY KEY,
    kind               TEXT    NOT NULL CHECK (kind IN ('force_match', 'resolve', 'reverse')),
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
    -- The entry a reversal proposal would reverse.
    reverses_entry     INTEGER REFERENCES entries(id)
);
INSERT INTO approvals_next (id, kind, job, reason, difference_account, currency, amount,
    proposed_by, proposed_at, status, decided_by, decided_at, decision_note, entry_id)
SELECT id, kind, job, reason, difference_account, currency, amount, proposed_by, proposed_at,
    status, decided_by, decided_at, decision_note, entry_id FROM approvals;
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
CREATE INDEX approval_breaks_by_break ON approval_breaks(break_id, approval_id);
-- A reversal proposal pending for an entry is the only one.
CREATE UNIQUE INDEX approvals_one_pending_reversal ON approvals(reverses_entry)
    WHERE status = 'pending' AND reverses_entry IS NOT NULL;
