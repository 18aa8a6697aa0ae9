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
// role, the expression of the principal's role. readWorkspace reads it.
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

// readWorkspace reads workspaceColumns.
func readWorkspace(r *row) Workspace {
	return Workspace{ID: r.uuid(), Name: r.text(), ProductName: r.textPtr(), ProductDescription: r.textPtr(),
		TargetUsers: r.textPtr(), CurrentStage: r.textPtr(), Role: r.text(), Plan: r.text(),
		SubscriptionStatus: r.text(), TrialEndsAt: r.timePtr(), CreatedAt: r.time(), UpdatedAt: r.time()}
}

// readOptionalWorkspace reads workspaceColumns from a LEFT JOIN: nil when
// the row has no workspace (no such workspace, or no role in it).
func readOptionalWorkspace(r *row) *Workspace {
	if id, _ := r.peek(); id == nil {
		r.i += workspaceColumnCount
		return nil
	}
	w := readWorkspace(r)
	return &w
}

// workspaceColumnCount is how many columns workspaceColumns selects.
const workspaceColumnCount = 12

// workspaceAs reads a workspace with a given role ($2): what a change
// answers once lockRole has read the actor's role.
var workspaceAs = `SELECT ` + workspaceColumns("$2::text") + `
	FROM workspaces w LEFT JOIN subscriptions s ON s.workspace_id = w.id WHERE w.id = $1`

// workspaceWithRole reads workspace wsID as a principal of role sees it.
// Returns FORBIDDEN when it does not exist.
func workspaceWithRole(ctx context.Context, q querier, wsID uuid.UUID, role string) (Workspace, error) {
	var w Workspace
	err := queryRow(ctx, q, workspaceAs, []any{wsID, role}, func(r *row) { w = readWorkspace(r) })
	if errors.Is(err, pgx.ErrNoRows) {
		return Workspace{}, ErrNotMember
	}
	return w, dbErr("read workspace", err)
}
