-- The console's exception queue is paged by key in three orders: oldest first, by job then
-- oldest, largest amount first. Each index is one of those orders ending with the id, so a page
-- is a walk of LIMIT rows from the cursor, never a sort of every open break. The amount's
-- expression must stay word for word the one in src/store/sqlite/console.rs (AMOUNT_KEY).
-- IF NOT EXISTS: migrations of the same release may be applied in another order on a branch.
CREATE INDEX IF NOT EXISTS breaks_queue_age ON breaks(since, id);
CREATE INDEX IF NOT EXISTS breaks_queue_job ON breaks(job, since, id);
CREATE INDEX IF NOT EXISTS breaks_queue_amount ON breaks(COALESCE(ABS(CAST(amount AS REAL)), -1), id);
-- The overview counts unresolved breaks per job, reason and day: read from this index alone,
-- already in group order (a sort of 100,000 rows took 0.2 s on every overview).
CREATE INDEX IF NOT EXISTS breaks_open_ages ON breaks(job, reason, since) WHERE status != 'resolved';
