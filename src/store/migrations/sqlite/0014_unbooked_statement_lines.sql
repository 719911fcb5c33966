-- The lines of a statement the bank has not booked (camt `PDNG`/`FUTR`, `INFO`; MT942 lines
-- and expected `E...` lines): kept with their statement for staff to see, never records, so
-- they are never matched or posted. The booked line arrives later in an end-of-day statement.
CREATE TABLE unbooked_lines (
    id             INTEGER PRIMARY KEY,
    statement_id   INTEGER NOT NULL REFERENCES statements(id),
    status         TEXT    NOT NULL CHECK (status IN ('pending', 'info')),
    value_date     TEXT    NOT NULL,
    amount         TEXT    NOT NULL,
    currency       TEXT    NOT NULL,
    reference      TEXT,
    bank_reference TEXT,
    remittance     TEXT    NOT NULL,
    row            INTEGER NOT NULL,
    locator        TEXT
);
CREATE INDEX unbooked_lines_by_statement ON unbooked_lines(statement_id);
