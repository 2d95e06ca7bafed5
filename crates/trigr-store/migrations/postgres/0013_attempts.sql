-- Attempt history. The attempt in progress (or the one that completed the run) is read from
-- the run itself: when it started and when its worker last proved it was alive.
ALTER TABLE runs ADD COLUMN attempt_started_at BIGINT;
ALTER TABLE runs ADD COLUMN heartbeat_at BIGINT;
-- One row per attempt that ended without completing its run (failed, lease lost, timed out,
-- canceled), written in the transaction of the run's transition that ended it.
CREATE TABLE run_attempts (
    run_id TEXT NOT NULL,
    number BIGINT NOT NULL,
    started_at BIGINT,
    ended_at BIGINT NOT NULL,
    -- 'FAILED', 'LEASE_LOST', 'TIMED_OUT' or 'CANCELED'.
    outcome TEXT NOT NULL,
    -- JSON text of {message, name?, stackTrace?}.
    error TEXT,
    -- When the next attempt may start, when the failure was retried.
    retry_at BIGINT,
    PRIMARY KEY (run_id, number)
);
-- The attempt a log line was written in (0: written before attempts were recorded).
ALTER TABLE run_logs ADD COLUMN attempt BIGINT NOT NULL DEFAULT 0;
