-- Regions (worker groups): every run belongs to one region, and a worker only takes the runs
-- of the region it serves. Runs from before regions are in the default region.
ALTER TABLE runs ADD COLUMN region TEXT NOT NULL DEFAULT 'default';

-- The region of an environment's runs that name none; NULL follows the server's default
-- region (`default`).
ALTER TABLE environments ADD COLUMN default_region TEXT;

-- Dequeue reads the ready runs of one queue, version and region, oldest first: the region
-- joins the ready index, so a worker of one region never walks the runs of another.
DROP INDEX runs_ready;
CREATE INDEX runs_ready ON runs (queue_id, version, region, queue_ts) WHERE status = 'QUEUED';

-- When a worker serving each region last asked for runs: why a queued run of a region without
-- workers does not start (trigr_engine::explain).
CREATE TABLE region_presence (
    env_id TEXT NOT NULL,
    region TEXT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    PRIMARY KEY (env_id, region)
)
 WITHOUT ROWID;
