-- An unmatched item waits its job's grace period for its counterpart before it is a break,
-- counted from when its file was recorded: the first run of the file (runs by file).
CREATE INDEX runs_by_file ON runs(file_id) WHERE file_id IS NOT NULL;
-- The KPIs leave out breaks about a record that were open less than the grace period: found
-- from the runs of a period through the run that opened or closed them.
CREATE INDEX breaks_by_opened_run ON breaks(opened_run_id) WHERE record_id IS NOT NULL;
CREATE INDEX breaks_by_closed_run ON breaks(closed_run_id) WHERE record_id IS NOT NULL;
