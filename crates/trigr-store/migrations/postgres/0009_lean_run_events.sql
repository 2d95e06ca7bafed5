-- Pruning walks run events from the oldest number (times follow numbers: the sequencer
-- numbers in commit order), so the index on `created_at` is no longer kept up on every
-- numbered event.
DROP INDEX IF EXISTS run_events_created;
