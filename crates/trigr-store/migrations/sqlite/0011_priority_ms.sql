-- A run's priority is kept in milliseconds, so a fractional priority in seconds (0.5) keeps
-- its head start when a retry or a reschedule queues the run again. Existing rows held whole
-- seconds.
ALTER TABLE runs RENAME COLUMN priority TO priority_ms;
UPDATE runs SET priority_ms = priority_ms * 1000 WHERE priority_ms <> 0;
