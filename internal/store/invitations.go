package store

import (
	"context"
	"errors"
	"net/mail"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/randcode"
)

// Invitation statuses. InvitationExpired is also what a pending invitation
// past its expires_at reads as: expiry is applied when read.
const (
	InvitationPending  = "pending"
	InvitationAccepted = "accepted"
	InvitationRevoked  = "revoked"
	InvitationExpired  = "expired"
)

// InvitationTTL is how long a new invitation stays valid (api/openapi.yaml,
// createInvitation); the
// insert in CreateInvitation spells it in SQL.
const InvitationTTL = 7 * 24 * time.Hour

// invitationTokenBytes is the entropy of an invitation token (at least 32
// random bytes: api/openapi.yaml, Invitation.token).
const invitationTokenBytes = 32

// Invitation is a row of invitations with its status as read now.
type Invitation struct {
	ID          uuid.UUID
	WorkspaceID uuid.UUID
	// WorkspaceName is filled by InvitationByToken only.
	WorkspaceName string
	InvitedEmail  string
	Role          string
	// Status is pending, accepted, revoked or expired; a pending invitation
	// past ExpiresAt reads as expired.
	Status        string
	Token         string
	InvitedByName string
	ExpiresAt     time.Time
	CreatedAt     time.Time
	// EmailStatus is the status of the invitation's latest email: queued,
	// sent, failed (also when it was not sent because the invitation stopped
	// being pending first) or disabled (no email: SMTP is not configured).
	EmailStatus string
}

// invitationColumns reads an invitation (alias i) with expiry applied.
const invitationColumns = `i.id, i.workspace_id, i.invited_email, i.role,
	CASE WHEN i.status = 'pending' AND i.expires_at <= now() THEN 'expired' ELSE i.status END,
	i.token, i.invited_by_name, i.expires_at, i.created_at,
	coalesce((SELECT CASE e.status WHEN 'skipped' THEN 'failed' ELSE e.status END
		FROM emails e WHERE e.id = i.email_id), 'disabled')`

// readInvitation reads invitationColumns.
func readInvitation(r *row) Invitation {
	return Invitation{ID: r.uuid(), WorkspaceID: r.uuid(), InvitedEmail: r.text(), Role: r.text(), Status: r.text(),
		Token: r.text(), InvitedByName: r.text(), ExpiresAt: r.time(), CreatedAt: r.time(), EmailStatus: r.text()}
}

// queryInvitation runs sql, which selects invitationColumns of at most one
// invitation, and reads it. Returns pgx.ErrNoRows when there is none.
func queryInvitation(ctx context.Context, q querier, sql string, args ...any) (Invitation, error) {
	var inv Invitation
	err := queryRow(ctx, q, sql, args, func(r *row) { inv = readInvitation(r) })
	return inv, err
}

// invitationStatusFilter is the WHERE condition of each status as read.
var invitationStatusFilter = map[string]string{
	InvitationPending:  `i.status = 'pending' AND i.expires_at > now()`,
	InvitationExpired:  `(i.status = 'expired' OR (i.status = 'pending' AND i.expires_at <= now()))`,
	InvitationAccepted: `i.status = 'accepted'`,
	InvitationRevoked:  `i.status = 'revoked'`,
}

// ValidInvitationStatus reports whether status is one of the four statuses.
func ValidInvitationStatus(status string) bool {
	_, ok := invitationStatusFilter[status]
	return ok
}

// MaxEmail is the longest email address accepted (RFC 5321 path limits).
const MaxEmail = 320

// NormalizeEmail trims and lower-cases an email address: emails are
// compared case-insensitively everywhere and stored lower-case.
func NormalizeEmail(s string) string { return strings.ToLower(strings.TrimSpace(s)) }

// ValidEmail reports whether s (normalized) is a bare address: net/mail
// parses it to itself, with one @ and no display name or spaces.
func ValidEmail(s string) bool {
	if len(s) > MaxEmail || strings.Count(s, "@") != 1 || strings.ContainsAny(s, " \t\r\n<>\"") {
		return false
	}
	a, err := mail.ParseAddress(s)
	return err == nil && a.Name == "" && a.Address == s
}

// NewInvitation is what an invitation is made from; CreateInvitation
// normalizes and validates it.
type NewInvitation struct {
	Email string
	Role  string
}

// CreateInvitation invites in.Email to workspace wsID with in.Role (member
// or admin) on behalf of a, whose role is re-read under the workspace lock
// and must be admin or owner; the actor's name now (a user's, or "API key
// <name>") is recorded as the inviter's. An expired pending invitation for
// the same email is marked expired first so that the new one may take its
// place. Returns VALIDATION_ERROR (email missing or not an address, role not
// member or admin), FORBIDDEN (not a member any more, role too low, the
// workspace is gone), ALREADY_MEMBER when a live user whose verified email
// it is is a member,
// INVITATION_PENDING when the email has a pending, unexpired invitation
// (also when a concurrent call created it first), SERVICE_UNAVAILABLE.
// With email on, the invitation's email is enqueued in the same
// transaction: no invitation without its email, no email for an invitation
// that rolled back.
func (s *Store) CreateInvitation(ctx context.Context, a Actor, wsID uuid.UUID, in NewInvitation) (Invitation, error) {
	problems := map[string]string{}
	email := NormalizeEmail(in.Email)
	switch {
	case email == "":
		problems["email"] = "is required"
	case !ValidEmail(email):
		problems["email"] = "must be an email address"
	}
	if in.Role != RoleMember && in.Role != RoleAdmin {
		problems["role"] = "must be member or admin"
	}
	if err := problemsErr(problems); err != nil {
		return Invitation{}, err
	}
	var inviter *uuid.UUID
	if a.Type == ActorUser {
		inviter = &a.ID
	}
	var inv Invitation
	err := s.change(ctx, a, "create invitation", func(tx *changeTx) error {
		if _, err := lockRole(ctx, tx, wsID, a, RoleAdmin); err != nil {
			return err
		}
		var member bool
		err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM workspace_members m
			JOIN users u ON u.id = m.user_id
			WHERE m.workspace_id = $1 AND u.email = $2 AND u.email_verified AND u.deleted_at IS NULL)`, wsID, email).Scan(&member)
		if err != nil {
			return dbErr("create invitation: member check", err)
		}
		if member {
			return apperr.New(apperr.AlreadyMember, "Someone with this email is already a member of this workspace.")
		}
		if _, err := tx.Exec(ctx, `UPDATE invitations SET status = 'expired'
			WHERE workspace_id = $1 AND invited_email = $2 AND status = 'pending' AND expires_at <= now()`,
			wsID, email); err != nil {
			return dbErr("create invitation: expire old", err)
		}
		// ON CONFLICT on the partial unique index waits for a concurrent
		// insert of the same pending invitation and then does nothing.
		inv, err = queryInvitation(ctx, tx, `
			INSERT INTO invitations AS i (workspace_id, invited_email, role, token, invited_by, invited_by_name,
				expires_at, email_requested_at)
			VALUES ($1, $2, $3, $4, $5, `+actorName("$6", "$7", "$8")+`,
				now() + interval '168 hours', now())
			ON CONFLICT (workspace_id, invited_email) WHERE status = 'pending' DO NOTHING
			RETURNING `+invitationColumns,
			wsID, email, in.Role, randcode.Token(invitationTokenBytes), inviter, string(a.Type), a.ID, a.Name)
		if code, constraint := pgCode(err); errors.Is(err, pgx.ErrNoRows) ||
			code == uniqueViolation && constraint == "invitations_pending_email_idx" {
			return errInvitationPending
		}
		if err != nil {
			return dbErr("create invitation: insert", err)
		}
		tx.record(ActionInvitationCreated, &wsID, TargetInvitation, inv.ID.String(),
			map[string]any{"email": inv.InvitedEmail, "role": inv.Role})
		return s.emailInvitation(ctx, tx, &inv)
	})
	if err != nil {
		return Invitation{}, err
	}
	return inv, nil
}

var errInvitationPending = apperr.New(apperr.InvitationPending, "This email already has a pending invitation to this workspace.")

// ListInvitations returns a page of workspace wsID's invitations whose
// status, as read now, is status, newest first, and how many there are in
// all. Returns VALIDATION_ERROR for an unknown status, SERVICE_UNAVAILABLE.
func (s *Store) ListInvitations(ctx context.Context, wsID uuid.UUID, status string, limit, offset int) ([]Invitation, int, error) {
	filter, ok := invitationStatusFilter[status]
	if !ok {
		return nil, 0, apperr.Validation(map[string]string{"status": "is unknown"})
	}
	return listPage(ctx, s.pool, "list invitations", readInvitation, offset,
		`SELECT `+invitationColumns+`, count(*) OVER () FROM invitations i
		WHERE i.workspace_id = $1 AND `+filter+`
		ORDER BY i.created_at DESC, i.id DESC LIMIT $2 OFFSET $3`, []any{wsID, limit, offset},
		`SELECT count(*) FROM invitations i WHERE i.workspace_id = $1 AND `+filter, wsID)
}

// RevokeInvitation revokes invitation invID of workspace wsID on behalf of
// a, whose role is re-read under the workspace lock and must be admin or
// owner. Revoking an invitation that is already revoked changes nothing and
// succeeds; an accepted one answers INVITATION_ALREADY_ACCEPTED and an
// expired one INVITATION_EXPIRED (neither can be revoked: the first already
// made a member, the second can no longer be used). Returns FORBIDDEN (not
// a member any more, role too low), NOT_FOUND when wsID has no such
// invitation (also when the id belongs to another workspace),
// SERVICE_UNAVAILABLE.
func (s *Store) RevokeInvitation(ctx context.Context, a Actor, wsID, invID uuid.UUID) error {
	return s.change(ctx, a, "revoke invitation", func(tx *changeTx) error {
		if _, err := lockRole(ctx, tx, wsID, a, RoleAdmin); err != nil {
			return err
		}
		inv, err := queryInvitation(ctx, tx, `SELECT `+invitationColumns+` FROM invitations i
			WHERE i.id = $1 AND i.workspace_id = $2 FOR UPDATE`, invID, wsID)
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoInvitationHere
		}
		if err != nil {
			return dbErr("revoke invitation: lock", err)
		}
		if inv.Status == InvitationRevoked {
			return nil // revoking twice changes nothing
		}
		if err := notPending(inv.Status); err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE invitations SET status = 'revoked' WHERE id = $1`, inv.ID); err != nil {
			return dbErr("revoke invitation", err)
		}
		tx.record(ActionInvitationRevoked, &wsID, TargetInvitation, inv.ID.String(),
			map[string]any{"email": inv.InvitedEmail})
		return nil
	})
}

// emailInvitation enqueues an email for inv inside tx and makes it the
// invitation's latest; inv's EmailStatus becomes queued. With email off the
// invitation is left without an email (disabled).
func (s *Store) emailInvitation(ctx context.Context, tx pgx.Tx, inv *Invitation) error {
	if !s.EmailEnabled() {
		if inv.EmailStatus != EmailDisabled { // email was on for an earlier email
			if _, err := tx.Exec(ctx, `UPDATE invitations SET email_id = NULL WHERE id = $1`, inv.ID); err != nil {
				return dbErr("email invitation", err)
			}
			inv.EmailStatus = EmailDisabled
		}
		return nil
	}
	ids, err := s.enqueueEmails(ctx, tx, EmailInvitation, []uuid.UUID{inv.ID})
	if err != nil {
		return err
	}
	if _, err := tx.Exec(ctx, `UPDATE invitations SET email_id = $2 WHERE id = $1`, inv.ID, ids[0]); err != nil {
		return dbErr("email invitation", err)
	}
	inv.EmailStatus = EmailQueued
	return nil
}

// ResendInterval is the least time between two emails of one invitation,
// the first one included (api/openapi.yaml, resendInvitation).
const ResendInterval = time.Minute

// ResendInvitation queues invitation invID of workspace wsID for another
// email on behalf of a, whose role is re-read under the workspace lock and
// must be admin or owner. It answers the invitation as it now stands
// (email_status queued, or disabled with email off). At most one email a
// minute goes out per invitation, counted from its creation or its last
// resend, as the database records them, so the limit holds across
// instances. Returns FORBIDDEN (not a member any more, role too low),
// NOT_FOUND when wsID has no such invitation, INVITATION_EXPIRED,
// INVITATION_REVOKED or INVITATION_ALREADY_ACCEPTED when it is no longer
// pending, RATE_LIMITED (with RetryAfter) within a minute of the last email,
// SERVICE_UNAVAILABLE.
func (s *Store) ResendInvitation(ctx context.Context, a Actor, wsID, invID uuid.UUID) (Invitation, error) {
	var inv Invitation
	err := s.change(ctx, a, "resend invitation", func(tx *changeTx) error {
		if _, err := lockRole(ctx, tx, wsID, a, RoleAdmin); err != nil {
			return err
		}
		var wait int // whole seconds until another email may go
		err := queryRow(ctx, tx, `SELECT `+invitationColumns+`,
				greatest(coalesce(ceil(extract(epoch FROM i.email_requested_at + $3::interval - now())), 0), 0)::int8
			FROM invitations i WHERE i.id = $1 AND i.workspace_id = $2 FOR UPDATE`,
			[]any{invID, wsID, ResendInterval.String()}, func(r *row) { inv, wait = readInvitation(r), r.int() })
		if errors.Is(err, pgx.ErrNoRows) {
			return errNoInvitationHere
		}
		if err != nil {
			return dbErr("resend invitation: lock", err)
		}
		if err := notPending(inv.Status); err != nil {
			return err
		}
		if wait > 0 {
			return apperr.RetryLater(apperr.RateLimited, "This invitation was emailed less than a minute ago",
				time.Duration(wait)*time.Second)
		}
		if _, err := tx.Exec(ctx, `UPDATE invitations SET email_requested_at = now() WHERE id = $1`, inv.ID); err != nil {
			return dbErr("resend invitation", err)
		}
		tx.record(ActionInvitationResent, &wsID, TargetInvitation, inv.ID.String(), map[string]any{"email": inv.InvitedEmail})
		return s.emailInvitation(ctx, tx, &inv)
	})
	if err != nil {
		return Invitation{}, err
	}
	return inv, nil
}

var (
	errInvitationAccepted = apperr.New(apperr.InvitationAlreadyAccepted, "This invitation has already been accepted.")
	errInvitationExpired  = apperr.New(apperr.InvitationExpired, "This invitation has expired.")
	errInvitationRevoked  = apperr.New(apperr.InvitationRevoked, "This invitation has been revoked.")
	// ErrInvitationNotFound is the 404 of a token that names no invitation.
	ErrInvitationNotFound = apperr.New(apperr.NotFound, "No such invitation.")
	errNoInvitationHere   = apperr.New(apperr.NotFound, "No such invitation in this workspace.")
)

// InvitationByToken returns the invitation whose token is exactly token,
// with its workspace's name, by an indexed equality. Returns NOT_FOUND,
// SERVICE_UNAVAILABLE.
func (s *Store) InvitationByToken(ctx context.Context, token string) (Invitation, error) {
	var (
		inv  Invitation
		name string
	)
	err := queryRow(ctx, s.pool, `SELECT `+invitationColumns+`, w.name
		FROM invitations i JOIN workspaces w ON w.id = i.workspace_id
		WHERE i.token = $1`, []any{token}, func(r *row) { inv, name = readInvitation(r), r.text() })
	if errors.Is(err, pgx.ErrNoRows) {
		return Invitation{}, ErrInvitationNotFound
	}
	if err != nil {
		return Invitation{}, dbErr("invitation by token", err)
	}
	inv.WorkspaceName = name
	return inv, nil
}

// AcceptInvitation makes the actor (a user, not impersonated: FORBIDDEN
// otherwise) a member of the invitation's workspace with the invitation's
// role, in one transaction that holds the invitation row (FOR UPDATE), so
// concurrent accepts of one invitation make one member. A pending user
// becomes active (invitations bypass the waitlist) without gaining product
// access. Returns the workspace as the user now sees it. Errors, in the
// order they are checked: NOT_FOUND (unknown token),
// INVITATION_EMAIL_MISMATCH (the user's email is not the invited one),
// INVITATION_ALREADY_ACCEPTED, INVITATION_REVOKED, INVITATION_EXPIRED,
// ALREADY_MEMBER, SERVICE_UNAVAILABLE.
func (s *Store) AcceptInvitation(ctx context.Context, a Actor, token string) (Workspace, error) {
	if a.Type != ActorUser {
		return Workspace{}, ErrRoleTooLow
	}
	if a.Impersonator != "" {
		return Workspace{}, ErrImpersonating
	}
	userID := a.ID
	var ws Workspace
	err := s.change(ctx, a, "accept invitation", func(tx *changeTx) error {
		inv, err := queryInvitation(ctx, tx, `SELECT `+invitationColumns+` FROM invitations i
			WHERE i.token = $1 FOR UPDATE`, token)
		if errors.Is(err, pgx.ErrNoRows) {
			return ErrInvitationNotFound
		}
		if err != nil {
			return dbErr("accept invitation: lock", err)
		}
		var email string
		var verified bool
		err = tx.QueryRow(ctx, `SELECT email, email_verified FROM users WHERE id = $1 AND deleted_at IS NULL FOR UPDATE`,
			userID).Scan(&email, &verified)
		if errors.Is(err, pgx.ErrNoRows) {
			return apperr.New(apperr.Unauthorized, "The user is unknown or deleted.")
		}
		if err != nil {
			return dbErr("accept invitation: user", err)
		}
		if email == "" || email != inv.InvitedEmail {
			return apperr.New(apperr.InvitationEmailMismatch, "This invitation was sent to another email address.")
		}
		if !verified {
			// Only a verified email is identity: anyone can add an address
			// to a Clerk account without proving they own it.
			return apperr.New(apperr.InvitationEmailMismatch, "Verify your email address to accept this invitation.")
		}
		if err := notPending(inv.Status); err != nil {
			return err
		}
		tag, err := tx.Exec(ctx, `INSERT INTO workspace_members (workspace_id, user_id, role) VALUES ($1, $2, $3)
			ON CONFLICT (workspace_id, user_id) DO NOTHING`, inv.WorkspaceID, userID, inv.Role)
		if code, _ := pgCode(err); code == foreignKeyViolation {
			// The workspace was deleted meanwhile; its invitations went with it.
			return ErrInvitationNotFound
		}
		if err != nil {
			return dbErr("accept invitation: add member", err)
		}
		if tag.RowsAffected() == 0 {
			return apperr.New(apperr.AlreadyMember, "You are already a member of this workspace.")
		}
		if _, err := tx.Exec(ctx, `UPDATE invitations SET status = 'accepted', accepted_by = $2, accepted_at = now()
			WHERE id = $1`, inv.ID, userID); err != nil {
			return dbErr("accept invitation: mark accepted", err)
		}
		if _, err := tx.Exec(ctx, `UPDATE users SET access_status = 'active',
			activated_at = coalesce(activated_at, now()), updated_at = now()
			WHERE id = $1 AND access_status = 'pending'`, userID); err != nil {
			return dbErr("accept invitation: activate user", err)
		}
		tx.record(ActionInvitationAccepted, &inv.WorkspaceID, TargetInvitation, inv.ID.String(),
			map[string]any{"email": inv.InvitedEmail, "role": inv.Role})
		ws, err = workspaceWithRole(ctx, tx, inv.WorkspaceID, inv.Role)
		return err
	})
	if err != nil {
		return Workspace{}, err
	}
	return ws, nil
}

// notPending is the 410 of an invitation in status that is no longer
// pending (accepted, revoked or expired), nil for a pending one.
func notPending(status string) error {
	switch status {
	case InvitationAccepted:
		return errInvitationAccepted
	case InvitationRevoked:
		return errInvitationRevoked
	case InvitationExpired:
		return errInvitationExpired
	}
	return nil
}
