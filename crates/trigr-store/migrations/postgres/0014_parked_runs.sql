-- Runs that wait on their version without being ready to start (delayed, or suspended on a
-- waitpoint), by environment and version: with `runs_ready` for the queued ones, what
-- `runs migrate` and the development environments' automatic migration move from a version
-- to another. Queued runs are left out so that the trigger → dequeue → complete path
-- maintains no extra index entry.
CREATE INDEX runs_parked ON runs (env_id, version, seq) WHERE status IN ('DELAYED', 'WAITING');
