-- +goose Up
CREATE TABLE workspaces (
    id                  uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    name                text        NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    product_name        text        CHECK (char_length(product_name) <= 2000),
    product_description text        CHECK (char_length(product_description) <= 2000),
    target_users        text        CHECK (char_length(target_users) <= 2000),
    current_stage       text        CHECK (char_length(current_stage) <= 2000),
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workspace_members (
    workspace_id uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role         text        NOT NULL CHECK (role IN ('owner', 'admin', 'member')),
    joined_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (workspace_id, user_id)
);

-- Lookups by user (their workspace list, the user.deleted hand-off).
CREATE INDEX workspace_members_user_idx ON workspace_members (user_id, workspace_id);

CREATE TABLE subscriptions (
    workspace_id  uuid        PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    plan          text        NOT NULL DEFAULT 'trial' CHECK (plan IN ('trial', 'pro', 'growth', 'power')),
    status        text        NOT NULL DEFAULT 'trialing'
                              CHECK (status IN ('trialing', 'active', 'past_due', 'canceled')),
    trial_ends_at timestamptz,
    created_at    timestamptz NOT NULL DEFAULT now(),
    updated_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE workspace_settings (
    workspace_id               uuid        PRIMARY KEY REFERENCES workspaces (id) ON DELETE CASCADE,
    overnight_research_enabled boolean     NOT NULL DEFAULT false,
    morning_digest_enabled     boolean     NOT NULL DEFAULT false,
    digest_timezone            text        NOT NULL DEFAULT 'UTC',
    updated_at                 timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE invitations (
    id              uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    workspace_id    uuid        NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    invited_email   text        NOT NULL CHECK (invited_email = lower(invited_email)),
    role            text        NOT NULL CHECK (role IN ('admin', 'member')),
    -- Looked up by the whole value in an indexed equality, never by prefix.
    token           text        NOT NULL UNIQUE,
    status          text        NOT NULL DEFAULT 'pending'
                                CHECK (status IN ('pending', 'accepted', 'revoked', 'expired')),
    invited_by      uuid        REFERENCES users (id) ON DELETE SET NULL,
    invited_by_name text        NOT NULL DEFAULT '',
    expires_at      timestamptz NOT NULL,
    accepted_by     uuid        REFERENCES users (id) ON DELETE SET NULL,
    accepted_at     timestamptz,
    created_at      timestamptz NOT NULL DEFAULT now()
);

-- At most one pending invitation per email and workspace.
CREATE UNIQUE INDEX invitations_pending_email_idx
    ON invitations (workspace_id, invited_email) WHERE status = 'pending';
CREATE INDEX invitations_workspace_idx ON invitations (workspace_id, created_at DESC);

CREATE TABLE access_codes (
    id               uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    code             text        NOT NULL UNIQUE CHECK (code = upper(code)),
    max_redemptions  integer     NOT NULL DEFAULT 1 CHECK (max_redemptions BETWEEN 1 AND 10000),
    redemption_count integer     NOT NULL DEFAULT 0 CHECK (redemption_count >= 0),
    expires_at       timestamptz,
    revoked_at       timestamptz,
    metadata         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    created_by       uuid        REFERENCES users (id) ON DELETE SET NULL,
    created_at       timestamptz NOT NULL DEFAULT now(),
    CHECK (redemption_count <= max_redemptions)
);

CREATE INDEX access_codes_created_idx ON access_codes (created_at DESC, id);

CREATE TABLE access_code_redemptions (
    access_code_id uuid        NOT NULL REFERENCES access_codes (id) ON DELETE CASCADE,
    user_id        uuid        NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    redeemed_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (access_code_id, user_id)
);

-- +goose Down
DROP TABLE access_code_redemptions;
DROP TABLE access_codes;
DROP TABLE invitations;
DROP TABLE workspace_settings;
DROP TABLE subscriptions;
DROP TABLE workspace_members;
DROP TABLE workspaces;
