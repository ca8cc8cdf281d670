-- The audit trail's durable queue and ledger. Every entry is stored here first (redacted, with
-- the SHA-256 of the exact bytes to be committed); a single writer then commits it to the git
-- repository and records the commit. Entries whose `commit_id` is null are still queued (the
-- repository was unavailable); `chiffon audit verify` compares the repository with this table.
CREATE TABLE audit_entries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    kind        TEXT NOT NULL,
    subject_id  TEXT NOT NULL,
    file        TEXT NOT NULL UNIQUE,
    message     TEXT NOT NULL,
    body        TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    commit_id   TEXT,
    written_at  TEXT,
    attempts    INTEGER NOT NULL DEFAULT 0,
    last_error  TEXT
);
CREATE INDEX audit_entries_by_subject ON audit_entries (subject_id, id);
CREATE INDEX audit_entries_queued ON audit_entries (id) WHERE commit_id IS NULL;

-- The audit queries ("failures in the last week", "all changes to service X", a time window)
-- read a page of tasks in (created_at, task_id) order: these indexes serve the filter and the
-- order together, so a page costs the same with ten tasks or ten million.
DROP INDEX tasks_by_status_time;
DROP INDEX tasks_by_service_time;
DROP INDEX tasks_by_time;
CREATE INDEX tasks_by_status_time ON tasks (status, created_at, task_id);
CREATE INDEX tasks_by_service_time ON tasks (service_touched, created_at, task_id);
CREATE INDEX tasks_by_time ON tasks (created_at, task_id);
