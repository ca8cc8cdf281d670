-- What real runs changed on each host (docs/revert.md): one row per change, in the order it
-- happened, with the exact previous and new content of text files kept for undo (never a
-- no_log task's, never content that holds a secret). The JSON in `change` has no content.
CREATE TABLE task_changes (
    task_id        TEXT NOT NULL REFERENCES tasks (task_id),
    seq            BIGINT NOT NULL,
    request_id     TEXT NOT NULL,
    host           TEXT NOT NULL,
    kind           TEXT NOT NULL,
    target         TEXT NOT NULL,
    reversible     BIGINT NOT NULL,
    change         TEXT NOT NULL,
    before_content TEXT,
    after_content  TEXT,
    created_at     TEXT NOT NULL,
    PRIMARY KEY (task_id, seq)
);
CREATE INDEX task_changes_by_request ON task_changes (request_id, task_id, seq);
-- "what changed on this file": every run that touched it, in time order.
CREATE INDEX task_changes_by_target ON task_changes (host, target, created_at);

-- A request that undoes another: which one, and which of its tasks.
CREATE TABLE request_reverts (
    request_id TEXT PRIMARY KEY REFERENCES requests (id),
    reverts    TEXT NOT NULL REFERENCES requests (id),
    tasks      TEXT NOT NULL,
    created_at TEXT NOT NULL
);
