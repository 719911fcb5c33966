-- Exports to the books (issue 17): per target the last entry exported, and every batch
-- written, so each entry reaches each target exactly once. The cursor moves in the
-- transaction that records the batch's file name and checksum.
CREATE TABLE export_cursors (
    target        TEXT    PRIMARY KEY,
    last_entry_id INTEGER NOT NULL
);

CREATE TABLE export_batches (
    id             INTEGER PRIMARY KEY,
    target         TEXT    NOT NULL,
    number         INTEGER NOT NULL,
    reexport       INTEGER NOT NULL CHECK (reexport IN (0, 1)),
    file_name      TEXT    NOT NULL,
    sha256         TEXT    NOT NULL,
    first_entry_id INTEGER NOT NULL,
    last_entry_id  INTEGER NOT NULL,
    entries        INTEGER NOT NULL,
    first_date     TEXT    NOT NULL,
    last_date      TEXT    NOT NULL,
    -- A re-export's date range, to select its entries again after a crash.
    from_date      TEXT,
    to_date        TEXT,
    created_at     TEXT    NOT NULL,
    written_at     TEXT,
    UNIQUE (target, reexport, number)
);

CREATE INDEX export_batches_unwritten ON export_batches (id) WHERE written_at IS NULL;
