-- Structured documents: bank statements (for checks across files), and the custodians' and
-- suppliers' documents (holdings, settlements, invoices) kept as read.

ALTER TABLE records ADD COLUMN locator TEXT;

-- One row per statement read, for the checks that span files: a gap or an overlap between
-- one statement's closing balance and the next one's opening, the same statement twice.
CREATE TABLE statements (
    id             INTEGER PRIMARY KEY,
    job            TEXT    NOT NULL,
    file_id        INTEGER NOT NULL REFERENCES files(id),
    -- Account, currency, number and dates: the same statement sent twice has the same one.
    identity       TEXT    NOT NULL,
    format         TEXT    NOT NULL,
    kind           TEXT    NOT NULL,
    account        TEXT    NOT NULL,
    currency       TEXT,
    number         TEXT,
    statement_id   TEXT,
    opening_amount TEXT,
    opening_date   TEXT,
    closing_amount TEXT,
    closing_date   TEXT,
    entries        INTEGER NOT NULL,
    row            INTEGER NOT NULL,
    locator        TEXT
);
CREATE INDEX statements_by_account ON statements(account, currency, closing_date, id);
CREATE INDEX statements_by_identity ON statements(identity);

-- Positions, securities transactions and invoices: the document as JSON (exact decimals as
-- strings) with the keys reconciliations look them up by. One per identity and scope.
CREATE TABLE documents (
    id        INTEGER PRIMARY KEY,
    scope     TEXT    NOT NULL,
    kind      TEXT    NOT NULL CHECK (kind IN ('position', 'securities_transaction', 'invoice')),
    identity  TEXT    NOT NULL,
    file_id   INTEGER NOT NULL REFERENCES files(id),
    account   TEXT,
    key       TEXT,
    as_of     TEXT,
    body      TEXT    NOT NULL,
    match_id  INTEGER REFERENCES matches(id)
);
CREATE UNIQUE INDEX documents_identity ON documents(scope, kind, identity);
CREATE INDEX documents_by_key ON documents(scope, kind, account, key);
