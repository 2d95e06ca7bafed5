-- Output streams: chunks a run's task writes under a stream key (0, 1, 2, … per run and
-- key), read live or after the run ended. A chunk index is written once: a writer sending it
-- again (a resumed upload, a re-executed task) changes nothing.
CREATE TABLE output_streams (
    run_id TEXT NOT NULL,
    stream_key TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, stream_key)
) WITHOUT ROWID;

CREATE TABLE output_chunks (
    run_id TEXT NOT NULL,
    stream_key TEXT NOT NULL,
    idx INTEGER NOT NULL,
    -- One JSON value.
    body TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (run_id, stream_key, idx)
) WITHOUT ROWID;
