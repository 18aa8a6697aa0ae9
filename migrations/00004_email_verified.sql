-- +goose Up
-- Only a verified email is identity (README, "Only verified email is
-- identity"): users.email keeps the address Clerk shows, and this flag says
-- whether Clerk verified it. Invitations and `praxiom users … EMAIL` match
-- verified emails only.
ALTER TABLE users ADD COLUMN email_verified boolean NOT NULL DEFAULT false;

-- Rows written before this migration were stored without knowing Clerk's
-- verification status. They keep working as they did (verified) rather than
-- losing invitations and the administration commands at once; the next
-- user.updated of each user sets the real status.
UPDATE users SET email_verified = true WHERE deleted_at IS NULL AND email <> '';

-- Look-ups by email are look-ups by verified email now.
DROP INDEX users_email_idx;
CREATE INDEX users_verified_email_idx ON users (email) WHERE deleted_at IS NULL AND email_verified;

-- +goose Down
DROP INDEX users_verified_email_idx;
CREATE INDEX users_email_idx ON users (email) WHERE deleted_at IS NULL;
ALTER TABLE users DROP COLUMN email_verified;
