-- The environment variables of an environment (`trigr_engine::env_vars`). `value` is the
-- sealed value, never the plain one: `v1:` and the hex of a random 12-byte nonce followed by
-- the AES-256-GCM ciphertext, whose associated data names the environment and the variable,
-- so a value copied to another row fails to open. `is_secret` (0 or 1) redacts the value in
-- list and retrieve answers.
CREATE TABLE env_vars (
    env_id TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL,
    is_secret BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    PRIMARY KEY (env_id, name)
);
