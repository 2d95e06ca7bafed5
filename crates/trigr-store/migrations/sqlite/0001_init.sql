-- trigr schema, version 1 (SQLite). Times are epoch milliseconds.
CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    ref TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at INTEGER NOT NULL
);

CREATE TABLE environments (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    slug TEXT NOT NULL,
    kind TEXT NOT NULL,
    concurrency_limit INTEGER NOT NULL,
    running INTEGER NOT NULL DEFAULT 0,
    current_version TEXT,
    -- Signs the public tokens and URLs the server hands out.
    signing_secret TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    UNIQUE (project_id, slug)
);

CREATE TABLE api_keys (
    key_hash TEXT PRIMARY KEY,
    env_id TEXT NOT NULL REFERENCES environments(id),
    created_at INTEGER NOT NULL
);

CREATE TABLE deployments (
    id TEXT PRIMARY KEY,
    env_id TEXT NOT NULL REFERENCES environments(id),
    version TEXT NOT NULL,
    day TEXT NOT NULL,
    manifest TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    promoted_at INTEGER,
    UNIQUE (env_id, version)
);
CREATE INDEX deployments_day ON deployments (env_id, day);

CREATE TABLE queues (
    id TEXT PRIMARY KEY,
    env_id TEXT NOT NULL REFERENCES environments(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    base_limit INTEGER,
    override_limit INTEGER,
    overridden_at INTEGER,
    paused INTEGER NOT NULL DEFAULT 0,
    served_seq INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    UNIQUE (env_id, name)
);

-- Runs holding a slot, per queue and concurrency key ('' = no key).
CREATE TABLE concurrency_slots (
    queue_id TEXT NOT NULL,
    ckey TEXT NOT NULL,
    running INTEGER NOT NULL,
    PRIMARY KEY (queue_id, ckey)
) WITHOUT ROWID;

CREATE TABLE batches (
    id TEXT PRIMARY KEY,
    env_id TEXT NOT NULL REFERENCES environments(id),
    run_count INTEGER NOT NULL,
    idempotency_key TEXT,
    idempotency_key_user TEXT,
    sealed INTEGER NOT NULL DEFAULT 0,
    items_accepted INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
-- Which run each item of a batch became (an idempotency key may name an older run).
CREATE TABLE batch_items (
    batch_id TEXT NOT NULL,
    idx INTEGER NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (batch_id, idx)
) WITHOUT ROWID;

CREATE UNIQUE INDEX batches_idempotency ON batches (env_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE runs (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    env_id TEXT NOT NULL,
    task_id TEXT NOT NULL,
    queue_id TEXT NOT NULL,
    queue_name TEXT NOT NULL,
    ckey TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL,
    version TEXT,
    payload TEXT,
    payload_type TEXT NOT NULL,
    metadata TEXT,
    metadata_type TEXT NOT NULL DEFAULT 'application/json',
    tags TEXT NOT NULL DEFAULT '[]',
    idempotency_key TEXT,
    idempotency_key_user TEXT,
    idempotency_scope TEXT,
    idempotency_expires_at INTEGER,
    request_key TEXT,
    priority INTEGER NOT NULL DEFAULT 0,
    queue_ts INTEGER NOT NULL,
    available_at INTEGER NOT NULL,
    delay_until INTEGER,
    ttl TEXT,
    ttl_expires_at INTEGER,
    max_attempts INTEGER,
    max_duration INTEGER,
    machine TEXT,
    attempt INTEGER NOT NULL DEFAULT 0,
    lease TEXT,
    lease_expires_at INTEGER,
    timeout_at INTEGER,
    output TEXT,
    output_type TEXT,
    error TEXT,
    parent_run_id TEXT,
    root_run_id TEXT,
    depth INTEGER NOT NULL DEFAULT 0,
    batch_id TEXT,
    batch_index INTEGER,
    trigger_function TEXT NOT NULL DEFAULT 'trigger',
    is_test INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    started_at INTEGER,
    finished_at INTEGER
);
CREATE INDEX runs_env_seq ON runs (env_id, seq);
CREATE INDEX runs_ready ON runs (queue_id, version, queue_ts) WHERE status = 'QUEUED';
CREATE INDEX runs_delayed ON runs (available_at) WHERE status = 'DELAYED';
CREATE INDEX runs_ttl ON runs (ttl_expires_at) WHERE ttl_expires_at IS NOT NULL;
CREATE INDEX runs_lease ON runs (lease_expires_at) WHERE lease_expires_at IS NOT NULL;
CREATE INDEX runs_timeout ON runs (timeout_at) WHERE timeout_at IS NOT NULL;
CREATE INDEX runs_unlocked ON runs (env_id) WHERE version IS NULL;
CREATE INDEX runs_parent ON runs (parent_run_id) WHERE parent_run_id IS NOT NULL;
CREATE UNIQUE INDEX runs_batch ON runs (batch_id, batch_index) WHERE batch_id IS NOT NULL;
CREATE UNIQUE INDEX runs_idempotency ON runs (env_id, task_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE UNIQUE INDEX runs_request_key ON runs (env_id, request_key) WHERE request_key IS NOT NULL;

CREATE TABLE run_tags (
    tag TEXT NOT NULL,
    run_seq INTEGER NOT NULL,
    PRIMARY KEY (tag, run_seq)
) WITHOUT ROWID;

-- Payloads the SDK uploads before triggering (>= 128 KiB), by storage path.
CREATE TABLE packets (
    env_id TEXT NOT NULL,
    path TEXT NOT NULL,
    content_type TEXT NOT NULL,
    data BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (env_id, path)
) WITHOUT ROWID;
