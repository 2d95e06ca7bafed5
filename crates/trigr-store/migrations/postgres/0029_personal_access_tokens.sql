-- Personal access tokens (`tr_pat_…`, `trigr keys pat`): operator credentials for the official
-- `trigger.dev` CLI's login calls, reaching every project. Kept like secret keys: the hash of
-- the token and the start that was shown, never the token; revoked, never deleted.
CREATE TABLE personal_access_tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    email TEXT,
    token_hash TEXT NOT NULL UNIQUE,
    prefix TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_used_at BIGINT,
    revoked_at BIGINT
);
-- The secret key minted for a token in one environment (`GET /api/v1/projects/{ref}/{env}`),
-- handed out again on every later call: an `api_keys` row of its own (`key_hash`), and the key
-- itself sealed with the server's encryption key, bound to the environment and the token.
CREATE TABLE pat_env_keys (
    pat_id TEXT NOT NULL,
    env_id TEXT NOT NULL,
    key_hash TEXT NOT NULL,
    sealed_key TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (pat_id, env_id)
);
-- A login of the `trigger.dev` CLI waiting for an operator (`trigger.dev login`): the hash of
-- its authorization code, its PKCE challenge, until when it may be approved and exchanged; the
-- hash of the approval code `trigr keys pat approve` printed, with the new token's name and
-- email; and the token made when the CLI exchanged it (once).
CREATE TABLE pat_logins (
    code_hash TEXT PRIMARY KEY,
    challenge TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    approval_hash TEXT,
    name TEXT,
    email TEXT,
    approved_at BIGINT,
    pat_id TEXT
);
