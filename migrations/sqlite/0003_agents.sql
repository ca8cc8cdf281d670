-- The agent registry's last known state (an orchestrator restart gives each a fresh window
-- from it), every agent status change, and the dispatch queue's pauses and resumes.
CREATE TABLE agents (
    agent_id          TEXT PRIMARY KEY,
    agent_type        TEXT NOT NULL,
    host              TEXT NOT NULL,
    version           TEXT NOT NULL,
    boot_id           TEXT NOT NULL,
    status            TEXT NOT NULL,
    status_reason     TEXT NOT NULL,
    status_since      TEXT NOT NULL,
    last_heartbeat_at TEXT
);
CREATE TABLE agent_events (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    agent_id    TEXT NOT NULL,
    from_status TEXT,
    to_status   TEXT NOT NULL,
    reason      TEXT NOT NULL,
    at          TEXT NOT NULL
);
CREATE INDEX agent_events_by_agent ON agent_events (agent_id, id);
CREATE TABLE queue_events (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    kind         TEXT NOT NULL,
    reason       TEXT NOT NULL,
    at           TEXT NOT NULL,
    audit_commit TEXT
);
