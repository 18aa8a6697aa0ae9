package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/randcode"
)

// Access statuses of a user.
const (
	StatusPending   = "pending"
	StatusActive    = "active"
	StatusSuspended = "suspended"
)

// User is a row of users.
type User struct {
	ID               uuid.UUID
	ClerkID          string
	Email            string
	Name             string
	AvatarURL        *string
	AccessStatus     string
	HasProductAccess bool
	IsFounder        bool
	IsAdmin          bool
	ReferralCode     string
	ActivatedAt      *time.Time
	ClerkUpdatedAt   *time.Time
	DeletedAt        *time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
	// Plan is the best plan among the user's workspaces ("trial" when none),
	// kept on the row by triggers (migration 00003), for rate limiting.
	Plan string
}

// Suspended reports whether the account is suspended.
func (u User) Suspended() bool { return u.AccessStatus == StatusSuspended }

// Profile is what Clerk tells us about a user, however it reached us (a
// webhook, the Backend API or token claims).
type Profile struct {
	ClerkID   string
	Email     string // lower-case
	Name      string
	AvatarURL *string
	// UpdatedAt is Clerk's updated_at; zero when unknown (token claims).
	UpdatedAt time.Time
}

// NewUserPolicy says how a user row starts.
type NewUserPolicy struct {
	// Active: PLG gating off, new users start active with product access.
	Active bool
}

const userColumns = `u.id, u.clerk_id, u.email, u.name, u.avatar_url, u.access_status,
	u.has_product_access, u.is_founder, u.is_admin, u.referral_code, u.activated_at,
	u.clerk_updated_at, u.deleted_at, u.created_at, u.updated_at, u.plan`

func scanUser(row pgx.Row, extra ...any) (User, error) {
	var u User
	dest := append([]any{&u.ID, &u.ClerkID, &u.Email, &u.Name, &u.AvatarURL, &u.AccessStatus,
		&u.HasProductAccess, &u.IsFounder, &u.IsAdmin, &u.ReferralCode, &u.ActivatedAt,
		&u.ClerkUpdatedAt, &u.DeletedAt, &u.CreatedAt, &u.UpdatedAt, &u.Plan}, extra...)
	err := row.Scan(dest...)
	return u, err
}

// UserByClerkID returns the user whose clerk_id is clerkID, tombstoned or
// not, with its plan. Returns NOT_FOUND or SERVICE_UNAVAILABLE.
func (s *Store) UserByClerkID(ctx context.Context, clerkID string) (User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.clerk_id = $1`, clerkID))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, apperr.New(apperr.NotFound, "User not found.")
	}
	return u, dbErr("user by clerk id", err)
}

// UpsertOutcome says what an upsert did.
type UpsertOutcome int

// Outcomes of UpsertUser.
const (
	Created    UpsertOutcome = iota // a new row
	Updated                         // newer data replaced older
	Unchanged                       // the stored data is as new or newer
	Tombstoned                      // the user was deleted; nothing changed
)

// UpsertUser creates the user of p, or updates it when p is newer than what
// is stored (by Clerk's updated_at; a profile without one never replaces
// data). A tombstoned user is never changed. Concurrent calls for one
// clerk_id create exactly one row. Returns the row as it stands after the
// call, and SERVICE_UNAVAILABLE or INTERNAL.
func (s *Store) UpsertUser(ctx context.Context, p Profile, policy NewUserPolicy) (User, UpsertOutcome, error) {
	return upsertUser(ctx, s.pool, p, policy)
}

func upsertUser(ctx context.Context, q querier, p Profile, policy NewUserPolicy) (User, UpsertOutcome, error) {
	var clerkUpdated *time.Time
	if !p.UpdatedAt.IsZero() {
		t := p.UpdatedAt.UTC()
		clerkUpdated = &t
	}
	status := StatusPending
	if policy.Active {
		status = StatusActive
	}
	// A referral code collision (31^8 codes) is retried with a fresh code.
	for attempt := 0; ; attempt++ {
		var inserted bool
		u, err := scanUser(q.QueryRow(ctx, `
			INSERT INTO users AS u (clerk_id, email, name, avatar_url, clerk_updated_at,
				access_status, has_product_access, activated_at, referral_code)
			VALUES ($1, $2, $3, $4, $5, $6, $7, CASE WHEN $7 THEN now() END, $8)
			ON CONFLICT (clerk_id) DO UPDATE SET
				email = excluded.email, name = excluded.name, avatar_url = excluded.avatar_url,
				clerk_updated_at = excluded.clerk_updated_at, updated_at = now()
			WHERE u.deleted_at IS NULL AND excluded.clerk_updated_at IS NOT NULL
				AND (u.clerk_updated_at IS NULL OR excluded.clerk_updated_at > u.clerk_updated_at)
			RETURNING `+userColumns+`, (xmax = 0)`,
			p.ClerkID, p.Email, p.Name, p.AvatarURL, clerkUpdated, status, policy.Active,
			randcode.String(8)), &inserted)
		switch {
		case err == nil && inserted:
			return u, Created, nil
		case err == nil:
			return u, Updated, nil
		case errors.Is(err, pgx.ErrNoRows):
			// The conflict's WHERE refused the update: stale or tombstoned.
			u, err := scanUser(q.QueryRow(ctx, `SELECT `+userColumns+` FROM users u WHERE u.clerk_id = $1`, p.ClerkID))
			if err != nil {
				return User{}, 0, dbErr("upsert user: reread", err)
			}
			if u.DeletedAt != nil {
				return u, Tombstoned, nil
			}
			return u, Unchanged, nil
		}
		if code, constraint := pgCode(err); code == uniqueViolation && constraint == "users_referral_code_key" && attempt < 5 {
			continue
		}
		return User{}, 0, dbErr("upsert user", err)
	}
}

// setUserFlag runs one account-administration update by email.
func (s *Store) setUserFlag(ctx context.Context, op, email, set string) (User, error) {
	u, err := scanUser(s.pool.QueryRow(ctx,
		`UPDATE users u SET `+set+`, updated_at = now() WHERE u.email = lower($1) AND u.deleted_at IS NULL RETURNING `+userColumns, email))
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, apperr.New(apperr.NotFound, "No user has that email.")
	}
	return u, dbErr(op, err)
}

// AdminAction names an account-administration change of `praxiom users`.
type AdminAction string

// The account-administration actions.
const (
	GrantAdmin   AdminAction = "grant-admin"
	RevokeAdmin  AdminAction = "revoke-admin"
	GrantFounder AdminAction = "grant-founder"
	GrantAccess  AdminAction = "grant-access"
	Suspend      AdminAction = "suspend"
	Unsuspend    AdminAction = "unsuspend"
)

var adminActions = map[AdminAction]string{
	GrantAdmin:   `is_admin = true`,
	RevokeAdmin:  `is_admin = false`,
	GrantFounder: `is_founder = true, has_product_access = true, access_status = CASE WHEN u.access_status = 'suspended' THEN 'suspended' ELSE 'active' END, activated_at = coalesce(u.activated_at, now())`,
	GrantAccess:  `has_product_access = true, access_status = CASE WHEN u.access_status = 'suspended' THEN 'suspended' ELSE 'active' END, activated_at = coalesce(u.activated_at, now())`,
	Suspend:      `access_status = 'suspended'`,
	Unsuspend:    `access_status = CASE WHEN u.activated_at IS NULL THEN 'pending' ELSE 'active' END`,
}

// AdministerUser applies action to the live user with that email.
// Returns NOT_FOUND, VALIDATION_ERROR for an unknown action, or SERVICE_UNAVAILABLE.
func (s *Store) AdministerUser(ctx context.Context, action AdminAction, email string) (User, error) {
	set, ok := adminActions[action]
	if !ok {
		return User{}, apperr.Validation(map[string]string{"action": "is unknown"})
	}
	return s.setUserFlag(ctx, "administer user "+string(action), email, set)
}

// userWithWorkspace reads a user ($1, a clerk_id) with workspace $2 as
// that user sees it: nothing of the workspace for outsiders.
var userWithWorkspace = `SELECT ` + userColumns + `, ` + workspaceColumns("m.role") + `
	FROM users u
	LEFT JOIN workspace_members m ON m.workspace_id = $2 AND m.user_id = u.id
	LEFT JOIN workspaces w ON w.id = m.workspace_id
	LEFT JOIN subscriptions s ON s.workspace_id = w.id
	WHERE u.clerk_id = $1`

// UserWithWorkspace returns the user of clerkID together with workspace
// wsID as that user sees it (nil when the user is not a member, or the
// workspace does not exist), in one round trip: an authenticated workspace
// request needs no other query to authorize, and GET of the workspace none
// to answer. Returns NOT_FOUND or SERVICE_UNAVAILABLE.
func (s *Store) UserWithWorkspace(ctx context.Context, clerkID string, wsID uuid.UUID) (User, *Workspace, error) {
	var ws workspaceScan
	u, err := scanUser(s.pool.QueryRow(ctx, userWithWorkspace, clerkID, wsID), ws.dest(true)...)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, nil, apperr.New(apperr.NotFound, "User not found.")
	}
	if err != nil {
		return User{}, nil, dbErr("user with workspace", err)
	}
	return u, ws.optional(), nil
}
