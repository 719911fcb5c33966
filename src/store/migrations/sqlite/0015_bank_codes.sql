-- The bank's codes of a statement line, kept with the record so posting rules (fees,
-- interest, tax) and returned payments can be told apart after the file is gone: the
-- transaction type (MT940 `:61:` type, camt `BkTxCd`), the purpose code (GVC, camt `Purp`)
-- and a return's reason (camt `RtrInf/Rsn`, SEPA `AC04`). NULL on ledger items.
ALTER TABLE records ADD COLUMN transaction_code TEXT;
ALTER TABLE records ADD COLUMN purpose_code TEXT;
ALTER TABLE records ADD COLUMN return_reason TEXT;
