package store

import (
	"context"
	"errors"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/praxiom/praxiom-api/internal/apperr"
)

// Kinds of email (emails.kind).
const (
	EmailInvitation       = "invitation"
	EmailWaitlistApproval = "waitlist_approval"
)

// Statuses of an email (emails.status). An invitation's email_status is its
// latest email's, with EmailSkipped read as failed (it was not sent and
// will not be), and EmailDisabled when it has none.
const (
	EmailQueued   = "queued"
	EmailSent     = "sent"
	EmailFailed   = "failed"
	EmailSkipped  = "skipped"
	EmailDisabled = "disabled"
)

// maxEmailError bounds the SMTP error kept on an email row.
const maxEmailError = 1000

// enqueueEmails writes one email row of kind for each of refs (invitation or
// waitlist entry ids, by kind) and puts their jobs into the queue, all inside
// tx: the change and its emails commit or roll back together. It returns the
// emails' ids; nothing (and no error) when email is off.
func (s *Store) enqueueEmails(ctx context.Context, tx pgx.Tx, kind string, refs []uuid.UUID) ([]uuid.UUID, error) {
	if s.outbox == nil || len(refs) == 0 {
		return nil, nil
	}
	column := "invitation_id"
	if kind == EmailWaitlistApproval {
		column = "waitlist_entry_id"
	}
	rows, err := tx.Query(ctx, `INSERT INTO emails (kind, `+column+`)
		SELECT $1, ref FROM unnest($2::uuid[]) AS ref
		RETURNING id`, kind, refs)
	if err != nil {
		return nil, dbErr("enqueue emails", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return nil, dbErr("enqueue emails", err)
	}
	if err := s.outbox.EnqueueEmails(ctx, tx, ids); err != nil {
		if _, ok := apperr.As(err); ok {
			return nil, err
		}
		return nil, dbErr("enqueue emails: queue", err)
	}
	return ids, nil
}

// OutgoingEmail is what the worker needs to compose and send one email, as
// the database holds it now.
type OutgoingEmail struct {
	ID        uuid.UUID
	Kind      string
	Status    string
	CreatedAt time.Time
	// To is the recipient: the invited email or the waitlist entry's.
	To string
	// Invitation is set for EmailInvitation.
	Invitation *InvitationEmail
	// Approval is set for EmailWaitlistApproval.
	Approval *ApprovalEmail
}

// InvitationEmail is the invitation an email announces.
type InvitationEmail struct {
	WorkspaceName string
	InvitedByName string
	Role          string
	ExpiresAt     time.Time
	Token         string
	// Pending: the invitation can still be accepted.
	Pending bool
	// Latest: this email is the invitation's latest (no resend superseded it).
	Latest bool
}

// ApprovalEmail is the waitlist approval an email announces.
type ApprovalEmail struct {
	// Name is the name the entry gave, "" when none.
	Name string
	// Code is the single-use access code generated for the entry.
	Code string
}

// EmailToSend returns email id with what its message needs. Returns
// NOT_FOUND when it no longer exists (its invitation or workspace was
// deleted), SERVICE_UNAVAILABLE.
func (s *Store) EmailToSend(ctx context.Context, id uuid.UUID) (OutgoingEmail, error) {
	var (
		e                                      OutgoingEmail
		invEmail, wsName, inviter, role, token *string
		expires                                *time.Time
		pending, latest                        *bool
		entryEmail, entryName, code            *string
	)
	err := s.pool.QueryRow(ctx, `SELECT e.id, e.kind, e.status, e.created_at,
			i.invited_email, w.name, i.invited_by_name, i.role, i.expires_at, i.token,
			i.status = 'pending' AND i.expires_at > now(), i.email_id = e.id,
			we.email, we.name, c.code
		FROM emails e
		LEFT JOIN invitations i ON i.id = e.invitation_id
		LEFT JOIN workspaces w ON w.id = i.workspace_id
		LEFT JOIN waitlist_entries we ON we.id = e.waitlist_entry_id
		LEFT JOIN access_codes c ON c.id = we.access_code_id
		WHERE e.id = $1`, id).Scan(&e.ID, &e.Kind, &e.Status, &e.CreatedAt,
		&invEmail, &wsName, &inviter, &role, &expires, &token, &pending, &latest,
		&entryEmail, &entryName, &code)
	if errors.Is(err, pgx.ErrNoRows) {
		return OutgoingEmail{}, apperr.New(apperr.NotFound, "No such email.")
	}
	if err != nil {
		return OutgoingEmail{}, dbErr("email to send", err)
	}
	switch {
	case e.Kind == EmailInvitation && invEmail != nil && wsName != nil:
		e.To = *invEmail
		e.Invitation = &InvitationEmail{WorkspaceName: *wsName, InvitedByName: deref(inviter), Role: deref(role),
			ExpiresAt: *expires, Token: deref(token), Pending: *pending, Latest: latest != nil && *latest}
	case e.Kind == EmailWaitlistApproval && entryEmail != nil && code != nil:
		e.To = *entryEmail
		e.Approval = &ApprovalEmail{Name: deref(entryName), Code: *code}
	default:
		// The row exists but what it announces is gone (an access code
		// deleted by hand): nothing can be sent.
		return OutgoingEmail{}, apperr.New(apperr.NotFound, "The email's subject no longer exists.")
	}
	return e, nil
}

// MarkEmail records the outcome of email id: EmailSent, EmailFailed (the
// last error kept as reason) or EmailSkipped. Only a queued email changes:
// a repeated outcome changes nothing. Returns VALIDATION_ERROR for another
// status, SERVICE_UNAVAILABLE.
func (s *Store) MarkEmail(ctx context.Context, id uuid.UUID, status, reason string) error {
	switch status {
	case EmailSent, EmailFailed, EmailSkipped:
	default:
		return apperr.Validation(map[string]string{"status": "is not an outcome"})
	}
	_, err := s.pool.Exec(ctx, `UPDATE emails SET status = $2,
		sent_at = CASE WHEN $2 = 'sent' THEN now() END,
		last_error = CASE WHEN $2 = 'sent' THEN NULL ELSE coalesce(nullif($3, ''), last_error) END
		WHERE id = $1 AND status = 'queued'`, id, status, truncate(reason, maxEmailError))
	return dbErr("mark email", err)
}

// NoteEmailError keeps reason as the last error of queued email id after an
// attempt that will be retried. Returns SERVICE_UNAVAILABLE.
func (s *Store) NoteEmailError(ctx context.Context, id uuid.UUID, reason string) error {
	_, err := s.pool.Exec(ctx, `UPDATE emails SET last_error = $2 WHERE id = $1 AND status = 'queued'`,
		id, truncate(reason, maxEmailError))
	return dbErr("note email error", err)
}

// truncate cuts s to at most n runes.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	return string([]rune(s)[:n])
}

// QueueStats is the job queue as read at one moment.
type QueueStats struct {
	// Depth counts the jobs not yet finished: waiting, scheduled, being
	// retried or running.
	Depth int
	// OldestAge is how long the oldest of them has been in the queue; zero
	// when there is none.
	OldestAge time.Duration
}

// QueueStats reads the depth of River's job queue and the age of its oldest
// unfinished job. Returns SERVICE_UNAVAILABLE.
func (s *Store) QueueStats(ctx context.Context) (QueueStats, error) {
	var q QueueStats
	var age float64
	err := s.pool.QueryRow(ctx, `SELECT count(*), coalesce(extract(epoch FROM now() - min(created_at)), 0)::float8
		FROM river_job WHERE state IN ('available', 'pending', 'retryable', 'running', 'scheduled')`).Scan(&q.Depth, &age)
	if err != nil {
		return QueueStats{}, dbErr("queue stats", err)
	}
	q.OldestAge = time.Duration(age * float64(time.Second))
	return q, nil
}
