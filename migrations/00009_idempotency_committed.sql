-- +goose Up
-- A claim whose change has committed (marked in the change's own
-- transaction) is never released nor taken over: should its answer fail to
-- be kept, or its instance die before keeping it, a retry gets 409 until the
-- key expires instead of making the change a second time.
ALTER TABLE idempotency_keys ADD COLUMN committed boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE idempotency_keys DROP COLUMN committed;
