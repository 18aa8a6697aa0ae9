package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
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

// Workspace is a workspace as one principal (a member, or an API key of
// the workspace) sees it.
type Workspace struct {
	ID                 uuid.UUID
	Name               string
	ProductName        *string
	ProductDescription *string
	TargetUsers        *string
	CurrentStage       *string
	// Role is the principal's role.
	Role string
	// Plan and SubscriptionStatus are the subscription's; trial/trialing
	// when there is none.
	Plan               string
	SubscriptionStatus string
	TrialEndsAt        *time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// LimitPlan is the plan whose rate limit applies to the workspace's API
// keys: a canceled subscription counts as trial, as it does for users.
func (w Workspace) LimitPlan() string {
	if w.SubscriptionStatus == "canceled" {
		return "trial"
	}
	return w.Plan
}

// workspaceColumns is the one select list of a workspace as a principal
// sees it, from w (workspaces), s (its subscription, left-joined) and
// role, the expression of the principal's role. scanWorkspace reads it.
func workspaceColumns(role string) string {
	return `w.id, w.name, w.product_name, w.product_description, w.target_users, w.current_stage, ` +
		role + `, coalesce(s.plan, 'trial'), coalesce(s.status, 'trialing'), s.trial_ends_at, w.created_at, w.updated_at`
}

// workspaceSelect reads a workspace with the role of the member $2; callers
// add WHERE conditions.
var workspaceSelect = `SELECT ` + workspaceColumns("m.role") + `
	FROM workspaces w
	JOIN workspace_members m ON m.workspace_id = w.id AND m.user_id = $2
	LEFT JOIN subscriptions s ON s.workspace_id = w.id`

// workspaceScan holds the destinations of workspaceColumns.
type workspaceScan struct {
	w Workspace
	// The NOT NULL columns, read through pointers when the workspace may
	// be missing from its row (a LEFT JOIN).
	id               *uuid.UUID
	name, role       *string
	created, updated *time.Time
}

// dest returns the destinations in workspaceColumns' order; optional reads
// the NOT NULL columns through pointers.
func (s *workspaceScan) dest(optional bool) []any {
	w := &s.w
	if !optional {
		return []any{&w.ID, &w.Name, &w.ProductName, &w.ProductDescription, &w.TargetUsers, &w.CurrentStage,
			&w.Role, &w.Plan, &w.SubscriptionStatus, &w.TrialEndsAt, &w.CreatedAt, &w.UpdatedAt}
	}
	return []any{&s.id, &s.name, &w.ProductName, &w.ProductDescription, &w.TargetUsers, &w.CurrentStage,
		&s.role, &w.Plan, &w.SubscriptionStatus, &w.TrialEndsAt, &s.created, &s.updated}
}

// optional returns the workspace read through dest(true), or nil when its
// row had none (no such workspace, or no role in it).
func (s *workspaceScan) optional() *Workspace {
	if s.id == nil || s.role == nil {
		return nil
	}
	w := s.w
	w.ID, w.Name, w.Role, w.CreatedAt, w.UpdatedAt = *s.id, *s.name, *s.role, *s.created, *s.updated
	return &w
}

func scanWorkspace(row pgx.Row, extra ...any) (Workspace, error) {
	var s workspaceScan
	err := row.Scan(append(s.dest(false), extra...)...)
	return s.w, err
}

// workspaceAs reads a workspace with a given role ($2): what a change
// answers once lockRole has read the actor's role.
var workspaceAs = `SELECT ` + workspaceColumns("$2::text") + `
	FROM workspaces w LEFT JOIN subscriptions s ON s.workspace_id = w.id WHERE w.id = $1`

// readWorkspace reads workspace wsID as a principal of role sees it.
// Returns FORBIDDEN when it does not exist.
func readWorkspace(ctx context.Context, q querier, wsID uuid.UUID, role string) (Workspace, error) {
	w, err := scanWorkspace(q.QueryRow(ctx, workspaceAs, wsID, role))
	if errors.Is(err, pgx.ErrNoRows) {
		return Workspace{}, ErrNotMember
	}
	return w, dbErr("read workspace", err)
}
