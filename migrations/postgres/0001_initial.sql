-- Requests, their plan versions, the tasks that execute plan steps, and the tasks' live events.
-- Timestamps are fixed-width RFC 3339 text in UTC (as on SQLite), so both back-ends share every
-- query and they sort and compare as strings; JSON documents are text.

CREATE TABLE requests (
    id           TEXT PRIMARY KEY,
    text         TEXT NOT NULL,
    status       TEXT NOT NULL,
    high_value   BIGINT NOT NULL DEFAULT 0,
    plan_version BIGINT NOT NULL,
    reason       TEXT,
    created_at   TEXT NOT NULL,
    updated_at   TEXT NOT NULL
);
CREATE INDEX requests_by_status ON requests (status, created_at);

CREATE TABLE plans (
    request_id TEXT NOT NULL REFERENCES requests (id),
    version    BIGINT NOT NULL,
    plan       TEXT NOT NULL,
    created_at TEXT NOT NULL,
    PRIMARY KEY (request_id, version)
);

CREATE TABLE tasks (
    task_id                   TEXT PRIMARY KEY,
    request_id                TEXT NOT NULL REFERENCES requests (id),
    step_id                   TEXT NOT NULL,
    plan_version              BIGINT NOT NULL,
    title                     TEXT NOT NULL,
    status                    TEXT NOT NULL,
    outcome                   TEXT,
    resource_usage            TEXT NOT NULL DEFAULT '{}',
    service_touched           TEXT,
    agent_id                  TEXT,
    playbook                  TEXT,
    error                     TEXT,
    resource_state_at_failure TEXT,
    suggestions               TEXT NOT NULL DEFAULT '[]',
    audit_commit              TEXT,
    created_at                TEXT NOT NULL,
    updated_at                TEXT NOT NULL,
    started_at                TEXT,
    finished_at               TEXT
);
-- "failures in the last week"
CREATE INDEX tasks_by_status_time ON tasks (status, created_at);
-- "all changes to service X"
CREATE INDEX tasks_by_service_time ON tasks (service_touched, created_at);
CREATE INDEX tasks_by_request ON tasks (request_id);
CREATE INDEX tasks_by_time ON tasks (created_at);

CREATE TABLE task_events (
    task_id TEXT NOT NULL REFERENCES tasks (task_id),
    seq     BIGINT NOT NULL,
    at      TEXT NOT NULL,
    event   TEXT NOT NULL,
    PRIMARY KEY (task_id, seq)
);
