-- +goose Up
-- Workspace API keys (api/openapi.yaml, "API keys"): a key belongs to one
-- workspace, not to the person who made it, and acts with its own role.
-- Only a SHA-256 of the key is kept; the request that uses a key finds it by
-- that hash in one indexed equality.
CREATE TABLE api_keys (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id    uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name            text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    -- The first 12 characters of the key, shown in lists.
    prefix          text        NOT NULL CHECK (char_length(prefix) = 12),
    key_hash        bytea       NOT NULL UNIQUE CHECK (octet_length(key_hash) = 32),
    role            text        NOT NULL CHECK (role IN ('admin', 'member')),
    read_only       boolean     NOT NULL DEFAULT false,
    created_by      uuid        REFERENCES users (id) ON DELETE SET NULL,
    -- The creator's name at the time, like an invitation's inviter.
    created_by_name text        NOT NULL DEFAULT '',
    created_at      timestamptz NOT NULL DEFAULT now(),
    expires_at      timestamptz,
    -- Written in batches, to within a minute.
    last_used_at    timestamptz,
    revoked_at      timestamptz
);

-- Live keys of a workspace, newest first (the list, the limit of 100).
CREATE INDEX api_keys_workspace_idx ON api_keys (workspace_id, created_at DESC, id DESC)
    WHERE revoked_at IS NULL;

-- +goose Down
DROP TABLE api_keys;
