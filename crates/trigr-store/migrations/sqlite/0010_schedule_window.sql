-- Optional jitter window of a schedule ('30m', '2h', '30%'): each tick fires at a
-- deterministic offset within it after its nominal time. NULL fires each tick at its nominal
-- time. next_run_at holds the effective time (nominal plus offset) of the next tick.
ALTER TABLE schedules ADD COLUMN tick_window TEXT;
