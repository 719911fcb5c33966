-- Breaks about something other than one record: a position (account and ISIN), a trade that
-- failed to settle, an invoice on hold. The job carries one unresolved break per subject from
-- run to run, updates it while the difference changes, and closes it when the subject agrees.
ALTER TABLE breaks ADD COLUMN subject TEXT;
CREATE UNIQUE INDEX breaks_open_per_subject ON breaks(job, subject)
    WHERE status != 'resolved' AND subject IS NOT NULL;
