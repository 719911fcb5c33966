-- The matcher's explanation of each match (matches.explanation, JSON since 0003) now comes
-- from the job's [[match.passes]]: the pass that made the match, its score, the compared
-- values and the candidates it beat. The pass name and score are read out of it as columns,
-- so reports can count matches per rule without parsing JSON; they are computed by SQLite
-- (virtual columns), so nothing else writes them and they can never disagree with the JSON.
ALTER TABLE matches ADD COLUMN rule TEXT
    GENERATED ALWAYS AS (json_extract(explanation, '$.pass')) VIRTUAL;
ALTER TABLE matches ADD COLUMN score REAL
    GENERATED ALWAYS AS (json_extract(explanation, '$.score')) VIRTUAL;
CREATE INDEX matches_job_rule ON matches(job, rule);
