-- When a break was escalated (mailed to its job's [escalation] addresses for being open too
-- long). Written in the unit that queues the mail, so a break is escalated exactly once,
-- whatever restarts or summaries follow.
ALTER TABLE breaks ADD COLUMN escalated_at TEXT;
