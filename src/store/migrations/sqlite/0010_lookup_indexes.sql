-- Lookups that every run makes and that scanned whole tables, so that each file cost more
-- than the one before (found by the soak benchmark):
-- a file's name by its content hash (naming the source of a break, the same file again),
CREATE INDEX files_by_sha256 ON files(sha256, id);
-- and the latest value date a side of a book has reported (when a ledger item falls due).
CREATE INDEX records_by_value_date ON records(scope, side, value_date);
