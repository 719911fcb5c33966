-- Four eyes (maker–checker): a forced match or a write-off above the approval limit is kept as
-- a proposal until another person approves it (then it is done in the same transaction),
-- rejects it, or its maker withdraws it.

CREATE TABLE approvals (
    id                 INTEGER PRIMARY KEY,
    kind               TEXT    NOT NULL CHECK (kind IN ('force_match', 'resolve')),
    job                TEXT    NOT NULL,
    reason             TEXT    NOT NULL,
    difference_account TEXT,
    -- The amount that needs approval (exact decimal) and its currency.
    currency           TEXT    NOT NULL,
    amount             TEXT    NOT NULL,
    proposed_by        TEXT    NOT NULL,
    proposed_at        TEXT    NOT NULL,
    status             TEXT    NOT NULL
        CHECK (status IN ('pending', 'approved', 'rejected', 'withdrawn')),
    decided_by         TEXT,
    decided_at         TEXT,
    decision_note      TEXT,
    -- The entry an approved forced match posted.
    entry_id           INTEGER REFERENCES entries(id)
);
CREATE INDEX approvals_by_status ON approvals(status, id);

-- The breaks a proposal names, in the order they were named. `pending` mirrors the proposal's
-- status so that one index keeps a break to one pending proposal.
CREATE TABLE approval_breaks (
    approval_id INTEGER NOT NULL REFERENCES approvals(id),
    break_id    INTEGER NOT NULL REFERENCES breaks(id),
    position    INTEGER NOT NULL,
    pending     INTEGER NOT NULL CHECK (pending IN (0, 1)),
    PRIMARY KEY (approval_id, break_id)
);
CREATE UNIQUE INDEX approval_breaks_one_pending ON approval_breaks(break_id) WHERE pending = 1;
CREATE INDEX approval_breaks_by_break ON approval_breaks(break_id, approval_id);
