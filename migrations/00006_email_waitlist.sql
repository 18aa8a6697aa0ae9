-- +goose Up
-- The waitlist and the email outbox (README, "Email" and "Waitlist").

-- People waiting for an access code. position = 1 + the waiting entries with a
-- smaller seq (the order they joined in).
CREATE TABLE waitlist_entries (
    id             uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    seq            bigint      GENERATED ALWAYS AS IDENTITY UNIQUE,
    email          text        NOT NULL UNIQUE
                               CHECK (email = lower(email) AND char_length(email) BETWEEN 3 AND 320),
    name           text        CHECK (char_length(name) BETWEEN 1 AND 100),
    source         text        CHECK (char_length(source) BETWEEN 1 AND 50),
    -- The user whose referral code the entry named, if any.
    referred_by    uuid        REFERENCES users (id) ON DELETE SET NULL,
    status         text        NOT NULL DEFAULT 'waiting' CHECK (status IN ('waiting', 'approved')),
    -- The single-use code the approval generated.
    access_code_id uuid        REFERENCES access_codes (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    approved_at    timestamptz,
    CHECK ((status = 'approved') = (approved_at IS NOT NULL))
);

CREATE INDEX waitlist_entries_waiting_idx ON waitlist_entries (seq) WHERE status = 'waiting';
CREATE INDEX waitlist_entries_approved_idx ON waitlist_entries (seq) WHERE status = 'approved';
CREATE INDEX waitlist_entries_referred_by_idx ON waitlist_entries (referred_by) WHERE referred_by IS NOT NULL;

-- How many waitlist entries named the user's referral code, kept on the user
-- row (like users.plan, migration 00003) so that GET /api/auth/me answers it
-- from the one query that authenticates the request.
ALTER TABLE users ADD COLUMN referral_count integer NOT NULL DEFAULT 0 CHECK (referral_count >= 0);

-- +goose StatementBegin
CREATE FUNCTION waitlist_referrals_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP IN ('UPDATE', 'DELETE') AND OLD.referred_by IS NOT NULL THEN
        UPDATE users SET referral_count = referral_count - 1 WHERE id = OLD.referred_by;
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') AND NEW.referred_by IS NOT NULL THEN
        UPDATE users SET referral_count = referral_count + 1 WHERE id = NEW.referred_by;
    END IF;
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER waitlist_referral_insert AFTER INSERT ON waitlist_entries
    FOR EACH ROW WHEN (NEW.referred_by IS NOT NULL) EXECUTE FUNCTION waitlist_referrals_changed();
CREATE TRIGGER waitlist_referral_delete AFTER DELETE ON waitlist_entries
    FOR EACH ROW WHEN (OLD.referred_by IS NOT NULL) EXECUTE FUNCTION waitlist_referrals_changed();
CREATE TRIGGER waitlist_referral_update AFTER UPDATE OF referred_by ON waitlist_entries
    FOR EACH ROW WHEN (OLD.referred_by IS DISTINCT FROM NEW.referred_by) EXECUTE FUNCTION waitlist_referrals_changed();

-- Every email the service sends. A row is written in the same transaction as
-- the change that causes it, together with the River job that sends it (the
-- transactional outbox); its id fixes the email's Message-ID, so a send
-- repeated after a crash carries the same one. status: queued until the
-- worker sends it (sent), gives up after 24 hours of retries (failed), or
-- finds it no longer applies (skipped: the invitation stopped being pending,
-- or a resend superseded it).
CREATE TABLE emails (
    id                uuid        PRIMARY KEY DEFAULT gen_random_uuid(),
    kind              text        NOT NULL CHECK (kind IN ('invitation', 'waitlist_approval')),
    invitation_id     uuid        REFERENCES invitations (id) ON DELETE CASCADE,
    waitlist_entry_id uuid        REFERENCES waitlist_entries (id) ON DELETE CASCADE,
    status            text        NOT NULL DEFAULT 'queued'
                                  CHECK (status IN ('queued', 'sent', 'failed', 'skipped')),
    -- The last SMTP error, for operators (never shown through the API).
    last_error        text        CHECK (char_length(last_error) <= 1000),
    created_at        timestamptz NOT NULL DEFAULT now(),
    sent_at           timestamptz,
    CHECK ((kind = 'invitation') = (invitation_id IS NOT NULL)),
    CHECK ((kind = 'waitlist_approval') = (waitlist_entry_id IS NOT NULL))
);

CREATE INDEX emails_invitation_idx ON emails (invitation_id) WHERE invitation_id IS NOT NULL;
CREATE INDEX emails_waitlist_entry_idx ON emails (waitlist_entry_id) WHERE waitlist_entry_id IS NOT NULL;

-- An invitation's latest email (its email_status is that email's status;
-- none: disabled) and when an email was last asked for, by the creation or a
-- resend (at most one a minute, decided here so that it holds across
-- instances).
ALTER TABLE invitations
    ADD COLUMN email_id uuid REFERENCES emails (id) ON DELETE SET NULL,
    ADD COLUMN email_requested_at timestamptz;

-- +goose Down
ALTER TABLE invitations DROP COLUMN email_requested_at, DROP COLUMN email_id;
DROP TABLE emails;
DROP TRIGGER waitlist_referral_update ON waitlist_entries;
DROP TRIGGER waitlist_referral_delete ON waitlist_entries;
DROP TRIGGER waitlist_referral_insert ON waitlist_entries;
DROP FUNCTION waitlist_referrals_changed();
ALTER TABLE users DROP COLUMN referral_count;
DROP TABLE waitlist_entries;
