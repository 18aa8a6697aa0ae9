package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/praxiom/praxiom-api/internal/apperr"
)

// Member is a member of a workspace with its user's profile.
type Member struct {
	UserID    uuid.UUID
	Email     string
	Name      string
	AvatarURL *string
	Role      string
	JoinedAt  time.Time
}

// memberSelect reads members of the workspace $1; callers add conditions.
const memberSelect = `SELECT m.user_id, u.email, u.name, u.avatar_url, m.role, m.joined_at
	FROM workspace_members m JOIN users u ON u.id = m.user_id
	WHERE m.workspace_id = $1`

func scanMember(row pgx.Row, extra ...any) (Member, error) {
	var m Member
	dest := append([]any{&m.UserID, &m.Email, &m.Name, &m.AvatarURL, &m.Role, &m.JoinedAt}, extra...)
	err := row.Scan(dest...)
	return m, err
}

var (
	errMemberNotFound = apperr.New(apperr.NotFound, "That user is not a member of this workspace.")
	errLastOwner      = apperr.New(apperr.LastOwner, "The workspace must keep at least one owner.")
	errOwnersOnly     = apperr.New(apperr.Forbidden, "Only owners may grant the owner role or change or remove an owner.")
)

// ListMembers returns a page of the members of workspace wsID in the order
// they joined (joined_at, then user_id), and how many there are in all.
// Returns SERVICE_UNAVAILABLE or INTERNAL.
func (s *Store) ListMembers(ctx context.Context, wsID uuid.UUID, limit, offset int) ([]Member, int, error) {
	return listPage(ctx, s.pool, "list members", scanMember, offset,
		`SELECT mm.*, count(*) OVER () FROM (`+memberSelect+`) mm
		ORDER BY mm.joined_at, mm.user_id LIMIT $2 OFFSET $3`, []any{wsID, limit, offset},
		`SELECT count(*) FROM workspace_members WHERE workspace_id = $1`, wsID)
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

// otherOwners counts the owners of workspace wsID other than userID. The
// caller holds the workspace lock, so the count stays true until commit.
func otherOwners(ctx context.Context, tx pgx.Tx, wsID, userID uuid.UUID) (int, error) {
	var n int
	err := tx.QueryRow(ctx, `SELECT count(*) FROM workspace_members
		WHERE workspace_id = $1 AND role = 'owner' AND user_id <> $2`, wsID, userID).Scan(&n)
	return n, dbErr("count owners", err)
}

// ChangeMemberRole sets targetID's role in workspace wsID to newRole on
// behalf of actorID (contract §6). Under the workspace lock it re-reads the
// actor's role (FORBIDDEN when the actor is no longer a member or is below
// admin), finds the target (NOT_FOUND), applies the role rules — admins
// switch non-owners between member and admin; only owners grant owner or
// change an owner (FORBIDDEN) — and refuses to demote the last owner
// (LAST_OWNER). Setting the role the target already has changes nothing.
// Returns the member after the change, and VALIDATION_ERROR for an unknown
// role, SERVICE_UNAVAILABLE or INTERNAL.
func (s *Store) ChangeMemberRole(ctx context.Context, wsID, actorID, targetID uuid.UUID, newRole string) (Member, error) {
	if RoleRank(newRole) == 0 {
		return Member{}, apperr.Validation(map[string]string{"role": "must be one of owner, admin, member"})
	}
	var m Member
	err := s.inTx(ctx, "change member role", func(tx pgx.Tx) error {
		actorRole, err := lockWorkspace(ctx, tx, wsID, actorID)
		if err != nil {
			return err
		}
		if RoleRank(actorRole) < RoleRank(RoleAdmin) {
			return errRoleTooLow
		}
		targetRole, err := memberRole(ctx, tx, wsID, targetID, errMemberNotFound)
		if err != nil {
			return err
		}
		if (newRole == RoleOwner || targetRole == RoleOwner) && actorRole != RoleOwner {
			return errOwnersOnly
		}
		if targetRole != newRole {
			if targetRole == RoleOwner {
				n, err := otherOwners(ctx, tx, wsID, targetID)
				if err != nil {
					return err
				}
				if n == 0 {
					return errLastOwner
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE workspace_members SET role = $3
				WHERE workspace_id = $1 AND user_id = $2`, wsID, targetID, newRole); err != nil {
				return dbErr("change member role", err)
			}
		}
		m, err = scanMember(tx.QueryRow(ctx, memberSelect+` AND m.user_id = $2`, wsID, targetID))
		return dbErr("change member role: reread", err)
	})
	return m, err
}

// RemoveMember removes targetID from workspace wsID on behalf of actorID;
// actorID == targetID is leaving, which any member may do (contract §6).
// Under the workspace lock it re-reads the actor's role (FORBIDDEN when the
// actor is no longer a member, or is below admin and removing someone
// else), finds the target (NOT_FOUND), lets only owners remove owners
// (FORBIDDEN) and refuses to remove or let leave the last owner
// (LAST_OWNER). Returns SERVICE_UNAVAILABLE or INTERNAL otherwise.
func (s *Store) RemoveMember(ctx context.Context, wsID, actorID, targetID uuid.UUID) error {
	return s.inTx(ctx, "remove member", func(tx pgx.Tx) error {
		actorRole, err := lockWorkspace(ctx, tx, wsID, actorID)
		if err != nil {
			return err
		}
		self := actorID == targetID
		if !self && RoleRank(actorRole) < RoleRank(RoleAdmin) {
			return errRoleTooLow
		}
		targetRole, err := memberRole(ctx, tx, wsID, targetID, errMemberNotFound)
		if err != nil {
			return err
		}
		if !self && targetRole == RoleOwner && actorRole != RoleOwner {
			return errOwnersOnly
		}
		if targetRole == RoleOwner {
			n, err := otherOwners(ctx, tx, wsID, targetID)
			if err != nil {
				return err
			}
			if n == 0 {
				return errLastOwner
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2`,
			wsID, targetID); err != nil {
			return dbErr("remove member", err)
		}
		return nil
	})
}
