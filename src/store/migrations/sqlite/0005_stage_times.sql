-- Processing time per stage of a run, for the KPIs: reading the file (extract), and matching
-- with posting (reconcile). Store time is the rest of the run's duration.
ALTER TABLE runs ADD COLUMN extract_ms INTEGER;
ALTER TABLE runs ADD COLUMN match_ms INTEGER;
