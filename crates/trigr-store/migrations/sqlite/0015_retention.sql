-- Retention: finished runs, and what belongs only to them, are deleted once they finished
-- longer ago than their environment's retention period (trigr_engine::retention).

-- Days an environment keeps its finished runs; NULL follows the server's default, 0 keeps
-- them for good.
ALTER TABLE environments ADD COLUMN retention_days INTEGER;

-- The retention sweep walks each environment's finished runs oldest first (the row id `seq`
-- breaks ties). Runs that have not finished are not in it.
CREATE INDEX runs_finished ON runs (env_id, finished_at, seq) WHERE finished_at IS NOT NULL;
-- Whether a finished run is still needed: by a child or a descendant that has not finished
-- (metadata and streams of a parent or root), or by another run of its batch.
CREATE INDEX runs_live_parent ON runs (parent_run_id)
    WHERE parent_run_id IS NOT NULL AND finished_at IS NULL;
CREATE INDEX runs_live_root ON runs (root_run_id)
    WHERE root_run_id IS NOT NULL AND finished_at IS NULL;
CREATE INDEX runs_batch_finished ON runs (batch_id, finished_at) WHERE batch_id IS NOT NULL;

-- Tokens (waitpoints of no run) done for longer than the retention period, batches without
-- runs, and uploaded packets, each oldest first.
CREATE INDEX waitpoints_done ON waitpoints (env_id, completed_at)
    WHERE owner_run_id IS NULL AND completed_at IS NOT NULL;
CREATE INDEX batches_updated ON batches (env_id, updated_at);
CREATE INDEX packets_created ON packets (env_id, created_at);
