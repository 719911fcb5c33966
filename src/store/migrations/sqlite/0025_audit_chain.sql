-- Tamper evidence: every journal entry (its row and its lines) and every break action is
-- chained, in the transaction that wrote it. `content_hash` is the SHA-256 of the row's
-- canonical encoding (every column by name, NULLs left out, each value with its type), `hash`
-- the SHA-256 of the previous row's hash, this content hash, the kind, the row id and `seq`.
-- Rows already in the database are chained by the first open after this migration.
CREATE TABLE audit_chain (
    seq          INTEGER PRIMARY KEY,
    kind         TEXT    NOT NULL CHECK (kind IN ('entry', 'break_action')),
    row_id       INTEGER NOT NULL,
    content_hash TEXT    NOT NULL,
    prev_hash    TEXT    NOT NULL,
    hash         TEXT    NOT NULL,
    chained_at   TEXT    NOT NULL,
    UNIQUE (kind, row_id)
);
