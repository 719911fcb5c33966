-- Accounts payable keeps purchase order lines and goods receipts as documents, and what it
-- decided: the quantities each approved invoice used (so a later invoice cannot use them
-- again) and which payables were paid. SQLite cannot change a CHECK constraint in place, so
-- the documents table is rebuilt with the new kinds.
CREATE TABLE documents_new (
    id        INTEGER PRIMARY KEY,
    scope     TEXT    NOT NULL,
    kind      TEXT    NOT NULL CHECK (kind IN ('position', 'securities_transaction', 'invoice',
                  'purchase_order_line', 'goods_receipt', 'approved_invoice', 'paid_invoice')),
    identity  TEXT    NOT NULL,
    file_id   INTEGER NOT NULL REFERENCES files(id),
    account   TEXT,
    key       TEXT,
    as_of     TEXT,
    body      TEXT    NOT NULL,
    match_id  INTEGER REFERENCES matches(id)
);
INSERT INTO documents_new (id, scope, kind, identity, file_id, account, key, as_of, body, match_id)
SELECT id, scope, kind, identity, file_id, account, key, as_of, body, match_id FROM documents;
DROP TABLE documents;
ALTER TABLE documents_new RENAME TO documents;
CREATE UNIQUE INDEX documents_identity ON documents(scope, kind, identity);
CREATE INDEX documents_by_key ON documents(scope, kind, account, key);
