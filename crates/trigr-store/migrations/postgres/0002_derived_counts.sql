-- Concurrency counts are derived from the runs holding a slot instead of kept in counters.
DROP TABLE concurrency_slots;
ALTER TABLE environments DROP COLUMN running;
CREATE INDEX runs_holding_slot ON runs (queue_id, ckey) WHERE status IN ('DEQUEUED', 'EXECUTING');
CREATE INDEX runs_holding_env ON runs (env_id) WHERE status IN ('DEQUEUED', 'EXECUTING');
