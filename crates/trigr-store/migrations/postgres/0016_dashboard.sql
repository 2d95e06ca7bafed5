-- The dashboard's sign-ins (trigr_server's dashboard): sessions and one-time sign-in links,
-- each kept only as the SHA-256 of its secret, so that any server of a cluster honours them
-- and a copy of the database signs nobody in.

-- A signed-in browser: the environments its sign-in grants (ids, comma-separated) and when
-- it ends.
CREATE TABLE dashboard_sessions (
    token_hash TEXT PRIMARY KEY,
    env_ids TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);

-- A link printed by `trigr dashboard link`: works once (`used_at`), until it expires.
CREATE TABLE dashboard_links (
    token_hash TEXT PRIMARY KEY,
    env_ids TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at BIGINT
);
CREATE INDEX dashboard_links_expiry ON dashboard_links (expires_at);
