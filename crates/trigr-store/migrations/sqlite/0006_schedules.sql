-- Cron schedules: each fires runs of one task. DECLARATIVE ones follow the current
-- deployment's manifest (one per task); IMPERATIVE ones are managed through the API.
CREATE TABLE schedules (
    id TEXT PRIMARY KEY,
    env_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    active INTEGER NOT NULL,
    dedup_key TEXT,
    external_id TEXT,
    cron TEXT NOT NULL,
    timezone TEXT NOT NULL,
    -- The next tick to fire (epoch ms); a tick is claimed by moving it with a compare-and-set.
    next_run_at INTEGER,
    -- The last tick fired.
    last_run_at INTEGER,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX schedules_dedup ON schedules (env_id, dedup_key) WHERE dedup_key IS NOT NULL;
CREATE UNIQUE INDEX schedules_declarative ON schedules (env_id, task_id) WHERE kind = 'DECLARATIVE';
CREATE INDEX schedules_env ON schedules (env_id, created_at);
CREATE INDEX schedules_due ON schedules (next_run_at) WHERE active = 1 AND next_run_at IS NOT NULL;
