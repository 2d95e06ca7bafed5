-- The AI tool definitions of an environment (`trigr_engine::ai`): each makes one task callable
-- by a language model under a tool name unique in its environment. `parameters` is the JSON
-- Schema of the tool's arguments (the task's payload), `display` a JSON object of display
-- options; both are JSON text.
CREATE TABLE ai_tools (
    id TEXT PRIMARY KEY,
    env_id TEXT NOT NULL,
    name TEXT NOT NULL,
    description TEXT NOT NULL,
    task_id TEXT NOT NULL,
    parameters TEXT NOT NULL,
    display TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (env_id, name)
);
