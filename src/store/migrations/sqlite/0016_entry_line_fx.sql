-- Entries booked in the functional currency (their records were in several currencies): each
-- line keeps what it was in its own currency and the rate that converted it (IAS 21, § 256a
-- HGB), so the books show the dollar invoice the euro line settled. NULL on every other line.
ALTER TABLE entry_lines ADD COLUMN transaction_amount TEXT;
ALTER TABLE entry_lines ADD COLUMN transaction_currency TEXT;
ALTER TABLE entry_lines ADD COLUMN rate TEXT;
