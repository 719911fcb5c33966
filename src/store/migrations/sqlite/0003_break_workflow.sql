-- Breaks are worked by people: assigned, investigated, noted, resolved, force-matched. Every
-- action is kept with who and when. SQLite cannot change a CHECK constraint in place, so the
-- breaks table is rebuilt with the new status.

CREATE TABLE breaks_new (
    id             INTEGER PRIMARY KEY,
    job            TEXT    NOT NULL,
    reason         TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('open', 'investigating', 'resolved')),
    detail         TEXT    NOT NULL,
    amount         TEXT,
    currency       TEXT,
    -- The difference behind an amount or quantity break (exact decimal).
    difference     TEXT,
    since          TEXT    NOT NULL,
    owner          TEXT,
    record_id      INTEGER REFERENCES records(id),
    source         TEXT,
    opened_run_id  INTEGER REFERENCES runs(id),
    opened_at      TEXT    NOT NULL,
    closed_run_id  INTEGER REFERENCES runs(id),
    closed_at      TEXT,
    resolution     TEXT
);
INSERT INTO breaks_new (id, job, reason, status, detail, amount, currency, since, owner,
    record_id, source, opened_run_id, opened_at, closed_run_id, closed_at, resolution)
SELECT id, job, reason, status, detail, amount, currency, since, owner, record_id, source,
    opened_run_id, opened_at, closed_run_id, closed_at, resolution
FROM breaks;
DROP TABLE breaks;
ALTER TABLE breaks_new RENAME TO breaks;
CREATE UNIQUE INDEX breaks_open_per_record ON breaks(record_id)
    WHERE status != 'resolved' AND record_id IS NOT NULL;
CREATE INDEX breaks_by_status ON breaks(status, job);

CREATE TABLE break_history (
    id        INTEGER PRIMARY KEY,
    break_id  INTEGER NOT NULL REFERENCES breaks(id),
    at        TEXT    NOT NULL,
    -- A person's login, or "clerk" for what the daemon did.
    actor     TEXT    NOT NULL,
    action    TEXT    NOT NULL,
    detail    TEXT
);
CREATE INDEX break_history_by_break ON break_history(break_id, id);

-- Every break opened so far gets its "opened" line.
INSERT INTO break_history (break_id, at, actor, action, detail)
SELECT id, opened_at, 'clerk', 'opened', detail FROM breaks;
INSERT INTO break_history (break_id, at, actor, action, detail)
SELECT id, closed_at, 'clerk', 'resolved', resolution FROM breaks WHERE status = 'resolved';

-- Why a match was made: the pass and rule, the compared values, the candidates it beat
-- (JSON); who made it when it was forced by a person, and why.
ALTER TABLE matches ADD COLUMN explanation TEXT;
ALTER TABLE matches ADD COLUMN actor TEXT;
ALTER TABLE matches ADD COLUMN reason TEXT;
