-- Check-mode previews of a plan version: what each step would change, for a person to read
-- before approving. The latest one per plan version is kept.
CREATE TABLE plan_previews (
    request_id   TEXT NOT NULL,
    plan_version INTEGER NOT NULL,
    preview      TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    PRIMARY KEY (request_id, plan_version)
);
