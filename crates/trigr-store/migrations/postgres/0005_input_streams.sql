-- Input streams: messages sent to runs, kept in order per (run, stream), and where each
-- consumer of a run has read up to.
CREATE TABLE input_messages (
    run_id TEXT NOT NULL,
    stream_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    data TEXT NOT NULL,
    -- The version the run was locked to when the message was delivered.
    run_version TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, stream_id, seq)
);

CREATE TABLE input_cursors (
    run_id TEXT NOT NULL,
    stream_id TEXT NOT NULL,
    consumer TEXT NOT NULL,
    position BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, stream_id, consumer)
);

-- An INPUT waitpoint completes with message `input_after + 1` of `input_stream`.
ALTER TABLE waitpoints ADD COLUMN input_stream TEXT;
ALTER TABLE waitpoints ADD COLUMN input_after BIGINT;
CREATE INDEX waitpoints_input ON waitpoints (owner_run_id, input_stream)
    WHERE input_stream IS NOT NULL AND status = 'WAITING';

-- When a worker of each version last asked for runs: why a run waits, and which versions
-- have workers.
CREATE TABLE worker_presence (
    env_id TEXT NOT NULL,
    version TEXT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    PRIMARY KEY (env_id, version)
);
