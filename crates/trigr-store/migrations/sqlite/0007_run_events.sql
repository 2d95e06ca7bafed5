-- Run events: every status change and metadata update of a run, recorded in the transaction
-- that made it, for realtime subscribers. `seq` is global and grows in commit order (one
-- writer), so it is also each environment's monotonic event number. Pruned after the
-- retention period by the timer loop.
CREATE TABLE run_events (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    env_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    batch_id TEXT,
    -- JSON array of the run's tags.
    tags TEXT NOT NULL,
    -- 'status' or 'metadata'.
    kind TEXT NOT NULL,
    -- JSON snapshot of the run as a subscriber sees it.
    data TEXT NOT NULL,
    created_at INTEGER NOT NULL
);
CREATE INDEX run_events_env ON run_events (env_id, seq);
CREATE INDEX run_events_created ON run_events (created_at);

-- The highest event number pruned so far: a subscriber resuming below it may have missed
-- events, and gets a fresh snapshot instead.
CREATE TABLE run_events_pruned (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    seq BIGINT NOT NULL
);
INSERT INTO run_events_pruned (id, seq) VALUES (1, 0);
