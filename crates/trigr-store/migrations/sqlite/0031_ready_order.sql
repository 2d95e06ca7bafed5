-- PostgreSQL's migration 31 puts `seq` at the end of `runs_ready`, so that a queue's ready
-- runs are read in `ORDER BY queue_ts, seq` order straight from the index. SQLite has that
-- order already: `seq` is the rowid, which ends every index entry, so its index stays as it is
-- (naming `seq` would store it twice in every entry).
SELECT 1;
