-- Keys can be listed, rotated and revoked (`trigr keys`): each keeps the start of the key
-- as it was shown (never enough to use it), when it stops being accepted (the end of a
-- rotated key's grace period) and when it was revoked. Project names are unique, so
-- `trigr projects` and `trigr keys --project NAME` name one project.
ALTER TABLE api_keys ADD COLUMN prefix TEXT;
ALTER TABLE api_keys ADD COLUMN expires_at BIGINT;
ALTER TABLE api_keys ADD COLUMN revoked_at BIGINT;
CREATE UNIQUE INDEX projects_name ON projects (name);
