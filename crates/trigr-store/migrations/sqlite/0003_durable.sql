-- Durable execution (worker protocol §7): journals, waitpoints, run logs.

-- A run queued again because its waitpoint completed continues its attempt when dequeued.
ALTER TABLE runs ADD COLUMN resumed INTEGER NOT NULL DEFAULT 0;

-- Things runs wait for: tokens (MANUAL), times (DATETIME), child runs (RUN, BATCH).
CREATE TABLE waitpoints (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    env_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    status TEXT NOT NULL,
    owner_run_id TEXT,
    -- Fired by the timers while WAITING: a DATETIME completes, a token times out.
    due_at INTEGER,
    idempotency_key TEXT,
    idempotency_expires_at INTEGER,
    tags TEXT NOT NULL DEFAULT '[]',
    output TEXT,
    batch_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    completed_at INTEGER
);
CREATE INDEX waitpoints_env_seq ON waitpoints (env_id, seq);
CREATE INDEX waitpoints_due ON waitpoints (due_at) WHERE status = 'WAITING' AND due_at IS NOT NULL;
CREATE INDEX waitpoints_owner ON waitpoints (owner_run_id) WHERE owner_run_id IS NOT NULL;
CREATE UNIQUE INDEX waitpoints_idempotency ON waitpoints (env_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

-- The child runs a RUN or BATCH waitpoint waits for, in item order.
CREATE TABLE waitpoint_runs (
    waitpoint_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (waitpoint_id, idx)
) WITHOUT ROWID;
CREATE INDEX waitpoint_runs_run ON waitpoint_runs (run_id);

-- Each run's durable operations by position; a wait's result is its waitpoint's.
CREATE TABLE journal (
    run_id TEXT NOT NULL,
    pos INTEGER NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    output TEXT,
    waitpoint_id TEXT,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, pos)
) WITHOUT ROWID;
CREATE INDEX journal_waitpoint ON journal (waitpoint_id) WHERE waitpoint_id IS NOT NULL;

CREATE TABLE run_logs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL,
    logged_at INTEGER NOT NULL,
    level TEXT NOT NULL,
    message TEXT NOT NULL,
    fields TEXT,
    created_at INTEGER NOT NULL
);
CREATE INDEX run_logs_run ON run_logs (run_id, seq);
