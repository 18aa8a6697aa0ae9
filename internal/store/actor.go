package store

import (
	"context"
	"errors"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/praxiom/praxiom-api/internal/apperr"
)

// ActorType says who asks for a change.
type ActorType string

// The kinds of actor (api/openapi.yaml, AuditEvent.actor.type).
const (
	ActorUser   ActorType = "user"    // a signed-in user (session token)
	ActorAPIKey ActorType = "api_key" // a workspace API key
	ActorSystem ActorType = "system"  // Clerk's webhook
	ActorCLI    ActorType = "cli"     // the praxiom command line
)

// Actor is who asks for a change and from where. Store methods take it as
// an argument (they never read identity from a context): a method that
// changes a workspace re-reads the actor's role under the workspace lock.
type Actor struct {
	Type ActorType
	// ID is the user's or the API key's id; uuid.Nil for system and cli.
	ID uuid.UUID
	// Name is how the audit log and the rows that say who made them
	// (invited_by_name, created_by_name) name the actor. For a user or an
	// API key it is read from the user's or the key's row where it is
	// written (actorName), so that the chain need not read it on every
	// request: set, it is used only if that row is gone.
	Name string
	// Impersonator is the Clerk user id of an admin acting as this user
	// (a session's act.sub); empty otherwise.
	Impersonator string
	// RequestID and IP say where the change came from.
	RequestID, IP string
}

// UserActor is u acting through a session.
func UserActor(u User) Actor { return CallerActor(u.Caller()) }

// CallerActor is c acting through a session.
func CallerActor(c Caller) Actor { return Actor{Type: ActorUser, ID: c.ID} }

// KeyActor is k acting.
func KeyActor(k KeyCaller) Actor { return Actor{Type: ActorAPIKey, ID: k.ID} }

// actorName is the SQL of an actor's name as a change records it, from its
// parameters: typ (the actor's type, text), id (its id, uuid) and name
// (Actor.Name, text). A user's name, or "API key " and a key's name, is
// read from its row by the statement that writes it, so it is the name at
// the time of the change; name stands in when there is no such row.
func actorName(typ, id, name string) string {
	return `coalesce(CASE ` + typ + `::text
		WHEN 'user' THEN (SELECT u.name FROM users u WHERE u.id = ` + id + `::uuid)
		WHEN 'api_key' THEN (SELECT 'API key ' || k.name FROM api_keys k WHERE k.id = ` + id + `::uuid) END, ` + name + `::text)`
}

// CLIActor is the praxiom command line.
var CLIActor = Actor{Type: ActorCLI, Name: "praxiom command line"}

// SystemActor is Clerk's webhook.
var SystemActor = Actor{Type: ActorSystem, Name: "Clerk"}

// Errors of the role checks under the workspace lock.
var (
	// ErrNotMember is the answer for outsiders and for workspaces that do
	// not exist alike, so existence is never revealed.
	ErrNotMember = apperr.New(apperr.Forbidden, "You are not a member of this workspace.")
	// ErrRoleTooLow is the answer when the actor's role (read under the
	// workspace lock, or by the HTTP layer's role rule) does not allow the
	// change.
	ErrRoleTooLow = apperr.New(apperr.Forbidden, "Your role in this workspace does not allow this.")
	// ErrImpersonating is the answer to a change an impersonated session
	// may not make (api/openapi.yaml, "Impersonation").
	ErrImpersonating = apperr.New(apperr.Forbidden, "Not allowed while impersonating.")
	// errKeyGone: the key was revoked or expired while its request ran.
	errKeyGone = apperr.New(apperr.Unauthorized, "The API key is revoked or expired.")
)

// lockRole takes the per-workspace lock (the workspace row, FOR UPDATE)
// that every change to who may do what holds, then reads the actor's role
// in a statement of its own and requires at least min. The role must not
// come from the locking statement: under READ COMMITTED, when that
// statement waited, PostgreSQL re-checks only the locked row and would hand
// back the membership as it was before the wait. A user's role is its
// membership; an API key's is its own, while it is live and of this
// workspace. Returns FORBIDDEN (not, or no longer, a member; the workspace
// is gone; role below min), UNAUTHORIZED (a key revoked meanwhile),
// SERVICE_UNAVAILABLE.
func lockRole(ctx context.Context, tx pgx.Tx, wsID uuid.UUID, a Actor, min string) (string, error) {
	var id uuid.UUID
	err := tx.QueryRow(ctx, `SELECT id FROM workspaces WHERE id = $1 FOR UPDATE`, wsID).Scan(&id)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", ErrNotMember
	}
	if err != nil {
		return "", dbErr("lock workspace", err)
	}
	var role string
	switch a.Type {
	case ActorUser:
		role, err = memberRole(ctx, tx, wsID, a.ID, ErrNotMember)
	case ActorAPIKey:
		err = tx.QueryRow(ctx, `SELECT k.role FROM api_keys k WHERE k.id = $1 AND k.workspace_id = $2
			AND `+apiKeyLive, a.ID, wsID).Scan(&role)
		if errors.Is(err, pgx.ErrNoRows) {
			err = errKeyGone
		}
	default:
		return "", ErrRoleTooLow
	}
	if err != nil {
		return "", dbErr("lock workspace: role", err)
	}
	if RoleRank(role) < RoleRank(min) {
		return "", ErrRoleTooLow
	}
	return role, nil
}

// memberRole reads userID's role in workspace wsID inside tx. Returns absent
// when userID is not a member.
func memberRole(ctx context.Context, tx pgx.Tx, wsID, userID uuid.UUID, absent error) (string, error) {
	var role string
	err := tx.QueryRow(ctx, `SELECT role FROM workspace_members WHERE workspace_id = $1 AND user_id = $2`,
		wsID, userID).Scan(&role)
	if errors.Is(err, pgx.ErrNoRows) {
		return "", absent
	}
	return role, dbErr("member role", err)
}

// requireOtherOwner returns LAST_OWNER unless workspace wsID has an owner
// other than userID. The caller holds the workspace lock, so the answer
// stays true until commit.
func requireOtherOwner(ctx context.Context, tx pgx.Tx, wsID, userID uuid.UUID) error {
	var others bool
	err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM workspace_members
		WHERE workspace_id = $1 AND role = 'owner' AND user_id <> $2)`, wsID, userID).Scan(&others)
	if err != nil {
		return dbErr("count owners", err)
	}
	if !others {
		return errLastOwner
	}
	return nil
}
