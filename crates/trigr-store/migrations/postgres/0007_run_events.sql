-- Run events: every status change and metadata update of a run, recorded in the transaction
-- that made it (in `run_events_outbox`), for realtime subscribers. A sequencer moves committed
-- outbox rows to `run_events`, numbering them (`seq`) in the order readers can see them.
-- Pruned after the retention period by the timer loop.
CREATE TABLE run_events_outbox (
    id BIGSERIAL PRIMARY KEY,
    env_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    batch_id TEXT,
    tags TEXT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE SEQUENCE run_events_seq;
CREATE TABLE run_events (
    seq BIGINT PRIMARY KEY,
    env_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    batch_id TEXT,
    -- JSON array of the run's tags.
    tags TEXT NOT NULL,
    -- 'status' or 'metadata'.
    kind TEXT NOT NULL,
    -- JSON snapshot of the run as a subscriber sees it.
    data TEXT NOT NULL,
    created_at BIGINT NOT NULL
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
