package store

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/praxiom/praxiom-api/internal/apperr"
)

// NewWorkspace is what a workspace is created from. The HTTP layer has
// validated it (name trimmed, 1..100 characters; product fields at most
// 2,000 characters).
type NewWorkspace struct {
	Name               string
	ProductName        *string
	ProductDescription *string
	TargetUsers        *string
	CurrentStage       *string
}

// TextPatch is a PATCH of a nullable text column: nothing changes unless
// Set; a nil Value clears the column.
type TextPatch struct {
	Set   bool
	Value *string
}

// WorkspacePatch is a partial update of a workspace; a nil Name leaves the
// name alone.
type WorkspacePatch struct {
	Name               *string
	ProductName        TextPatch
	ProductDescription TextPatch
	TargetUsers        TextPatch
	CurrentStage       TextPatch
}

func (p WorkspacePatch) empty() bool {
	return p.Name == nil && !p.ProductName.Set && !p.ProductDescription.Set &&
		!p.TargetUsers.Set && !p.CurrentStage.Set
}

// errRoleTooLow is the answer when the actor's role, read under the
// workspace lock, does not allow the change.
var errRoleTooLow = apperr.New(apperr.Forbidden, "Your role in this workspace does not allow this.")

// workspaceCheckFields maps the CHECK constraints of workspaces to the
// request fields they guard, so a value the HTTP layer let through still
// answers 422 naming the field rather than 500.
var workspaceCheckFields = map[string]string{
	"workspaces_name_check":                "name",
	"workspaces_product_name_check":        "product_name",
	"workspaces_product_description_check": "product_description",
	"workspaces_target_users_check":        "target_users",
	"workspaces_current_stage_check":       "current_stage",
}

// workspaceWriteErr translates the errors of a write to workspaces.
func workspaceWriteErr(op string, err error) error {
	if code, constraint := pgCode(err); code == checkViolation {
		if field, ok := workspaceCheckFields[constraint]; ok {
			return &apperr.Error{Code: apperr.ValidationError, Message: "The request is invalid.",
				Fields: map[string]string{field: "is too long or empty"}, Err: err}
		}
	}
	return dbErr(op, err)
}

// CreateWorkspace creates a workspace owned by ownerID, in one transaction
// with the owner's membership, a trial subscription (status trialing, ending
// trialDays from now) and the default settings, and returns it as the owner
// sees it. Returns VALIDATION_ERROR (a value the schema refuses),
// SERVICE_UNAVAILABLE or INTERNAL.
func (s *Store) CreateWorkspace(ctx context.Context, ownerID uuid.UUID, in NewWorkspace, trialDays int) (Workspace, error) {
	var w Workspace
	err := s.inTx(ctx, "create workspace", func(tx pgx.Tx) error {
		var wsID uuid.UUID
		err := tx.QueryRow(ctx, `INSERT INTO workspaces (name, product_name, product_description, target_users, current_stage)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`,
			in.Name, in.ProductName, in.ProductDescription, in.TargetUsers, in.CurrentStage).Scan(&wsID)
		if err != nil {
			return workspaceWriteErr("create workspace: insert", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO workspace_members (workspace_id, user_id, role) VALUES ($1, $2, 'owner')`,
			wsID, ownerID); err != nil {
			return dbErr("create workspace: owner membership", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO subscriptions (workspace_id, plan, status, trial_ends_at)
			VALUES ($1, 'trial', 'trialing', now() + make_interval(days => $2))`, wsID, trialDays); err != nil {
			return dbErr("create workspace: subscription", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO workspace_settings (workspace_id) VALUES ($1)`, wsID); err != nil {
			return dbErr("create workspace: settings", err)
		}
		w, err = getWorkspace(ctx, tx, wsID, ownerID)
		return err
	})
	return w, err
}

// ListWorkspaces returns a page of the workspaces userID belongs to, each
// with userID's role, newest first (created_at, then id, descending), and
// how many there are in all. Returns SERVICE_UNAVAILABLE or INTERNAL.
func (s *Store) ListWorkspaces(ctx context.Context, userID uuid.UUID, limit, offset int) ([]Workspace, int, error) {
	// workspaceSelect joins the membership of $2; $1 names the same user here.
	return listPage(ctx, s.pool, "list workspaces", scanWorkspace, offset,
		`SELECT ws.*, count(*) OVER () FROM (`+workspaceSelect+` WHERE m.user_id = $1) ws
		ORDER BY ws.created_at DESC, ws.id DESC LIMIT $3 OFFSET $4`, []any{userID, userID, limit, offset},
		`SELECT count(*) FROM workspace_members WHERE user_id = $1`, userID)
}

// UpdateWorkspace applies p to workspace wsID on behalf of actorID, whose
// role is re-read under the workspace lock and must be admin or owner, and
// returns the workspace as actorID sees it. An empty patch changes nothing
// (updated_at included). Returns FORBIDDEN (not a member any more, or role
// too low), VALIDATION_ERROR, SERVICE_UNAVAILABLE or INTERNAL.
func (s *Store) UpdateWorkspace(ctx context.Context, wsID, actorID uuid.UUID, p WorkspacePatch) (Workspace, error) {
	var w Workspace
	err := s.inTx(ctx, "update workspace", func(tx pgx.Tx) error {
		role, err := lockWorkspace(ctx, tx, wsID, actorID)
		if err != nil {
			return err
		}
		if RoleRank(role) < RoleRank(RoleAdmin) {
			return errRoleTooLow
		}
		if !p.empty() {
			_, err := tx.Exec(ctx, `UPDATE workspaces SET
				name                = coalesce($2, name),
				product_name        = CASE WHEN $3 THEN $4 ELSE product_name END,
				product_description = CASE WHEN $5 THEN $6 ELSE product_description END,
				target_users        = CASE WHEN $7 THEN $8 ELSE target_users END,
				current_stage       = CASE WHEN $9 THEN $10 ELSE current_stage END,
				updated_at          = now()
				WHERE id = $1`,
				wsID, p.Name,
				p.ProductName.Set, p.ProductName.Value,
				p.ProductDescription.Set, p.ProductDescription.Value,
				p.TargetUsers.Set, p.TargetUsers.Value,
				p.CurrentStage.Set, p.CurrentStage.Value)
			if err != nil {
				return workspaceWriteErr("update workspace", err)
			}
		}
		w, err = getWorkspace(ctx, tx, wsID, actorID)
		return err
	})
	return w, err
}

// DeleteWorkspace deletes workspace wsID on behalf of actorID, whose role is
// re-read under the workspace lock and must be owner. Its members,
// invitations, subscription and settings go with it (ON DELETE CASCADE).
// Returns FORBIDDEN (not a member any more, or not an owner),
// SERVICE_UNAVAILABLE or INTERNAL.
func (s *Store) DeleteWorkspace(ctx context.Context, wsID, actorID uuid.UUID) error {
	return s.inTx(ctx, "delete workspace", func(tx pgx.Tx) error {
		role, err := lockWorkspace(ctx, tx, wsID, actorID)
		if err != nil {
			return err
		}
		if role != RoleOwner {
			return errRoleTooLow
		}
		if _, err := tx.Exec(ctx, `DELETE FROM workspaces WHERE id = $1`, wsID); err != nil {
			return dbErr("delete workspace", err)
		}
		return nil
	})
}

// Settings are a workspace's settings.
type Settings struct {
	OvernightResearchEnabled bool
	MorningDigestEnabled     bool
	DigestTimezone           string
}

// SettingsPatch is a partial update of the settings; nil fields are left
// alone. The HTTP layer has checked that DigestTimezone is an IANA zone.
type SettingsPatch struct {
	OvernightResearchEnabled *bool
	MorningDigestEnabled     *bool
	DigestTimezone           *string
}

// GetSettings returns the settings of workspace wsID (the defaults when its
// settings row is missing). Returns FORBIDDEN when the workspace does not
// exist, SERVICE_UNAVAILABLE or INTERNAL.
func (s *Store) GetSettings(ctx context.Context, wsID uuid.UUID) (Settings, error) {
	return getSettings(ctx, s.pool, wsID)
}

func getSettings(ctx context.Context, q querier, wsID uuid.UUID) (Settings, error) {
	var st Settings
	err := q.QueryRow(ctx, `SELECT coalesce(s.overnight_research_enabled, false),
		coalesce(s.morning_digest_enabled, false), coalesce(s.digest_timezone, 'UTC')
		FROM workspaces w LEFT JOIN workspace_settings s ON s.workspace_id = w.id
		WHERE w.id = $1`, wsID).Scan(&st.OvernightResearchEnabled, &st.MorningDigestEnabled, &st.DigestTimezone)
	if errors.Is(err, pgx.ErrNoRows) {
		return Settings{}, ErrNotMember
	}
	return st, dbErr("get settings", err)
}

// UpdateSettings applies p to the settings of workspace wsID on behalf of
// actorID, whose role is re-read under the workspace lock and must be admin
// or owner, and returns the settings. An empty patch changes nothing.
// Returns FORBIDDEN (not a member any more, or role too low),
// SERVICE_UNAVAILABLE or INTERNAL.
func (s *Store) UpdateSettings(ctx context.Context, wsID, actorID uuid.UUID, p SettingsPatch) (Settings, error) {
	var st Settings
	err := s.inTx(ctx, "update settings", func(tx pgx.Tx) error {
		role, err := lockWorkspace(ctx, tx, wsID, actorID)
		if err != nil {
			return err
		}
		if RoleRank(role) < RoleRank(RoleAdmin) {
			return errRoleTooLow
		}
		if p.OvernightResearchEnabled != nil || p.MorningDigestEnabled != nil || p.DigestTimezone != nil {
			// An upsert, so a workspace that lost its settings row gets one back.
			_, err := tx.Exec(ctx, `INSERT INTO workspace_settings AS s
				(workspace_id, overnight_research_enabled, morning_digest_enabled, digest_timezone)
				VALUES ($1, coalesce($2, false), coalesce($3, false), coalesce($4, 'UTC'))
				ON CONFLICT (workspace_id) DO UPDATE SET
					overnight_research_enabled = coalesce($2, s.overnight_research_enabled),
					morning_digest_enabled     = coalesce($3, s.morning_digest_enabled),
					digest_timezone            = coalesce($4, s.digest_timezone),
					updated_at                 = now()`,
				wsID, p.OvernightResearchEnabled, p.MorningDigestEnabled, p.DigestTimezone)
			if err != nil {
				return dbErr("update settings", err)
			}
		}
		st, err = getSettings(ctx, tx, wsID)
		return err
	})
	return st, err
}
