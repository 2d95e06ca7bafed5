-- The key-value entries of an environment (`trigr_engine::kv`), in two spaces that never
-- meet: `cache` (the cache API, every entry with a time to live) and `metadata` (the
-- environment's metadata store, entries kept until deleted unless given a time to live).
-- The value is JSON text. An entry whose `expires_at` has come is gone for every read and
-- write at once; the timer loop deletes such rows later, in bounded batches.
CREATE TABLE env_kv (
    env_id TEXT NOT NULL,
    space TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    expires_at BIGINT,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (env_id, space, key)
);
CREATE INDEX env_kv_expiry ON env_kv (expires_at) WHERE expires_at IS NOT NULL;
