-- A worker that starts again with the same code finds its deployment by the code's hash.
ALTER TABLE deployments ADD COLUMN content_hash TEXT;
CREATE INDEX deployments_content_hash ON deployments (env_id, content_hash) WHERE content_hash IS NOT NULL;
