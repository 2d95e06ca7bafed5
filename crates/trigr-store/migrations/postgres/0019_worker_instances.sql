-- Worker instances: when each worker (by the id its dequeue names, `host:pid` for the SDK;
-- '' for a worker that names none) last asked for runs of a version. Counts the live workers
-- of each version; rows a worker left an hour ago are pruned by its version's next touch.
CREATE TABLE worker_instances (
    env_id TEXT NOT NULL,
    version TEXT NOT NULL,
    worker_id TEXT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    PRIMARY KEY (env_id, version, worker_id)
);
