package store

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	// Embedded zone data, so which digest_timezone values are accepted does
	// not depend on the host's /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/praxiom/praxiom-api/internal/apperr"
)

// Limits of the workspace fields (api/openapi.yaml, Workspace).
const (
	MaxWorkspaceName   = 100
	MaxWorkspaceText   = 2000
	maxTimezoneNameLen = 64
)

// NewWorkspace is what a workspace is created from; CreateWorkspace
// validates it.
type NewWorkspace struct {
	Name               string
	ProductName        *string
	ProductDescription *string
	TargetUsers        *string
	CurrentStage       *string
}

// WorkspacePatch is a partial update of a workspace: unset fields are left
// alone, a null product field clears it; the name may not be null.
type WorkspacePatch struct {
	Name               Optional[string]
	ProductName        Optional[string]
	ProductDescription Optional[string]
	TargetUsers        Optional[string]
	CurrentStage       Optional[string]
}

func (p WorkspacePatch) empty() bool {
	return !p.Name.Set && !p.ProductName.Set && !p.ProductDescription.Set &&
		!p.TargetUsers.Set && !p.CurrentStage.Set
}

// checkWorkspaceName validates a name (1..100 characters after trimming)
// into problems and returns it trimmed.
func checkWorkspaceName(name string, problems map[string]string) string {
	name = strings.TrimSpace(name)
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		problems["name"] = "is required"
	case n > MaxWorkspaceName:
		problems["name"] = "must be at most 100 characters"
	}
	return name
}

// checkText validates an optional product field (at most 2,000 characters).
func checkText(field string, v *string, problems map[string]string) {
	if v != nil && utf8.RuneCountInString(*v) > MaxWorkspaceText {
		problems[field] = "must be at most 2000 characters"
	}
}

// setFields returns the names of the fields a patch sets, sorted.
func setFields(set map[string]bool) []string {
	var out []string
	for name, ok := range set {
		if ok {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

// problemsErr returns a VALIDATION_ERROR naming every field in p, or nil.
func problemsErr(p map[string]string) error {
	if len(p) == 0 {
		return nil
	}
	return apperr.Validation(p)
}

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

// CreateWorkspace creates a workspace owned by the actor (a user), in one
// transaction with the owner's membership, a trial subscription (status
// trialing, ending trialDays from now) and the default settings, and
// returns it as the owner sees it. Returns VALIDATION_ERROR naming every
// bad field (name missing, blank or over 100 characters; a product field
// over 2,000), FORBIDDEN for an actor that is not a user,
// SERVICE_UNAVAILABLE or INTERNAL.
func (s *Store) CreateWorkspace(ctx context.Context, a Actor, in NewWorkspace, trialDays int) (Workspace, error) {
	if a.Type != ActorUser {
		return Workspace{}, ErrRoleTooLow
	}
	problems := map[string]string{}
	in.Name = checkWorkspaceName(in.Name, problems)
	checkText("product_name", in.ProductName, problems)
	checkText("product_description", in.ProductDescription, problems)
	checkText("target_users", in.TargetUsers, problems)
	checkText("current_stage", in.CurrentStage, problems)
	if err := problemsErr(problems); err != nil {
		return Workspace{}, err
	}
	var w Workspace
	err := s.change(ctx, a, "create workspace", func(tx *changeTx) error {
		var wsID uuid.UUID
		err := tx.QueryRow(ctx, `INSERT INTO workspaces (name, product_name, product_description, target_users, current_stage)
			VALUES ($1, $2, $3, $4, $5) RETURNING id`,
			in.Name, in.ProductName, in.ProductDescription, in.TargetUsers, in.CurrentStage).Scan(&wsID)
		if err != nil {
			return workspaceWriteErr("create workspace: insert", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO workspace_members (workspace_id, user_id, role) VALUES ($1, $2, 'owner')`,
			wsID, a.ID); err != nil {
			return dbErr("create workspace: owner membership", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO subscriptions (workspace_id, plan, status, trial_ends_at)
			VALUES ($1, 'trial', 'trialing', now() + make_interval(days => $2))`, wsID, trialDays); err != nil {
			return dbErr("create workspace: subscription", err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO workspace_settings (workspace_id) VALUES ($1)`, wsID); err != nil {
			return dbErr("create workspace: settings", err)
		}
		tx.record(ActionWorkspaceCreated, &wsID, TargetWorkspace, wsID.String(), map[string]any{"name": in.Name})
		w, err = workspaceWithRole(ctx, tx, wsID, RoleOwner)
		return err
	})
	return w, err
}

// ListWorkspaces returns a page of the workspaces userID belongs to, each
// with userID's role, newest first (created_at, then id, descending), and
// how many there are in all. Returns SERVICE_UNAVAILABLE or INTERNAL.
func (s *Store) ListWorkspaces(ctx context.Context, userID uuid.UUID, limit, offset int) ([]Workspace, int, error) {
	// workspaceSelect joins the membership of $2; $1 names the same user here.
	return listPage(ctx, s.pool, "list workspaces", readWorkspace, offset,
		`SELECT ws.*, count(*) OVER () FROM (`+workspaceSelect+` WHERE m.user_id = $1) ws
		ORDER BY ws.created_at DESC, ws.id DESC LIMIT $3 OFFSET $4`, []any{userID, userID, limit, offset},
		`SELECT count(*) FROM workspace_members WHERE user_id = $1`, userID)
}

// UpdateWorkspace applies p to workspace wsID on behalf of a, whose role is
// re-read under the workspace lock and must be admin or owner, and returns
// the workspace as a sees it. An empty patch changes nothing (updated_at
// included). Returns VALIDATION_ERROR naming every bad field (a null or
// blank name, a name over 100 characters, a product field over 2,000),
// FORBIDDEN (not a member any more, or role too low), SERVICE_UNAVAILABLE or
// INTERNAL.
func (s *Store) UpdateWorkspace(ctx context.Context, a Actor, wsID uuid.UUID, p WorkspacePatch) (Workspace, error) {
	problems := map[string]string{}
	if p.Name.Set {
		if p.Name.Null {
			problems["name"] = "must not be null"
		} else {
			p.Name.Value = checkWorkspaceName(p.Name.Value, problems)
		}
	}
	for field, o := range map[string]Optional[string]{"product_name": p.ProductName,
		"product_description": p.ProductDescription, "target_users": p.TargetUsers, "current_stage": p.CurrentStage} {
		if o.Set {
			checkText(field, o.Ptr(), problems)
		}
	}
	if err := problemsErr(problems); err != nil {
		return Workspace{}, err
	}
	var w Workspace
	err := s.change(ctx, a, "update workspace", func(tx *changeTx) error {
		role, err := lockRole(ctx, tx, wsID, a, RoleAdmin)
		if err != nil {
			return err
		}
		if !p.empty() {
			_, err := tx.Exec(ctx, `UPDATE workspaces SET
				name                = CASE WHEN $2 THEN $3 ELSE name END,
				product_name        = CASE WHEN $4 THEN $5 ELSE product_name END,
				product_description = CASE WHEN $6 THEN $7 ELSE product_description END,
				target_users        = CASE WHEN $8 THEN $9 ELSE target_users END,
				current_stage       = CASE WHEN $10 THEN $11 ELSE current_stage END,
				updated_at          = now()
				WHERE id = $1`,
				wsID, p.Name.Set, p.Name.Value,
				p.ProductName.Set, p.ProductName.Ptr(),
				p.ProductDescription.Set, p.ProductDescription.Ptr(),
				p.TargetUsers.Set, p.TargetUsers.Ptr(),
				p.CurrentStage.Set, p.CurrentStage.Ptr())
			if err != nil {
				return workspaceWriteErr("update workspace", err)
			}
			tx.record(ActionWorkspaceUpdated, &wsID, TargetWorkspace, wsID.String(), map[string]any{"fields": setFields(map[string]bool{
				"name": p.Name.Set, "product_name": p.ProductName.Set, "product_description": p.ProductDescription.Set,
				"target_users": p.TargetUsers.Set, "current_stage": p.CurrentStage.Set})})
		}
		w, err = workspaceWithRole(ctx, tx, wsID, role)
		return err
	})
	return w, err
}

// DeleteWorkspace deletes workspace wsID on behalf of a, whose role is
// re-read under the workspace lock and must be owner; an impersonated
// session may not. Its members, invitations, API keys, subscription and
// settings go with it (ON DELETE CASCADE). Returns FORBIDDEN (not a member
// any more, not an owner, impersonating), SERVICE_UNAVAILABLE or INTERNAL.
func (s *Store) DeleteWorkspace(ctx context.Context, a Actor, wsID uuid.UUID) error {
	if a.Impersonator != "" {
		return ErrImpersonating
	}
	return s.change(ctx, a, "delete workspace", func(tx *changeTx) error {
		if _, err := lockRole(ctx, tx, wsID, a, RoleOwner); err != nil {
			return err
		}
		var name string
		if err := tx.QueryRow(ctx, `DELETE FROM workspaces WHERE id = $1 RETURNING name`, wsID).Scan(&name); err != nil {
			return dbErr("delete workspace", err)
		}
		tx.record(ActionWorkspaceDeleted, &wsID, TargetWorkspace, wsID.String(), map[string]any{"name": name})
		return nil
	})
}

// Settings are a workspace's settings.
type Settings struct {
	OvernightResearchEnabled bool
	MorningDigestEnabled     bool
	DigestTimezone           string
}

// SettingsPatch is a partial update of the settings; unset fields are left
// alone and none may be null.
type SettingsPatch struct {
	OvernightResearchEnabled Optional[bool]
	MorningDigestEnabled     Optional[bool]
	DigestTimezone           Optional[string]
}

// ValidTimezone reports whether name is an IANA time zone name. "" and
// "Local" load in Go but name no zone, so they are refused.
func ValidTimezone(name string) bool {
	if name == "" || name == "Local" || len(name) > maxTimezoneNameLen {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil
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
// a, whose role is re-read under the workspace lock and must be admin or
// owner, and returns the settings. An empty patch changes nothing. Returns
// VALIDATION_ERROR naming every bad field (a null, a digest_timezone that
// is not an IANA zone), FORBIDDEN (not a member any more, or role too low),
// SERVICE_UNAVAILABLE or INTERNAL.
func (s *Store) UpdateSettings(ctx context.Context, a Actor, wsID uuid.UUID, p SettingsPatch) (Settings, error) {
	problems := map[string]string{}
	for field, null := range map[string]bool{
		"overnight_research_enabled": p.OvernightResearchEnabled.Null,
		"morning_digest_enabled":     p.MorningDigestEnabled.Null, "digest_timezone": p.DigestTimezone.Null} {
		if null {
			problems[field] = "must not be null"
		}
	}
	if tz := p.DigestTimezone; tz.Set && !tz.Null && !ValidTimezone(tz.Value) {
		problems["digest_timezone"] = "must be an IANA time zone name such as Europe/London"
	}
	if err := problemsErr(problems); err != nil {
		return Settings{}, err
	}
	var st Settings
	err := s.change(ctx, a, "update settings", func(tx *changeTx) error {
		if _, err := lockRole(ctx, tx, wsID, a, RoleAdmin); err != nil {
			return err
		}
		if p.OvernightResearchEnabled.Set || p.MorningDigestEnabled.Set || p.DigestTimezone.Set {
			// An upsert, so a workspace that lost its settings row gets one back.
			_, err := tx.Exec(ctx, `INSERT INTO workspace_settings AS s
				(workspace_id, overnight_research_enabled, morning_digest_enabled, digest_timezone)
				VALUES ($1, coalesce($2, false), coalesce($3, false), coalesce($4, 'UTC'))
				ON CONFLICT (workspace_id) DO UPDATE SET
					overnight_research_enabled = coalesce($2, s.overnight_research_enabled),
					morning_digest_enabled     = coalesce($3, s.morning_digest_enabled),
					digest_timezone            = coalesce($4, s.digest_timezone),
					updated_at                 = now()`,
				wsID, p.OvernightResearchEnabled.Ptr(), p.MorningDigestEnabled.Ptr(), p.DigestTimezone.Ptr())
			if err != nil {
				return dbErr("update settings", err)
			}
			tx.record(ActionSettingsUpdated, &wsID, TargetWorkspace, wsID.String(), map[string]any{"fields": setFields(map[string]bool{
				"overnight_research_enabled": p.OvernightResearchEnabled.Set,
				"morning_digest_enabled":     p.MorningDigestEnabled.Set, "digest_timezone": p.DigestTimezone.Set})})
		}
		var err error
		st, err = getSettings(ctx, tx, wsID)
		return err
	})
	return st, err
}
