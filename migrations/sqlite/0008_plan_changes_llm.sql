-- A plan version made by "modify" remembers the change that was asked for.
ALTER TABLE plans ADD COLUMN change TEXT;

-- How each plan version was made: the routing decision (reason code, quotas, every attempt,
-- tokens, cost, latency) as JSON, never with an API key in it.
CREATE TABLE llm_decisions (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id   TEXT NOT NULL,
    plan_version INTEGER NOT NULL,
    at           TEXT NOT NULL,
    planner      TEXT NOT NULL,
    reason_code  TEXT NOT NULL,
    decision     TEXT NOT NULL
);
CREATE INDEX llm_decisions_by_request ON llm_decisions (request_id, plan_version);
CREATE INDEX llm_decisions_by_time ON llm_decisions (at);

-- Every call to a provider, for its budget: tokens and cost (in millionths of a USD).
CREATE TABLE llm_calls (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    provider    TEXT NOT NULL,
    at          TEXT NOT NULL,
    tokens      INTEGER NOT NULL,
    cost_micros INTEGER NOT NULL,
    outcome     TEXT NOT NULL
);
CREATE INDEX llm_calls_by_provider ON llm_calls (provider, at);
