-- clerk's first schema. Money is TEXT holding the exact decimal (SQLite has no decimal type and
-- REAL would round); dates are ISO 8601 TEXT; instants are RFC 3339 UTC TEXT.

CREATE TABLE files (
    id           INTEGER PRIMARY KEY,
    job          TEXT    NOT NULL,
    sha256       TEXT    NOT NULL,
    name         TEXT    NOT NULL,
    size         INTEGER NOT NULL,
    arrived_at   TEXT    NOT NULL,
    status       TEXT    NOT NULL CHECK (status IN ('processed', 'failed', 'duplicate')),
    error        TEXT,
    duplicate_of INTEGER REFERENCES files(id)
);
-- A file's content is processed at most once per job: the same file dropped again is a duplicate.
CREATE UNIQUE INDEX files_processed_once ON files(job, sha256) WHERE status = 'processed';

CREATE TABLE runs (
    id                 INTEGER PRIMARY KEY,
    job                TEXT    NOT NULL,
    trigger            TEXT    NOT NULL,
    file_id            INTEGER REFERENCES files(id),
    started_at         TEXT    NOT NULL,
    finished_at        TEXT,
    status             TEXT    NOT NULL DEFAULT 'running',
    format             TEXT,
    records_in         INTEGER NOT NULL DEFAULT 0,
    records_known      INTEGER NOT NULL DEFAULT 0,
    matched            INTEGER NOT NULL DEFAULT 0,
    entries_posted     INTEGER NOT NULL DEFAULT 0,
    breaks_opened      INTEGER NOT NULL DEFAULT 0,
    breaks_closed      INTEGER NOT NULL DEFAULT 0,
    duration_ms        INTEGER,
    arrival_to_done_ms INTEGER,
    error              TEXT
);
CREATE INDEX runs_by_job ON runs(job, started_at);
CREATE INDEX runs_by_start ON runs(started_at);

CREATE TABLE matches (
    id         INTEGER PRIMARY KEY,
    job        TEXT    NOT NULL,
    run_id     INTEGER NOT NULL REFERENCES runs(id),
    pass       TEXT    NOT NULL,
    created_at TEXT    NOT NULL
);

CREATE TABLE records (
    id           INTEGER PRIMARY KEY,
    scope        TEXT    NOT NULL,
    side         TEXT    NOT NULL CHECK (side IN ('ledger', 'statement')),
    identity     TEXT    NOT NULL,
    file_id      INTEGER NOT NULL REFERENCES files(id),
    sheet        TEXT,
    row          INTEGER NOT NULL,
    external_id  TEXT    NOT NULL,
    account      TEXT,
    value_date   TEXT    NOT NULL,
    booking_date TEXT,
    amount       TEXT    NOT NULL,
    currency     TEXT    NOT NULL,
    reference    TEXT,
    counterparty TEXT,
    remittance   TEXT,
    match_id     INTEGER REFERENCES matches(id)
);
-- One record per identity and scope: a ledger item exported again tomorrow is the same item.
CREATE UNIQUE INDEX records_identity ON records(scope, side, identity);
CREATE INDEX records_open ON records(scope, side, id) WHERE match_id IS NULL;
CREATE INDEX records_by_match ON records(match_id) WHERE match_id IS NOT NULL;

CREATE TABLE entries (
    id              INTEGER PRIMARY KEY,
    idempotency_key TEXT    NOT NULL UNIQUE,
    job             TEXT    NOT NULL,
    run_id          INTEGER NOT NULL REFERENCES runs(id),
    match_id        INTEGER NOT NULL REFERENCES matches(id),
    posting_date    TEXT    NOT NULL,
    narrative       TEXT    NOT NULL,
    posted_at       TEXT    NOT NULL
);
CREATE INDEX entries_by_run ON entries(run_id);

CREATE TABLE entry_lines (
    entry_id INTEGER NOT NULL REFERENCES entries(id),
    line_no  INTEGER NOT NULL,
    account  TEXT    NOT NULL,
    currency TEXT    NOT NULL,
    amount   TEXT    NOT NULL,
    PRIMARY KEY (entry_id, line_no)
);

CREATE TABLE breaks (
    id             INTEGER PRIMARY KEY,
    job            TEXT    NOT NULL,
    reason         TEXT    NOT NULL,
    status         TEXT    NOT NULL CHECK (status IN ('open', 'resolved')),
    detail         TEXT    NOT NULL,
    amount         TEXT,
    currency       TEXT,
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
-- A record has at most one open break.
CREATE UNIQUE INDEX breaks_open_per_record ON breaks(record_id) WHERE status = 'open' AND record_id IS NOT NULL;
CREATE INDEX breaks_by_status ON breaks(status, job);

CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY,
    message_id      TEXT    NOT NULL UNIQUE,
    purpose         TEXT    NOT NULL,
    sender          TEXT    NOT NULL,
    recipients      TEXT    NOT NULL, -- JSON array of addresses
    subject         TEXT    NOT NULL,
    raw             BLOB    NOT NULL, -- the whole RFC 5322 message, built once
    created_at      TEXT    NOT NULL,
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT    NOT NULL,
    last_error      TEXT,
    sent_at         TEXT
);
CREATE INDEX outbox_due ON outbox(next_attempt_at) WHERE sent_at IS NULL;

CREATE TABLE schedule_state (
    job        TEXT PRIMARY KEY,
    last_fired TEXT NOT NULL
);
