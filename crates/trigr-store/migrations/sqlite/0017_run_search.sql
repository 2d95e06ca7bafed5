-- Searching runs from the dashboard and the runs API: by the schedule that made them, by
-- idempotency key, and listing an environment's batches.

-- A scheduled run's request key is `schedule:<schedule id>:<tick>`; the schedule id is derived
-- from it (computed when read, indexed for the scheduled runs only).
ALTER TABLE runs ADD COLUMN schedule_id TEXT GENERATED ALWAYS AS (
    CASE WHEN substr(request_key, 1, 9) = 'schedule:'
         THEN substr(request_key, 10, instr(substr(request_key, 10), ':') - 1) END
) VIRTUAL;
CREATE INDEX runs_schedule ON runs (env_id, schedule_id, seq) WHERE schedule_id IS NOT NULL;

-- The key a run holds (cleared when it expires or is reset) and the key as the caller gave it
-- before the official SDK hashed it (kept), whatever the task.
CREATE INDEX runs_idempotency_key ON runs (env_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX runs_idempotency_user ON runs (env_id, idempotency_key_user)
    WHERE idempotency_key_user IS NOT NULL;

-- An environment's batches, newest first.
CREATE INDEX batches_env ON batches (env_id, created_at, id);
