-- The mollifier's buffer (trigr_engine::mollifier): triggers accepted during a burst, each
-- already holding its run id, waiting in their environment's FIFO (by seq) for the drainer
-- to create their runs. An entry is durable before its trigger is answered (the same group
-- commit as every write); it leaves the table once its run exists.
CREATE TABLE mollifier_entries (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    run_id TEXT NOT NULL UNIQUE,
    env_id TEXT NOT NULL,
    org_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    idempotency_key TEXT,
    request_key TEXT,
    -- The batch item it is (the batch's id; the index is in the body), if one.
    batch_id TEXT,
    -- The checked trigger, as JSON (trigr_engine::mollifier::entry).
    body TEXT NOT NULL,
    -- 'queued', or 'claimed' by a drainer (claimed_by) until claim_until.
    state TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    claimed_by TEXT,
    claim_until INTEGER,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX mollifier_entries_fifo ON mollifier_entries (env_id, seq);
CREATE INDEX mollifier_entries_idempotency ON mollifier_entries (env_id, task_id, idempotency_key)
    WHERE idempotency_key IS NOT NULL;
CREATE INDEX mollifier_entries_request_key ON mollifier_entries (env_id, request_key)
    WHERE request_key IS NOT NULL;
CREATE INDEX mollifier_entries_batch ON mollifier_entries (batch_id) WHERE batch_id IS NOT NULL;
CREATE INDEX mollifier_entries_expiry ON mollifier_entries (expires_at);

-- Overrides of the mollifier's settings for one environment ('env:<id>') or organization
-- ('org:<id>'): a JSON object {mode, threshold, holdMs}, any of them absent.
CREATE TABLE mollifier_settings (
    scope TEXT PRIMARY KEY,
    settings TEXT NOT NULL,
    updated_at INTEGER NOT NULL
);

-- The environments each server's trip evaluator holds tripped, and until when, published by
-- its drainer when they change (for `trigr mollifier status`).
CREATE TABLE mollifier_trips (
    server_id TEXT NOT NULL,
    env_id TEXT NOT NULL,
    tripped_until INTEGER NOT NULL,
    PRIMARY KEY (server_id, env_id)
);
