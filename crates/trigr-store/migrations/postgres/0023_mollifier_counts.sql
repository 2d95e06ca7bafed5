-- The trip counts the servers of one database share when no Redis is configured: each
-- server adds what it counted in an environment's one-second window to its own row, and
-- reads back the window's total over every server.
CREATE TABLE mollifier_counts (
    env_id TEXT NOT NULL,
    window_start BIGINT NOT NULL,
    server_id TEXT NOT NULL,
    count BIGINT NOT NULL,
    PRIMARY KEY (env_id, window_start, server_id)
);
CREATE INDEX mollifier_counts_window ON mollifier_counts (window_start);
