package store

import (
	"context"
	"time"

	"github.com/google/uuid"

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

// readMember reads memberSelect's columns.
func readMember(r *row) Member {
	return Member{UserID: r.uuid(), Email: r.text(), Name: r.text(), AvatarURL: r.textPtr(), Role: r.text(), JoinedAt: r.time()}
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
	return listPage(ctx, s.pool, "list members", readMember, offset,
		`SELECT mm.*, count(*) OVER () FROM (`+memberSelect+`) mm
		ORDER BY mm.joined_at, mm.user_id LIMIT $2 OFFSET $3`, []any{wsID, limit, offset},
		`SELECT count(*) FROM workspace_members WHERE workspace_id = $1`, wsID)
}

// ValidRole reports whether role is owner, admin or member.
func ValidRole(role string) bool { return RoleRank(role) > 0 }

// ChangeMemberRole sets targetID's role in workspace wsID to newRole on
// behalf of a (api/openapi.yaml, "Roles"). Under the workspace
// lock it re-reads the actor's role (FORBIDDEN when the actor is no longer a
// member, or is below admin), finds the target (NOT_FOUND), applies the role
// rules — admins switch non-owners between member and admin; only owners
// grant owner or change an owner (FORBIDDEN); an impersonated session may
// do neither (FORBIDDEN) — and refuses to demote the last owner
// (LAST_OWNER). Setting the role the target already has changes nothing.
// Returns the member after the change, and VALIDATION_ERROR for an unknown
// role, SERVICE_UNAVAILABLE or INTERNAL.
func (s *Store) ChangeMemberRole(ctx context.Context, a Actor, wsID, targetID uuid.UUID, newRole string) (Member, error) {
	switch {
	case newRole == "":
		return Member{}, apperr.Validation(map[string]string{"role": "is required"})
	case !ValidRole(newRole):
		return Member{}, apperr.Validation(map[string]string{"role": "must be one of owner, admin, member"})
	}
	var m Member
	err := s.change(ctx, a, "change member role", func(tx *changeTx) error {
		actorRole, err := lockRole(ctx, tx, wsID, a, RoleAdmin)
		if err != nil {
			return err
		}
		targetRole, err := memberRole(ctx, tx, wsID, targetID, errMemberNotFound)
		if err != nil {
			return err
		}
		owners := newRole == RoleOwner || targetRole == RoleOwner
		// Impersonated, the owner role is neither granted nor taken, by
		// anyone: that refusal comes first.
		if owners && targetRole != newRole && a.Impersonator != "" {
			return ErrImpersonating
		}
		if owners && actorRole != RoleOwner {
			return errOwnersOnly
		}
		if targetRole != newRole {
			if targetRole == RoleOwner {
				if err := requireOtherOwner(ctx, tx, wsID, targetID); err != nil {
					return err
				}
			}
			if _, err := tx.Exec(ctx, `UPDATE workspace_members SET role = $3
				WHERE workspace_id = $1 AND user_id = $2`, wsID, targetID, newRole); err != nil {
				return dbErr("change member role", err)
			}
			tx.record(ActionMemberRoleChanged, &wsID, TargetUser, targetID.String(),
				map[string]any{"from": targetRole, "to": newRole})
		}
		err = queryRow(ctx, tx, memberSelect+` AND m.user_id = $2`, []any{wsID, targetID}, func(r *row) { m = readMember(r) })
		return dbErr("change member role: reread", err)
	})
	return m, err
}

// RemoveMember removes targetID from workspace wsID on behalf of a; a user
// removing themselves is leaving, which any member may do. Under the
// workspace lock it re-reads the actor's role (FORBIDDEN when the actor is
// no longer a member, or is below admin and removing someone else), finds
// the target (NOT_FOUND), lets only owners remove owners and no
// impersonated session remove one (FORBIDDEN) and refuses to remove or let
// leave the last owner (LAST_OWNER). Returns SERVICE_UNAVAILABLE or
// INTERNAL otherwise.
func (s *Store) RemoveMember(ctx context.Context, a Actor, wsID, targetID uuid.UUID) error {
	return s.change(ctx, a, "remove member", func(tx *changeTx) error {
		self := a.Type == ActorUser && a.ID == targetID
		min := RoleAdmin
		if self {
			min = RoleMember
		}
		actorRole, err := lockRole(ctx, tx, wsID, a, min)
		if err != nil {
			return err
		}
		targetRole, err := memberRole(ctx, tx, wsID, targetID, errMemberNotFound)
		if err != nil {
			return err
		}
		if targetRole == RoleOwner {
			if a.Impersonator != "" {
				return ErrImpersonating
			}
			if !self && actorRole != RoleOwner {
				return errOwnersOnly
			}
			if err := requireOtherOwner(ctx, tx, wsID, targetID); err != nil {
				return err
			}
		}
		if _, err := tx.Exec(ctx, `DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2`,
			wsID, targetID); err != nil {
			return dbErr("remove member", err)
		}
		action := ActionMemberRemoved
		if self {
			action = ActionMemberLeft
		}
		tx.record(action, &wsID, TargetUser, targetID.String(), map[string]any{"role": targetRole})
		return nil
	})
}
