-- Instalments posted as they come (issue 15 item 8): a bank line that pays a ledger item in
-- part is posted at once, and the item stays open for the rest. This links each such line to
-- its item; the item's open remainder is its amount less its parts.
CREATE TABLE part_payments (
    statement_record_id INTEGER PRIMARY KEY REFERENCES records(id),
    ledger_record_id    INTEGER NOT NULL REFERENCES records(id),
    job                 TEXT    NOT NULL
);
CREATE INDEX part_payments_by_item ON part_payments(ledger_record_id);
