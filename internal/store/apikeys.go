package store

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/praxiom/praxiom-api/internal/apikey"
	"github.com/praxiom/praxiom-api/internal/apperr"
)

// Limits of API keys (api/openapi.yaml, "API keys").
const (
	MaxAPIKeysPerWorkspace = 100
	MaxAPIKeyName          = 100
)

// APIKey is a row of api_keys; the key itself is never stored.
type APIKey struct {
	ID            uuid.UUID
	WorkspaceID   uuid.UUID
	Name          string
	Prefix        string
	Role          string
	ReadOnly      bool
	CreatedByID   *uuid.UUID
	CreatedByName string
	CreatedAt     time.Time
	ExpiresAt     *time.Time
	LastUsedAt    *time.Time
}

const apiKeyColumns = `k.id, k.workspace_id, k.name, k.prefix, k.role, k.read_only, k.created_by,
	k.created_by_name, k.created_at, k.expires_at, k.last_used_at`

// readAPIKey reads apiKeyColumns.
func readAPIKey(r *row) APIKey {
	return APIKey{ID: r.uuid(), WorkspaceID: r.uuid(), Name: r.text(), Prefix: r.text(), Role: r.text(),
		ReadOnly: r.bool(), CreatedByID: r.uuidPtr(), CreatedByName: r.text(), CreatedAt: r.time(),
		ExpiresAt: r.timePtr(), LastUsedAt: r.timePtr()}
}

// KeyCaller is the part of an API key that the chain in front of a route
// reads: who acts and what it may do. A request with a key reads it with
// the key's workspace in one query. The key's name is not read: the changes
// that record it read it as they write (actorName).
type KeyCaller struct {
	ID       uuid.UUID
	ReadOnly bool
}

// keyCallerColumns are a KeyCaller's columns of api_keys k. The key's role
// is the workspace's Role (workspaceColumns("k.role")).
const keyCallerColumns = `k.id, k.read_only`

// readKeyCaller reads keyCallerColumns.
func readKeyCaller(r *row) KeyCaller {
	return KeyCaller{ID: r.uuid(), ReadOnly: r.bool()}
}

// apiKeyLive is the condition of a key that may be used.
const apiKeyLive = `k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > now())`

// apiKeyWithWorkspace reads the live key whose hash is $1 with its
// workspace as the key sees it (the key's role).
var apiKeyWithWorkspace = `SELECT ` + keyCallerColumns + `, ` + workspaceColumns("k.role") + `
	FROM api_keys k
	JOIN workspaces w ON w.id = k.workspace_id
	LEFT JOIN subscriptions s ON s.workspace_id = w.id
	WHERE k.key_hash = $1 AND ` + apiKeyLive

// APIKeyByHash returns the live key whose SHA-256 is hash with its
// workspace as the key sees it, in one round trip: a request with a key
// needs no other query to authorize, like one with a session. Returns
// NOT_FOUND for an unknown, revoked or expired key, SERVICE_UNAVAILABLE.
func (s *Store) APIKeyByHash(ctx context.Context, hash [32]byte) (KeyCaller, Workspace, error) {
	var (
		k  KeyCaller
		ws Workspace
	)
	err := queryRow(ctx, s.pool, apiKeyWithWorkspace, []any{hash[:]}, func(r *row) { k, ws = readKeyCaller(r), readWorkspace(r) })
	if errors.Is(err, pgx.ErrNoRows) {
		return KeyCaller{}, Workspace{}, apperr.New(apperr.NotFound, "No such API key.")
	}
	if err != nil {
		return KeyCaller{}, Workspace{}, dbErr("api key by hash", err)
	}
	return k, ws, nil
}

// NewAPIKey is what a key is made from; CreateAPIKey validates it.
type NewAPIKey struct {
	Name      string
	Role      string
	ReadOnly  bool
	ExpiresAt *time.Time
}

// problems returns what is wrong with n as of now, by request field name.
func (n *NewAPIKey) problems(now time.Time) map[string]string {
	p := map[string]string{}
	n.Name = strings.TrimSpace(n.Name)
	switch c := utf8.RuneCountInString(n.Name); {
	case c == 0:
		p["name"] = "is required"
	case c > MaxAPIKeyName:
		p["name"] = "must be at most 100 characters"
	}
	switch n.Role {
	case RoleMember, RoleAdmin:
	case "":
		p["role"] = "is required"
	default:
		p["role"] = "must be member or admin"
	}
	if e := n.ExpiresAt; e != nil && (!e.After(now) || e.After(now.AddDate(1, 0, 0))) {
		p["expires_at"] = "must be null or a future time at most a year ahead"
	}
	return p
}

var errAPIKeyLimit = apperr.New(apperr.APIKeyLimit, "This workspace already has 100 live API keys; revoke one first.")

// CreateAPIKey makes a key for workspace wsID on behalf of a, a user acting
// through a session (not impersonated), whose role is re-read under the
// workspace lock and must be admin or owner. It returns the key's row and
// the key itself, which is never stored and never shown again. Returns
// VALIDATION_ERROR naming every bad field (name blank or over 100
// characters, role other than member or admin, expires_at not in the
// future or more than a year ahead), FORBIDDEN (an API key or an
// impersonated session; not a member any more; role too low), API_KEY_LIMIT
// when the workspace has 100 live keys, SERVICE_UNAVAILABLE.
func (s *Store) CreateAPIKey(ctx context.Context, a Actor, wsID uuid.UUID, n NewAPIKey) (APIKey, string, error) {
	if a.Type != ActorUser {
		return APIKey{}, "", ErrRoleTooLow
	}
	if a.Impersonator != "" {
		return APIKey{}, "", ErrImpersonating
	}
	if err := problemsErr(n.problems(time.Now())); err != nil {
		return APIKey{}, "", err
	}
	secret := apikey.New()
	hash := apikey.Hash(secret)
	var k APIKey
	err := s.change(ctx, a, "create api key", func(tx *changeTx) error {
		if _, err := lockRole(ctx, tx, wsID, a, RoleAdmin); err != nil {
			return err
		}
		var live int
		if err := tx.QueryRow(ctx, `SELECT count(*) FROM api_keys k WHERE k.workspace_id = $1 AND `+apiKeyLive,
			wsID).Scan(&live); err != nil {
			return dbErr("create api key: count", err)
		}
		if live >= MaxAPIKeysPerWorkspace {
			return errAPIKeyLimit
		}
		err := queryRow(ctx, tx, `INSERT INTO api_keys AS k
			(workspace_id, name, prefix, key_hash, role, read_only, created_by, created_by_name, expires_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, `+actorName("$10", "$7", "$8")+`, $9) RETURNING `+apiKeyColumns,
			[]any{wsID, n.Name, apikey.Prefix(secret), hash[:], n.Role, n.ReadOnly, a.ID, a.Name, n.ExpiresAt, string(a.Type)},
			func(r *row) { k = readAPIKey(r) })
		if err != nil {
			return dbErr("create api key: insert", err)
		}
		tx.record(ActionAPIKeyCreated, &wsID, TargetAPIKey, k.ID.String(),
			map[string]any{"name": k.Name, "prefix": k.Prefix, "role": k.Role, "read_only": k.ReadOnly})
		return nil
	})
	if err != nil {
		return APIKey{}, "", err
	}
	return k, secret, nil
}

// ListAPIKeys returns a page of the live keys of workspace wsID, newest
// first, and how many there are. Returns SERVICE_UNAVAILABLE.
func (s *Store) ListAPIKeys(ctx context.Context, wsID uuid.UUID, limit, offset int) ([]APIKey, int, error) {
	return listPage(ctx, s.pool, "list api keys", readAPIKey, offset,
		`SELECT `+apiKeyColumns+`, count(*) OVER () FROM api_keys k
		WHERE k.workspace_id = $1 AND `+apiKeyLive+`
		ORDER BY k.created_at DESC, k.id DESC LIMIT $2 OFFSET $3`, []any{wsID, limit, offset},
		`SELECT count(*) FROM api_keys k WHERE k.workspace_id = $1 AND `+apiKeyLive, wsID)
}

// RevokeAPIKey revokes key keyID of workspace wsID on behalf of a, a user
// acting through a session, whose role is re-read under the workspace lock
// and must be admin or owner; from the next request on, the key is refused
// everywhere (every request reads it). Returns NOT_FOUND for a key that is
// unknown in this workspace or already revoked, FORBIDDEN (an API key; not a
// member any more; role too low), SERVICE_UNAVAILABLE.
func (s *Store) RevokeAPIKey(ctx context.Context, a Actor, wsID, keyID uuid.UUID) error {
	if a.Type != ActorUser {
		return ErrRoleTooLow
	}
	return s.change(ctx, a, "revoke api key", func(tx *changeTx) error {
		if _, err := lockRole(ctx, tx, wsID, a, RoleAdmin); err != nil {
			return err
		}
		var name, prefix string
		err := tx.QueryRow(ctx, `UPDATE api_keys SET revoked_at = now()
			WHERE id = $1 AND workspace_id = $2 AND revoked_at IS NULL RETURNING name, prefix`, keyID, wsID).Scan(&name, &prefix)
		if errors.Is(err, pgx.ErrNoRows) {
			return apperr.New(apperr.NotFound, "No such API key in this workspace.")
		}
		if err != nil {
			return dbErr("revoke api key", err)
		}
		tx.record(ActionAPIKeyRevoked, &wsID, TargetAPIKey, keyID.String(), map[string]any{"name": name, "prefix": prefix})
		return nil
	})
}

// TouchAPIKeys records when keys were last used, in one statement for a
// whole batch; a time older than the one stored changes nothing. Returns
// SERVICE_UNAVAILABLE.
func (s *Store) TouchAPIKeys(ctx context.Context, used map[uuid.UUID]time.Time) error {
	if len(used) == 0 {
		return nil
	}
	ids := make([]uuid.UUID, 0, len(used))
	ats := make([]time.Time, 0, len(used))
	for id, at := range used {
		ids = append(ids, id)
		ats = append(ats, at)
	}
	_, err := s.pool.Exec(ctx, `UPDATE api_keys k SET last_used_at = t.at
		FROM unnest($1::uuid[], $2::timestamptz[]) AS t(id, at)
		WHERE k.id = t.id AND (k.last_used_at IS NULL OR k.last_used_at < t.at)`, ids, ats)
	return dbErr("touch api keys", err)
}

// DeadAPIKeyRetention is how long a revoked or expired key's row is kept
// (its audit events outlive it): without a bound, creating and revoking
// keys would add a row every two requests.
const DeadAPIKeyRetention = 30 * 24 * time.Hour

// PruneAPIKeys deletes the keys revoked or expired more than
// DeadAPIKeyRetention ago, in batches, and returns how many it deleted.
// Returns SERVICE_UNAVAILABLE.
func (s *Store) PruneAPIKeys(ctx context.Context) (int64, error) {
	return s.deleteInBatches(ctx, "prune api keys", `DELETE FROM api_keys WHERE id IN (
		SELECT id FROM api_keys WHERE revoked_at < now() - $1::interval OR expires_at < now() - $1::interval
		LIMIT $2)`, DeadAPIKeyRetention)
}
