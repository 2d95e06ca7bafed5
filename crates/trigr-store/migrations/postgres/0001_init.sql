-- trigr schema, version 1 (PostgreSQL). Times are epoch milliseconds.
CREATE TABLE organizations (
    id TEXT PRIMARY KEY,
    slug TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE projects (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL REFERENCES organizations(id),
    ref TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

CREATE TABLE environments (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    slug TEXT NOT NULL,
    kind TEXT NOT NULL,
    concurrency_limit BIGINT NOT NULL,
    running BIGINT NOT NULL DEFAULT 0,
    current_version TEXT,
    -- Signs the public tokens and URLs the server hands out.
    signing_secret TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    UNIQUE (project_id, slug)
);

CREATE TABLE api_keys (
    key_hash TEXT PRIMARY KEY,
    env_id TEXT NOT NULL REFERENCES environments(id),
    created_at BIGINT NOT NULL
);

CREATE TABLE deployments (
    id TEXT PRIMARY KEY,
    env_id TEXT NOT NULL REFERENCES environments(id),
    version TEXT NOT NULL,
    day TEXT NOT NULL,
    manifest TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    promoted_at BIGINT,
    UNIQUE (env_id, version)
);
CREATE INDEX deployments_day ON deployments (env_id, day);

CREATE TABLE queues (
    id TEXT PRIMARY KEY,
    env_id TEXT NOT NULL REFERENCES environments(id),
    name TEXT NOT NULL,
    kind TEXT NOT NULL,
    base_limit BIGINT,
    override_limit BIGINT,
    overridden_at BIGINT,
    paused BOOLEAN NOT NULL DEFAULT FALSE,
    served_seq BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    UNIQUE (env_id, name)
);

-- Runs holding a slot, per queue and concurrency key ('' = no key).
CREATE TABLE concurrency_slots (
    queue_id TEXT NOT NULL,
    ckey TEXT NOT NULL,
    running BIGINT NOT NULL,
    PRIMARY KEY (queue_id, ckey)
);

CREATE TABLE batches (
    id TEXT PRIMARY KEY,
    env_id TEXT NOT NULL REFERENCES environments(id),
    run_count BIGINT NOT NULL,
    idempotency_key TEXT,
    idempotency_key_user TEXT,
    sealed BOOLEAN NOT NULL DEFAULT FALSE,
    items_accepted BIGINT NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
-- Which run each item of a batch became (an idempotency key may name an older run).
CREATE TABLE batch_items (
    batch_id TEXT NOT NULL,
    idx BIGINT NOT NULL,
    run_id TEXT NOT NULL,
    PRIMARY KEY (batch_id, idx)
);

CREATE UNIQUE INDEX batches_idempotency ON batches (env_id, idempotency_key) WHERE idempotency_key IS NOT NULL;

CREATE TABLE runs (
    seq BIGSERIAL PRIMARY KEY,
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
    idempotency_expires_at BIGINT,
    request_key TEXT,
    priority BIGINT NOT NULL DEFAULT 0,
    queue_ts BIGINT NOT NULL,
    available_at BIGINT NOT NULL,
    delay_until BIGINT,
    ttl TEXT,
    ttl_expires_at BIGINT,
    max_attempts BIGINT,
    max_duration BIGINT,
    machine TEXT,
    attempt BIGINT NOT NULL DEFAULT 0,
    lease TEXT,
    lease_expires_at BIGINT,
    timeout_at BIGINT,
    output TEXT,
    output_type TEXT,
    error TEXT,
    parent_run_id TEXT,
    root_run_id TEXT,
    depth BIGINT NOT NULL DEFAULT 0,
    batch_id TEXT,
    batch_index BIGINT,
    trigger_function TEXT NOT NULL DEFAULT 'trigger',
    is_test BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    started_at BIGINT,
    finished_at BIGINT
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
    run_seq BIGINT NOT NULL,
    PRIMARY KEY (tag, run_seq)
);

-- Payloads the SDK uploads before triggering (>= 128 KiB), by storage path.
CREATE TABLE packets (
    env_id TEXT NOT NULL,
    path TEXT NOT NULL,
    content_type TEXT NOT NULL,
    data BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (env_id, path)
);
