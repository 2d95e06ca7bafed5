-- A queue's ready runs in dequeue order: `ORDER BY queue_ts, seq` read straight from the index,
-- so that taking the oldest runs of a deep queue reads those runs and no others. Without `seq`
-- in the index PostgreSQL read and sorted every queued run of the queue on each dequeue (0.8 s
-- for a queue of a million). SQLite orders by the rowid (`seq`) already: its migration 31 is empty.
DROP INDEX runs_ready;
CREATE INDEX runs_ready ON runs (queue_id, version, region, queue_ts, seq) WHERE status = 'QUEUED';
