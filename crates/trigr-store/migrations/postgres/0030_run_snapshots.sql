-- The snapshot chain of a run that a Trigger.dev CLI worker (`trigger.dev dev`) executes: one
-- row per state the worker reads (queued, pending execution, executing, executing with
-- waitpoints, finished), appended in the transaction of the change it records and never
-- updated. `lease` is the attempt's lease when the snapshot belongs to an attempt;
-- `waitpoints` the JSON array of the ids of the waitpoints the snapshot hands back completed.
CREATE TABLE run_snapshots (
    run_id TEXT NOT NULL,
    seq BIGINT NOT NULL,
    id TEXT NOT NULL,
    status TEXT NOT NULL,
    lease TEXT,
    attempt BIGINT NOT NULL,
    waitpoints TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    PRIMARY KEY (run_id, seq)
);

-- The wait a batch's parent holds on it (`batchTriggerAndWait` of a Trigger.dev CLI task):
-- found by the batch when its items come.
CREATE INDEX waitpoints_batch ON waitpoints (batch_id) WHERE batch_id IS NOT NULL;
