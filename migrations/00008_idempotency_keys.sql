-- +goose Up
-- Idempotency-Key (api/openapi.yaml, "Idempotent POSTs"): the first
-- request's answer under its caller and key, kept 24 hours. A row whose
-- status is null is a request still running, claimed until locked_until.
CREATE TABLE idempotency_keys (
    -- "user:<id>" or "key:<id>": keys of different callers never collide.
    principal    text        NOT NULL,
    key          text        NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    method       text        NOT NULL,
    path         text        NOT NULL,
    body_sha256  bytea       NOT NULL CHECK (octet_length(body_sha256) = 32),
    status       integer,
    content_type text,
    body         bytea,
    locked_until timestamptz,
    -- Which request holds the claim: only it may complete or release it.
    claim        uuid,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (principal, key)
);

CREATE INDEX idempotency_keys_created_idx ON idempotency_keys (created_at);

-- +goose Down
DROP TABLE idempotency_keys;
