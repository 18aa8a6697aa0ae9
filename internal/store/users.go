package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
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

// User is a row of users: its Account and the two columns only identity
// (Clerk's sync and the email matches) reads.
type User struct {
	Account
	// EmailVerified says whether Clerk verified Email (migration 00004).
	// Only a verified email is identity: invitations and the account
	// administration commands match verified emails only.
	EmailVerified  bool
	ClerkUpdatedAt *time.Time
}

// Account is a user as the user's own routes read it (the chain in front
// of them, GET /api/auth/me): 16 columns, the most pgx describes in a
// result without a new slice per query (docs/performance.md).
type Account struct {
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
	DeletedAt        *time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
	// Plan is the best plan among the user's workspaces ("trial" when none),
	// kept on the row by triggers (migration 00003), for rate limiting.
	Plan string
	// ReferralCount is how many waitlist entries named the user's referral
	// code, kept on the row by triggers (migration 00006).
	ReferralCount int
}

// Caller is the part of a user that the chain in front of a workspace route
// reads: who acts, whether they may (suspension, deletion) and their
// rate-limit plan. A workspace route reads it with the workspace in one
// query; three columns instead of the user's eighteen are a measurable part
// of that query's cost (docs/performance.md). The user's name is not among
// them: the few changes that record it read it as they write (actorName).
type Caller struct {
	ID           uuid.UUID
	AccessStatus string
	Plan         string
	// Deleted: the user is tombstoned (deleted_at is set).
	Deleted bool
}

// Suspended reports whether the account is suspended.
func (c Caller) Suspended() bool { return c.AccessStatus == StatusSuspended }

// Caller returns the part of a that Caller holds.
func (a Account) Caller() Caller {
	return Caller{ID: a.ID, AccessStatus: a.AccessStatus, Plan: a.Plan, Deleted: a.DeletedAt != nil}
}

// Profile is what Clerk tells us about a user, however it reached us (a
// webhook, the Backend API or token claims).
type Profile struct {
	ClerkID string
	Email   string // lower-case
	// EmailVerified: Clerk says Email is verified (clerkuser.ProfileFromUser).
	// A profile built from token claims, which only happens without a Clerk
	// secret key (development and tests), counts as verified. A user whose
	// email is not verified starts without product access whatever the
	// policy, and cannot accept invitations.
	EmailVerified bool
	Name          string
	AvatarURL     *string
	// UpdatedAt is Clerk's updated_at; zero when unknown (token claims).
	UpdatedAt time.Time
}

// NewUserPolicy says how a user row starts.
type NewUserPolicy struct {
	// Active: PLG gating off, new users start active with product access.
	Active bool
}

// accountColumns are an Account's columns of users u; userColumns a
// User's: the same, then email_verified and clerk_updated_at.
const (
	accountColumns = `u.id, u.clerk_id, u.email, u.name, u.avatar_url, u.access_status,
	u.has_product_access, u.is_founder, u.is_admin, u.referral_code, u.activated_at,
	u.deleted_at, u.created_at, u.updated_at, u.plan, u.referral_count`
	userColumns = accountColumns + `, u.email_verified, u.clerk_updated_at`
)

// readAccount reads accountColumns.
func readAccount(r *row) Account {
	return Account{ID: r.uuid(), ClerkID: r.text(), Email: r.text(), Name: r.text(),
		AvatarURL: r.textPtr(), AccessStatus: r.text(), HasProductAccess: r.bool(), IsFounder: r.bool(),
		IsAdmin: r.bool(), ReferralCode: r.text(), ActivatedAt: r.timePtr(),
		DeletedAt: r.timePtr(), CreatedAt: r.time(), UpdatedAt: r.time(), Plan: r.text(), ReferralCount: r.int()}
}

// readUser reads userColumns.
func readUser(r *row) User {
	return User{Account: readAccount(r), EmailVerified: r.bool(), ClerkUpdatedAt: r.timePtr()}
}

// queryUser runs sql, which selects userColumns of at most one user, and
// reads it. Returns pgx.ErrNoRows when there is none.
func queryUser(ctx context.Context, q querier, sql string, args ...any) (User, error) {
	var u User
	err := queryRow(ctx, q, sql, args, func(r *row) { u = readUser(r) })
	return u, err
}

// UserByClerkID returns the user whose clerk_id is clerkID, tombstoned or
// not, with its plan. Returns NOT_FOUND or SERVICE_UNAVAILABLE.
func (s *Store) UserByClerkID(ctx context.Context, clerkID string) (User, error) {
	u, err := queryUser(ctx, s.pool, `SELECT `+userColumns+` FROM users u WHERE u.clerk_id = $1`, clerkID)
	if errors.Is(err, pgx.ErrNoRows) {
		return User{}, apperr.New(apperr.NotFound, "User not found.")
	}
	return u, dbErr("user by clerk id", err)
}

// accountByClerkID reads the Account of a clerk_id ($1).
const accountByClerkID = `SELECT ` + accountColumns + ` FROM users u WHERE u.clerk_id = $1`

// AccountByClerkID is UserByClerkID's Account: what the chain reads on
// the caller's own routes. Returns NOT_FOUND or SERVICE_UNAVAILABLE.
func (s *Store) AccountByClerkID(ctx context.Context, clerkID string) (Account, error) {
	var a Account
	err := queryRow(ctx, s.pool, accountByClerkID, []any{clerkID}, func(r *row) { a = readAccount(r) })
	if errors.Is(err, pgx.ErrNoRows) {
		return Account{}, apperr.New(apperr.NotFound, "User not found.")
	}
	return a, dbErr("account by clerk id", err)
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
// clerk_id create exactly one row. A new user starts as policy says only
// when its email is verified; otherwise pending without product access. An
// update that brings the first verified email to a user still waiting for
// that (pending, never activated) applies policy then. Returns the row as it
// stands after the call, and SERVICE_UNAVAILABLE or INTERNAL.
func (s *Store) UpsertUser(ctx context.Context, p Profile, policy NewUserPolicy) (User, UpsertOutcome, error) {
	return upsertUser(ctx, s.pool, p, policy)
}

// activateOnVerify is true in the upsert's update when the stored user
// waits for a verified email to be granted what policy gives new users ($9).
const activateOnVerify = `($9 AND excluded.email_verified AND NOT u.email_verified
	AND u.access_status = 'pending' AND u.activated_at IS NULL)`

func upsertUser(ctx context.Context, q querier, p Profile, policy NewUserPolicy) (User, UpsertOutcome, error) {
	var clerkUpdated *time.Time
	if !p.UpdatedAt.IsZero() {
		t := p.UpdatedAt.UTC()
		clerkUpdated = &t
	}
	active := policy.Active && p.EmailVerified
	status := StatusPending
	if active {
		status = StatusActive
	}
	// A referral code collision (31^8 codes) is retried with a fresh code.
	for attempt := 0; ; attempt++ {
		var (
			u        User
			inserted bool
		)
		err := queryRow(ctx, q, `
			INSERT INTO users AS u (clerk_id, email, email_verified, name, avatar_url, clerk_updated_at,
				access_status, has_product_access, activated_at, referral_code)
			VALUES ($1, $2, $10, $3, $4, $5, $6, $7, CASE WHEN $7 THEN now() END, $8)
			ON CONFLICT (clerk_id) DO UPDATE SET
				email = excluded.email, email_verified = excluded.email_verified,
				name = excluded.name, avatar_url = excluded.avatar_url,
				clerk_updated_at = excluded.clerk_updated_at, updated_at = now(),
				access_status = CASE WHEN `+activateOnVerify+` THEN 'active' ELSE u.access_status END,
				has_product_access = u.has_product_access OR `+activateOnVerify+`,
				activated_at = CASE WHEN `+activateOnVerify+` THEN now() ELSE u.activated_at END
			WHERE u.deleted_at IS NULL AND excluded.clerk_updated_at IS NOT NULL
				AND (u.clerk_updated_at IS NULL OR excluded.clerk_updated_at > u.clerk_updated_at)
			RETURNING `+userColumns+`, (xmax = 0)`,
			[]any{p.ClerkID, p.Email, p.Name, p.AvatarURL, clerkUpdated, status, active,
				randcode.String(8), policy.Active, p.EmailVerified},
			func(r *row) { u, inserted = readUser(r), r.bool() })
		switch {
		case err == nil && inserted:
			return u, Created, nil
		case err == nil:
			return u, Updated, nil
		case errors.Is(err, pgx.ErrNoRows):
			// The conflict's WHERE refused the update: stale or tombstoned.
			u, err := queryUser(ctx, q, `SELECT `+userColumns+` FROM users u WHERE u.clerk_id = $1`, p.ClerkID)
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

// UserSelector picks the one user an account-administration action
// changes: by Clerk id, or by email. Exactly one of the two is set (ByEmail,
// ByClerkID).
type UserSelector struct {
	// Email matches live users whose verified email it is (case-insensitive).
	Email string
	// ClerkID matches the live user with that Clerk id.
	ClerkID string
}

// ByEmail selects the live user whose verified email is email.
func ByEmail(email string) UserSelector { return UserSelector{Email: email} }

// ByClerkID selects the live user whose Clerk id is id.
func ByClerkID(id string) UserSelector { return UserSelector{ClerkID: id} }

// AmbiguousEmailError is the cause of the VALIDATION_ERROR AdministerUser
// returns when an email matches several live users: emails are not unique
// in the table (a missed user.updated can leave a stale one), so such an
// email cannot say which user is meant.
type AmbiguousEmailError struct {
	Email string
	// ClerkIDs are the matching users' Clerk ids, sorted.
	ClerkIDs []string
}

func (e *AmbiguousEmailError) Error() string {
	return fmt.Sprintf("store: %s matches %d live users: %s", e.Email, len(e.ClerkIDs), strings.Join(e.ClerkIDs, ", "))
}

// adminAuditActions are the audit log's names of the account actions.
var adminAuditActions = map[AdminAction]Action{
	GrantAdmin: ActionUserAdminGranted, RevokeAdmin: ActionUserAdminRevoked, GrantFounder: ActionUserFounderGranted,
	GrantAccess: ActionUserAccessGranted, Suspend: ActionUserSuspended, Unsuspend: ActionUserUnsuspended,
}

// AdministerUser applies action to the one live user sel selects, in one
// transaction that locks the matching rows first. An email selects only a
// user whose email is verified. Returns NOT_FOUND when no live user
// matches; VALIDATION_ERROR for an unknown action, a selector that sets
// neither or both fields, or an email that matches more than one live user
// (field "email" lists their Clerk ids; the cause is an
// *AmbiguousEmailError), in which case nothing changes; SERVICE_UNAVAILABLE.
func (s *Store) AdministerUser(ctx context.Context, action AdminAction, sel UserSelector) (User, error) {
	set, ok := adminActions[action]
	if !ok {
		return User{}, apperr.Validation(map[string]string{"action": "is unknown"})
	}
	var where, arg, notFound string
	switch {
	case (sel.Email == "") == (sel.ClerkID == ""):
		return User{}, apperr.Validation(map[string]string{"user": "give either an email or a Clerk id"})
	case sel.Email != "":
		where, arg, notFound = `u.email = lower($1) AND u.email_verified`, sel.Email, "No live user has that verified email."
	default:
		where, arg, notFound = `u.clerk_id = $1`, sel.ClerkID, "No live user has that Clerk id."
	}
	op := "administer user " + string(action)
	var u User
	err := s.change(ctx, CLIActor, op, func(tx *changeTx) error {
		rows, err := tx.Query(ctx, `SELECT u.id, u.clerk_id FROM users u
			WHERE `+where+` AND u.deleted_at IS NULL ORDER BY u.clerk_id FOR UPDATE`, arg)
		if err != nil {
			return dbErr(op+": select", err)
		}
		type match struct {
			ID      uuid.UUID
			ClerkID string
		}
		matches, err := pgx.CollectRows(rows, pgx.RowToStructByPos[match])
		if err != nil {
			return dbErr(op+": select", err)
		}
		switch len(matches) {
		case 0:
			return apperr.New(apperr.NotFound, notFound)
		case 1:
		default:
			ids := make([]string, len(matches))
			for i, m := range matches {
				ids[i] = m.ClerkID
			}
			return &apperr.Error{Code: apperr.ValidationError, Message: "The email matches more than one live user.",
				Fields: map[string]string{"email": fmt.Sprintf("matches %d live users: %s", len(ids), strings.Join(ids, ", "))},
				Err:    &AmbiguousEmailError{Email: sel.Email, ClerkIDs: ids}}
		}
		u, err = queryUser(ctx, tx, `UPDATE users u SET `+set+`, updated_at = now()
			WHERE u.id = $1 RETURNING `+userColumns, matches[0].ID)
		if err != nil {
			return dbErr(op, err)
		}
		tx.record(adminAuditActions[action], nil, TargetUser, u.ID.String(), map[string]any{"clerk_id": u.ClerkID})
		return nil
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// callerColumns are a Caller's columns of users u. The access status is
// NULL for a tombstoned user: one column where a deleted flag made two.
// userWithWorkspace selects 15 columns with them; pgx describes up to 16
// without a new slice per query (docs/performance.md), so the statement
// has room for one more.
const callerColumns = `u.id, CASE WHEN u.deleted_at IS NULL THEN u.access_status END, u.plan`

// readCaller reads callerColumns.
func readCaller(r *row) Caller {
	c := Caller{ID: r.uuid()}
	if v, _ := r.peek(); v == nil {
		r.i++
		c.Deleted = true
	} else {
		c.AccessStatus = r.text()
	}
	c.Plan = r.text()
	return c
}

// userWithWorkspace reads a caller ($1, a clerk_id) with workspace $2 as
// that user sees it: nothing of the workspace for outsiders.
//
// The membership is a lateral look-up by both key columns (LIMIT 1 keeps
// the planner from flattening it into a join), so PostgreSQL reads it with
// one index probe (workspace_id, user_id) whatever the statistics say of
// the workspace; a plain join may read a workspace's members first.
var userWithWorkspace = `SELECT ` + callerColumns + `, ` + workspaceColumns("m.role") + `
	FROM users u
	LEFT JOIN LATERAL (SELECT role, workspace_id FROM workspace_members
		WHERE workspace_id = $2 AND user_id = u.id LIMIT 1) m ON true
	LEFT JOIN workspaces w ON w.id = m.workspace_id
	LEFT JOIN subscriptions s ON s.workspace_id = w.id
	WHERE u.clerk_id = $1`

// UserWithWorkspace returns the caller of clerkID (tombstoned or not)
// together with workspace wsID as that user sees it (nil when the user is
// not a member, or the workspace does not exist), in one round trip: an
// authenticated workspace request needs no other query to authorize, and
// GET of the workspace none to answer. Returns NOT_FOUND or
// SERVICE_UNAVAILABLE.
func (s *Store) UserWithWorkspace(ctx context.Context, clerkID string, wsID uuid.UUID) (Caller, *Workspace, error) {
	var (
		c  Caller
		ws *Workspace
	)
	err := queryRow(ctx, s.pool, userWithWorkspace, []any{clerkID, wsID}, func(r *row) {
		c, ws = readCaller(r), readOptionalWorkspace(r)
	})
	if errors.Is(err, pgx.ErrNoRows) {
		return Caller{}, nil, apperr.New(apperr.NotFound, "User not found.")
	}
	if err != nil {
		return Caller{}, nil, dbErr("user with workspace", err)
	}
	return c, ws, nil
}
