-- Who decided what about a request, and on which plan version: approvals, rejections and
-- aborts, in order. Append-only; the audit trail has a commit for each.
CREATE TABLE decisions (
    id           BIGSERIAL PRIMARY KEY,
    request_id   TEXT NOT NULL,
    kind         TEXT NOT NULL,
    plan_version BIGINT NOT NULL,
    actor        TEXT NOT NULL,
    reason       TEXT,
    at           TEXT NOT NULL
);
CREATE INDEX decisions_by_request ON decisions (request_id, id);
