-- +goose Up
CREATE TABLE users (
    id                 uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    clerk_id           text        NOT NULL UNIQUE,
    email              text        NOT NULL DEFAULT '' CHECK (email = lower(email)),
    name               text        NOT NULL DEFAULT '',
    avatar_url         text,
    access_status      text        NOT NULL DEFAULT 'pending'
                                   CHECK (access_status IN ('pending', 'active', 'suspended')),
    has_product_access boolean     NOT NULL DEFAULT false,
    is_founder         boolean     NOT NULL DEFAULT false,
    is_admin           boolean     NOT NULL DEFAULT false,
    referral_code      text        NOT NULL UNIQUE
                                   CHECK (referral_code ~ '^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{8}$'),
    activated_at       timestamptz,
    -- Clerk's updated_at of the profile held here; orders unordered webhook deliveries.
    clerk_updated_at   timestamptz,
    -- Tombstone set by user.deleted: final, nothing clears it.
    deleted_at         timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX users_email_idx ON users (email) WHERE deleted_at IS NULL;

-- Svix message ids already applied; inserted in the same transaction as the change.
CREATE TABLE webhook_events (
    svix_id      text        PRIMARY KEY,
    event_type   text        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now()
);

-- +goose Down
DROP TABLE webhook_events;
DROP TABLE users;
