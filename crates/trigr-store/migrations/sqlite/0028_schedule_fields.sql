-- What a schedule gives each run it fires: the user's payload members (a JSON object's text,
-- merged into the scheduled payload), the run's metadata (a JSON object's text), its machine
-- preset, and its tags (a JSON array's text, distinct and sorted). NULL / '[]' when not set.
ALTER TABLE schedules ADD COLUMN payload TEXT;
ALTER TABLE schedules ADD COLUMN metadata TEXT;
ALTER TABLE schedules ADD COLUMN machine TEXT;
ALTER TABLE schedules ADD COLUMN tags TEXT NOT NULL DEFAULT '[]';

-- The tags of a schedule again, one a row, for `GET /api/v1/schedules?tag=`.
CREATE TABLE schedule_tags (
    schedule_id TEXT NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (schedule_id, tag)
);
CREATE INDEX schedule_tags_tag ON schedule_tags (tag, schedule_id);
