-- A ledger item exported again with another amount, value date or reference (a corrected
-- booking) is a new version of the record, not a record already known. The versions of an item
-- share its identity; the one no later version replaced is the item as the books have it now.
DROP INDEX records_identity;
ALTER TABLE records ADD COLUMN version INTEGER NOT NULL DEFAULT 1;
CREATE UNIQUE INDEX records_identity ON records(scope, side, identity, version);
-- The version that took this one's place.
ALTER TABLE records ADD COLUMN replaced_by INTEGER REFERENCES records(id);
-- Why an unmatched record takes no part in matching: `replaced` (withdrawn: a later version took
-- its place while it was open) or `changed_after_match` (a version of an item already matched
-- and posted: it waits for a person, so that the item is not posted twice).
ALTER TABLE records ADD COLUMN out_of_matching TEXT
    CHECK (out_of_matching IN ('replaced', 'changed_after_match'));
-- The versions withdrawn since a reconciliation's mark, found by the ids of their successors.
CREATE INDEX records_replaced ON records(replaced_by) WHERE replaced_by IS NOT NULL;

-- What a run found changed in the rows it read: new versions, and of them the ones whose
-- earlier version was withdrawn (the rest changed after their match).
ALTER TABLE runs ADD COLUMN records_changed INTEGER NOT NULL DEFAULT 0;
ALTER TABLE runs ADD COLUMN records_withdrawn INTEGER NOT NULL DEFAULT 0;

-- A failed file that a file of the same name, processed later by the same job, replaced: its
-- break closed, its copy put away to failed/<job>/replaced/.
ALTER TABLE files ADD COLUMN replaced_by INTEGER REFERENCES files(id);
CREATE INDEX files_failed_by_name ON files(job, name) WHERE status = 'failed';
-- The unresolved breaks about a file (not a record), by job and file name.
CREATE INDEX breaks_unresolved_by_source ON breaks(job, source)
    WHERE status != 'resolved' AND record_id IS NULL;
