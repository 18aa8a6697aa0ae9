package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/praxiom/praxiom-api/internal/randcode"
)

// WebhookResult is what applying a delivery did, as the webhook reports it.
type WebhookResult string

// Webhook results (the "status" of the webhook's answer).
const (
	WebhookOK               WebhookResult = "ok"
	WebhookAlreadyProcessed WebhookResult = "already_processed"
	WebhookIgnored          WebhookResult = "ignored"
)

// applyOnce runs fn as a change of a (the system, with the delivery's
// request) in one transaction together with the record of svixID, so a
// delivery is applied exactly once even when Svix sends it twice at the
// same moment to two instances: the second insert waits for the first
// transaction and then finds the id taken.
func (s *Store) applyOnce(ctx context.Context, a Actor, svixID, eventType string, fn func(tx *changeTx) (WebhookResult, error)) (WebhookResult, error) {
	var result WebhookResult
	err := s.change(ctx, a, "apply webhook", func(tx *changeTx) error {
		tag, err := tx.Exec(ctx, `INSERT INTO webhook_events (svix_id, event_type) VALUES ($1, $2)
			ON CONFLICT (svix_id) DO NOTHING`, svixID, eventType)
		if err != nil {
			return dbErr("record webhook", err)
		}
		if tag.RowsAffected() == 0 {
			result = WebhookAlreadyProcessed
			return nil
		}
		result, err = fn(tx)
		return err
	})
	return result, err
}

// RecordIgnored records a delivery that changes nothing (an event type not
// handled, a user without an email) and answers ignored, so that the same
// svix-id delivered again answers already_processed like any other
// (api/openapi.yaml, receiveClerkWebhook). Returns SERVICE_UNAVAILABLE or
// INTERNAL.
func (s *Store) RecordIgnored(ctx context.Context, a Actor, svixID, eventType string) (WebhookResult, error) {
	return s.applyOnce(ctx, a, svixID, eventType, func(*changeTx) (WebhookResult, error) { return WebhookIgnored, nil })
}

// ApplyUserUpsert applies a user.created or user.updated delivery: the user
// is created, or updated when p is newer than what is stored. A stale or
// post-deletion delivery changes nothing and answers ignored. Returns
// SERVICE_UNAVAILABLE or INTERNAL.
func (s *Store) ApplyUserUpsert(ctx context.Context, a Actor, svixID, eventType string, p Profile, policy NewUserPolicy) (WebhookResult, error) {
	return s.applyOnce(ctx, a, svixID, eventType, func(tx *changeTx) (WebhookResult, error) {
		_, outcome, err := upsertUser(ctx, tx, p, policy)
		if err != nil {
			return "", err
		}
		if outcome == Unchanged || outcome == Tombstoned {
			return WebhookIgnored, nil
		}
		return WebhookOK, nil
	})
}

// ApplyUserDeleted applies a user.deleted delivery: the user is tombstoned
// (created as a tombstone if we never saw it, so a late user.created cannot
// resurrect it), its profile is scrubbed, its memberships are removed and
// every workspace it leaves without an owner is handed on (HandOffWorkspaces).
// A second deletion answers ignored. Returns SERVICE_UNAVAILABLE or INTERNAL.
func (s *Store) ApplyUserDeleted(ctx context.Context, a Actor, svixID, eventType, clerkID string, at time.Time) (WebhookResult, error) {
	return s.applyOnce(ctx, a, svixID, eventType, func(tx *changeTx) (WebhookResult, error) {
		var id uuid.UUID
		err := tx.QueryRow(ctx, `
			INSERT INTO users AS u (clerk_id, referral_code, deleted_at)
			VALUES ($1, $2, $3)
			ON CONFLICT (clerk_id) DO UPDATE SET
				deleted_at = excluded.deleted_at,
				email = '', name = '', avatar_url = NULL, updated_at = now()
			WHERE u.deleted_at IS NULL
			RETURNING u.id`,
			clerkID, randcode.String(8), at.UTC()).Scan(&id)
		if errors.Is(err, pgx.ErrNoRows) {
			return WebhookIgnored, nil // already tombstoned
		}
		if err != nil {
			return "", dbErr("tombstone user", err)
		}
		tx.record(ActionUserDeleted, nil, TargetUser, id.String(), map[string]any{"clerk_id": clerkID})
		if err := handOffWorkspaces(ctx, tx, id); err != nil {
			return "", err
		}
		return WebhookOK, nil
	})
}

// handOffWorkspaces removes userID from every workspace. Each workspace row
// is locked (in id order, so two deletions cannot deadlock) before its
// owners are counted; one left without an owner promotes its
// longest-standing admin, else its longest-standing member, else it is
// deleted.
func handOffWorkspaces(ctx context.Context, tx *changeTx, userID uuid.UUID) error {
	rows, err := tx.Query(ctx, `SELECT w.id FROM workspaces w
		JOIN workspace_members m ON m.workspace_id = w.id AND m.user_id = $1
		ORDER BY w.id FOR UPDATE OF w`, userID)
	if err != nil {
		return dbErr("hand off: lock workspaces", err)
	}
	ids, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
	if err != nil {
		return dbErr("hand off: lock workspaces", err)
	}
	for _, wsID := range ids {
		var role string
		if err := tx.QueryRow(ctx, `DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2 RETURNING role`,
			wsID, userID).Scan(&role); err != nil {
			return dbErr("hand off: remove membership", err)
		}
		tx.record(ActionMemberRemoved, &wsID, TargetUser, userID.String(), map[string]any{"role": role, "reason": "user.deleted"})
		var promoted uuid.UUID
		var from string
		err := tx.QueryRow(ctx, `
			UPDATE workspace_members m SET role = 'owner'
			FROM workspace_members old
			WHERE m.workspace_id = $1 AND old.workspace_id = m.workspace_id AND old.user_id = m.user_id
			  AND NOT EXISTS (SELECT 1 FROM workspace_members WHERE workspace_id = $1 AND role = 'owner')
			  AND m.user_id = (SELECT user_id FROM workspace_members WHERE workspace_id = $1
			                 ORDER BY (role = 'admin') DESC, joined_at, user_id LIMIT 1)
			RETURNING m.user_id, old.role`, wsID).Scan(&promoted, &from)
		switch {
		case err == nil:
			tx.record(ActionMemberPromoted, &wsID, TargetUser, promoted.String(), map[string]any{"from": from, "to": RoleOwner})
			continue
		case !errors.Is(err, pgx.ErrNoRows):
			return dbErr("hand off: promote", err)
		}
		var name string
		err = tx.QueryRow(ctx, `DELETE FROM workspaces w WHERE w.id = $1
			AND NOT EXISTS (SELECT 1 FROM workspace_members WHERE workspace_id = $1) RETURNING name`, wsID).Scan(&name)
		switch {
		case err == nil:
			tx.record(ActionWorkspaceDeleted, &wsID, TargetWorkspace, wsID.String(), map[string]any{"name": name, "reason": "user.deleted"})
		case !errors.Is(err, pgx.ErrNoRows):
			return dbErr("hand off: delete workspace", err)
		}
	}
	return nil
}

// PruneWebhookEvents deletes the records of deliveries processed before
// olderThan ago, in batches, and returns how many it deleted. Svix stops
// retrying a message after about a day, so a retention of days keeps every
// duplicate detectable. Returns SERVICE_UNAVAILABLE or INTERNAL.
func (s *Store) PruneWebhookEvents(ctx context.Context, olderThan time.Duration) (int64, error) {
	return s.deleteInBatches(ctx, "prune webhook events", `DELETE FROM webhook_events WHERE svix_id IN (
		SELECT svix_id FROM webhook_events WHERE processed_at < now() - $1::interval LIMIT $2)`, olderThan)
}

// pruneBatch is how many rows one statement of a prune deletes.
const pruneBatch = 5000

// deleteInBatches runs del, a DELETE of at most $2 rows older than $1,
// until it deletes fewer than pruneBatch, and returns how many it deleted
// in all: each statement is short, so pruning never holds locks long.
func (s *Store) deleteInBatches(ctx context.Context, op, del string, olderThan time.Duration) (int64, error) {
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, del, olderThan.String(), pruneBatch)
		if err != nil {
			return total, dbErr(op, err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < pruneBatch {
			return total, nil
		}
	}
}
