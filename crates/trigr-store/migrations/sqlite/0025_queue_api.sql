-- Queues made through the queues API carry `source = 'api'`, a description and tags; queues
-- made by triggers and deployments are `code` and keep their name for as long as they exist.
ALTER TABLE queues ADD COLUMN description TEXT;
ALTER TABLE queues ADD COLUMN source TEXT NOT NULL DEFAULT 'code';

-- The tags of a queue, for `GET /api/v1/queues?tag=`.
CREATE TABLE queue_tags (
    queue_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (queue_id, tag)
);
CREATE INDEX queue_tags_tag ON queue_tags (tag, queue_id);
