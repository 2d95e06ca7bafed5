-- Run events cost one B-tree insert each: the table is keyed by `seq` alone, without the
-- AUTOINCREMENT bookkeeping row and without secondary indexes. Readers of an environment
-- scan the `seq` range after their cursor (a short range: what committed since), pruning
-- walks from the oldest `seq`, and the newest event is never pruned so that numbers are
-- never handed out twice (SQLite numbers a row one above the largest present).
CREATE TABLE run_events_lean (
    seq INTEGER PRIMARY KEY,
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
INSERT INTO run_events_lean (seq, env_id, run_id, batch_id, tags, kind, data, created_at)
    SELECT seq, env_id, run_id, batch_id, tags, kind, data, created_at FROM run_events;
-- Everything was pruned: a placeholder of no environment keeps numbers above the pruned ones.
INSERT INTO run_events_lean (seq, env_id, run_id, tags, kind, data, created_at)
    SELECT seq, '', '', '[]', 'status', 'null', 0 FROM run_events_pruned
    WHERE id = 1 AND seq > 0 AND NOT EXISTS (SELECT 1 FROM run_events);
DROP TABLE run_events;
ALTER TABLE run_events_lean RENAME TO run_events;
