-- Debounce keys (trigger option `debounce`): which run a key of a task in an environment
-- coalesces into. A trigger with the key locks its row; while the run it names is still
-- DELAYED the trigger pushes that run later instead of creating one, otherwise the row is
-- pointed at the new run. The primary key makes two servers claiming a new key agree on one
-- run. `created_at` is when the row last named a new run (the first trigger of its window).
CREATE TABLE debounce_keys (
    env_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    debounce_key TEXT NOT NULL,
    run_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (env_id, task_id, debounce_key)
);
-- Retention removes the rows of runs it deletes.
CREATE INDEX debounce_keys_run ON debounce_keys (run_id);
