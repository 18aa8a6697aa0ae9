package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/praxiom/praxiom-api/internal/apperr"
)

// Workspace roles, highest first.
const (
	RoleOwner  = "owner"
	RoleAdmin  = "admin"
	RoleMember = "member"
)

// RoleRank orders roles: owner 3 > admin 2 > member 1; unknown 0.
func RoleRank(role string) int {
	switch role {
	case RoleOwner:
		return 3
	case RoleAdmin:
		return 2
	case RoleMember:
		return 1
	}
	return 0
}

// Workspace is a workspace as one member sees it.
type Workspace struct {
	ID                 uuid.UUID
	Name               string
	ProductName        *string
	ProductDescription *string
	TargetUsers        *string
	CurrentStage       *string
	// Role is the caller's role.
	Role               string
	Plan               string
	SubscriptionStatus string
	TrialEndsAt        *time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// workspaceSelect reads a workspace with the caller's role ($2) and its
// subscription; callers add WHERE conditions.
const workspaceSelect = `SELECT w.id, w.name, w.product_name, w.product_description, w.target_users,
	w.current_stage, m.role, coalesce(s.plan, 'trial'), coalesce(s.status, 'trialing'), s.trial_ends_at,
	w.created_at, w.updated_at
	FROM workspaces w
	JOIN workspace_members m ON m.workspace_id = w.id AND m.user_id = $2
	LEFT JOIN subscriptions s ON s.workspace_id = w.id`

func scanWorkspace(row pgx.Row, extra ...any) (Workspace, error) {
	var w Workspace
	dest := append([]any{&w.ID, &w.Name, &w.ProductName, &w.ProductDescription, &w.TargetUsers,
		&w.CurrentStage, &w.Role, &w.Plan, &w.SubscriptionStatus, &w.TrialEndsAt,
		&w.CreatedAt, &w.UpdatedAt}, extra...)
	err := row.Scan(dest...)
	return w, err
}

// getWorkspace reads workspace wsID as userID sees it. Returns FORBIDDEN
// when userID is not a member (or the workspace does not exist).
func getWorkspace(ctx context.Context, q querier, wsID, userID uuid.UUID) (Workspace, error) {
	w, err := scanWorkspace(q.QueryRow(ctx, workspaceSelect+` WHERE w.id = $1`, wsID, userID))
	if errors.Is(err, pgx.ErrNoRows) {
		return Workspace{}, ErrNotMember
	}
	return w, dbErr("get workspace", err)
}

// ErrNotMember is the answer for outsiders and for workspaces that do not
// exist alike, so existence is never revealed.
var ErrNotMember = apperr.New(apperr.Forbidden, "You are not a member of this workspace.")

// lockWorkspace takes the per-workspace lock (the workspace row, FOR UPDATE)
// that every path able to remove an owner holds before counting owners, and
// then returns the caller's role read in a statement of its own. The role
// must not come from the locking statement: under READ COMMITTED, when that
// statement waited, PostgreSQL re-checks only the locked row and would hand
// back the membership as it was before the wait. Returns FORBIDDEN when
// userID is not (or no longer) a member, or the workspace is gone.
func lockWorkspace(ctx context.Context, tx pgx.Tx, wsID, userID uuid.UUID) (string, error) {
	var id uuid.UUID
	err := tx.QueryRow(ctx, `SELECT id FROM workspaces WHERE id = $1 FOR UPDATE`, wsID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotMember
	}
	if err != nil {
		return "", dbErr("lock workspace", err)
	}
	return memberRole(ctx, tx, wsID, userID, ErrNotMember)
}
