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

// applyOnce runs fn in one transaction together with the record of svixID,
// so a delivery is applied exactly once even when Svix sends it twice at the
// same moment to two instances: the second insert waits for the first
// transaction and then finds the id taken.
func (s *Store) applyOnce(ctx context.Context, svixID, eventType string, fn func(tx pgx.Tx) (WebhookResult, error)) (WebhookResult, error) {
	var result WebhookResult
	err := s.inTx(ctx, "apply webhook", func(tx pgx.Tx) error {
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
// (contract §8). Returns SERVICE_UNAVAILABLE or INTERNAL.
func (s *Store) RecordIgnored(ctx context.Context, svixID, eventType string) (WebhookResult, error) {
	return s.applyOnce(ctx, svixID, eventType, func(pgx.Tx) (WebhookResult, error) { return WebhookIgnored, nil })
}

// ApplyUserUpsert applies a user.created or user.updated delivery: the user
// is created, or updated when p is newer than what is stored. A stale or
// post-deletion delivery changes nothing and answers ignored. Returns
// SERVICE_UNAVAILABLE or INTERNAL.
func (s *Store) ApplyUserUpsert(ctx context.Context, svixID, eventType string, p Profile, policy NewUserPolicy) (WebhookResult, error) {
	return s.applyOnce(ctx, svixID, eventType, func(tx pgx.Tx) (WebhookResult, error) {
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
func (s *Store) ApplyUserDeleted(ctx context.Context, svixID, eventType, clerkID string, at time.Time) (WebhookResult, error) {
	return s.applyOnce(ctx, svixID, eventType, func(tx pgx.Tx) (WebhookResult, error) {
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
func handOffWorkspaces(ctx context.Context, tx pgx.Tx, userID uuid.UUID) error {
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
		if _, err := tx.Exec(ctx, `DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2`, wsID, userID); err != nil {
			return dbErr("hand off: remove membership", err)
		}
		tag, err := tx.Exec(ctx, `
			UPDATE workspace_members SET role = 'owner'
			WHERE workspace_id = $1
			  AND NOT EXISTS (SELECT 1 FROM workspace_members WHERE workspace_id = $1 AND role = 'owner')
			  AND user_id = (SELECT user_id FROM workspace_members WHERE workspace_id = $1
			                 ORDER BY (role = 'admin') DESC, joined_at, user_id LIMIT 1)`, wsID)
		if err != nil {
			return dbErr("hand off: promote", err)
		}
		if tag.RowsAffected() == 1 {
			continue
		}
		if _, err := tx.Exec(ctx, `DELETE FROM workspaces w WHERE w.id = $1
			AND NOT EXISTS (SELECT 1 FROM workspace_members WHERE workspace_id = $1)`, wsID); err != nil {
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
	var total int64
	for {
		tag, err := s.pool.Exec(ctx, `DELETE FROM webhook_events WHERE svix_id IN (
			SELECT svix_id FROM webhook_events WHERE processed_at < now() - $1::interval LIMIT 5000)`,
			olderThan.String())
		if err != nil {
			return total, dbErr("prune webhook events", err)
		}
		total += tag.RowsAffected()
		if tag.RowsAffected() < 5000 {
			return total, nil
		}
	}
}
