-- +goose Up
-- The audit log (api/openapi.yaml, "Audit log"): every change to who can do
-- what, written in the same transaction as the change. workspace_id has no
-- foreign key: the events of a deleted workspace stay for platform admins.
CREATE TABLE audit_events (
    id           uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    -- The order of the log and of its keyset cursor.
    seq          bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    action       text        NOT NULL,
    actor_type   text        NOT NULL CHECK (actor_type IN ('user', 'api_key', 'system', 'cli')),
    actor_id     uuid,
    actor_name   text        NOT NULL DEFAULT '',
    impersonator text,
    workspace_id uuid,
    target_type  text        NOT NULL CHECK (target_type IN
                     ('workspace', 'user', 'invitation', 'api_key', 'access_code', 'waitlist_entry')),
    target_id    text        NOT NULL,
    metadata     jsonb       NOT NULL DEFAULT '{}'::jsonb,
    request_id   text,
    ip           text,
    created_at   timestamptz NOT NULL DEFAULT now()
);

-- A workspace's log, newest first, and by action.
CREATE INDEX audit_events_workspace_idx ON audit_events (workspace_id, seq DESC);
CREATE INDEX audit_events_workspace_action_idx ON audit_events (workspace_id, action, seq DESC);
-- The platform's log by action, and retention pruning.
CREATE INDEX audit_events_action_idx ON audit_events (action, seq DESC);
CREATE INDEX audit_events_created_idx ON audit_events (created_at);

-- +goose Down
DROP TABLE audit_events;
