-- Free-form notes on a task, for people and a future post-mortem agent. Append-only.
CREATE TABLE task_annotations (
    id         BIGSERIAL PRIMARY KEY,
    task_id    TEXT NOT NULL,
    author     TEXT NOT NULL,
    text       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX task_annotations_by_task ON task_annotations (task_id, id);
