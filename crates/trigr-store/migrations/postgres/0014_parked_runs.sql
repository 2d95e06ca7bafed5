-- Runs that hold no lease and wait on their version (queued, delayed, suspended, or queued
-- again for a retry), by environment and version: what `runs migrate` and the development
-- environments' automatic migration move from a version to another.
CREATE INDEX runs_parked ON runs (env_id, version, seq) WHERE status IN ('QUEUED', 'DELAYED', 'WAITING');
