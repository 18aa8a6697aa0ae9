package httpapi

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/store"
)

// invitationJSON is the invitation object (api/openapi.yaml, Invitation),
// token included: only admins and owners of the workspace ever see it.
type invitationJSON struct {
	ID            uuid.UUID `json:"id"`
	WorkspaceID   uuid.UUID `json:"workspace_id"`
	InvitedEmail  string    `json:"invited_email"`
	Role          string    `json:"role"`
	Status        string    `json:"status"`
	ExpiresAt     time.Time `json:"expires_at"`
	CreatedAt     time.Time `json:"created_at"`
	InvitedByName string    `json:"invited_by_name"`
	Token         string    `json:"token"`
	EmailStatus   string    `json:"email_status"`
}

func toInvitationJSON(inv store.Invitation) invitationJSON {
	return invitationJSON{
		ID: inv.ID, WorkspaceID: inv.WorkspaceID, InvitedEmail: inv.InvitedEmail, Role: inv.Role,
		Status: inv.Status, ExpiresAt: inv.ExpiresAt.UTC(), CreatedAt: inv.CreatedAt.UTC(),
		InvitedByName: inv.InvitedByName, Token: inv.Token, EmailStatus: inv.EmailStatus,
	}
}

// publicInvitationJSON is what the public look-up shows: no id, no token.
type publicInvitationJSON struct {
	WorkspaceID   uuid.UUID `json:"workspace_id"`
	WorkspaceName string    `json:"workspace_name"`
	InvitedEmail  string    `json:"invited_email"`
	Role          string    `json:"role"`
	Status        string    `json:"status"`
	ExpiresAt     time.Time `json:"expires_at"`
	InvitedByName string    `json:"invited_by_name"`
}

// createInvitationRequest is the body of POST …/invitations.
type createInvitationRequest struct {
	Email string `json:"email"`
	Role  string `json:"role"`
}

// createInvitation answers POST /api/workspaces/{workspace_id}/invitations
// (admins and owners): 201 invitation with its token; 422 for a missing or
// malformed email, a missing role or one other than member/admin, unknown
// fields; 409 ALREADY_MEMBER, 409 INVITATION_PENDING.
func (s *Server) createInvitation(w http.ResponseWriter, r *http.Request) error {
	var req createInvitationRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	inv, err := s.store.CreateInvitation(r.Context(), s.actor(r), currentWorkspace(r).ID, store.NewInvitation(req))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toInvitationJSON(inv))
	return nil
}

// listInvitations answers GET /api/workspaces/{workspace_id}/invitations
// (admins and owners): the invitations whose status (as read now) is
// ?status= (default pending), newest first; 400 for another status or a bad
// limit/offset.
func (s *Server) listInvitations(w http.ResponseWriter, r *http.Request) error {
	p, err := listParams(r)
	if err != nil {
		return err
	}
	status, err := statusParam(r, store.InvitationPending, store.ValidInvitationStatus, "one of pending, accepted, revoked, expired")
	if err != nil {
		return err
	}
	invs, total, err := s.store.ListInvitations(r.Context(), currentWorkspace(r).ID, status, p.Limit, p.Offset)
	if err != nil {
		return err
	}
	out := make([]invitationJSON, len(invs))
	for i, inv := range invs {
		out[i] = toInvitationJSON(inv)
	}
	writeJSON(w, http.StatusOK, map[string]any{"invitations": out, "total": total})
	return nil
}

// revokeInvitation answers DELETE
// /api/workspaces/{workspace_id}/invitations/{invitation_id} (admins and
// owners): 204, also when it was already revoked; 404 NOT_FOUND when this
// workspace has no such invitation; 410 INVITATION_ALREADY_ACCEPTED or
// INVITATION_EXPIRED when it can no longer be revoked.
func (s *Server) revokeInvitation(w http.ResponseWriter, r *http.Request) error {
	err := s.store.RevokeInvitation(r.Context(), s.actor(r), currentWorkspace(r).ID, nestedID(r, "invitation_id"))
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// resendInvitation answers POST
// /api/workspaces/{workspace_id}/invitations/{invitation_id}/resend (admins
// and owners; no body): 202 invitation, its email queued again (or
// email_status disabled when email is off); 404 NOT_FOUND when this
// workspace has no such invitation; 410 INVITATION_EXPIRED,
// INVITATION_REVOKED or INVITATION_ALREADY_ACCEPTED when it is no longer
// pending; 429 RATE_LIMITED with Retry-After within a minute of its last
// email.
func (s *Server) resendInvitation(w http.ResponseWriter, r *http.Request) error {
	inv, err := s.store.ResendInvitation(r.Context(), s.actor(r), currentWorkspace(r).ID, nestedID(r, "invitation_id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusAccepted, toInvitationJSON(inv))
	return nil
}

// maxInvitationToken bounds the tokens worth looking up; ours are 43
// characters.
const maxInvitationToken = 128

// invitationToken returns the {token} path parameter, or NOT_FOUND without
// touching the database when it cannot be one of ours (empty, longer than
// 128 characters, or outside [A-Za-z0-9_-]).
func invitationToken(r *http.Request) (string, error) {
	t := chi.URLParam(r, "token")
	if t == "" || len(t) > maxInvitationToken {
		return "", store.ErrInvitationNotFound
	}
	for i := 0; i < len(t); i++ {
		c := t[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return "", store.ErrInvitationNotFound
		}
	}
	return t, nil
}

// lookupInvitation answers GET /api/invitations/{token} (no authentication):
// 200 with what an invitation page shows (never the token), status
// "expired" for an expired one; 404 NOT_FOUND for an unknown token.
func (s *Server) lookupInvitation(w http.ResponseWriter, r *http.Request) error {
	token, err := invitationToken(r)
	if err != nil {
		return err
	}
	inv, err := s.store.InvitationByToken(r.Context(), token)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, publicInvitationJSON{
		WorkspaceID: inv.WorkspaceID, WorkspaceName: inv.WorkspaceName, InvitedEmail: inv.InvitedEmail,
		Role: inv.Role, Status: inv.Status, ExpiresAt: inv.ExpiresAt.UTC(), InvitedByName: inv.InvitedByName,
	})
	return nil
}

// acceptInvitation answers POST /api/invitations/{token}/accept (the invited
// user; no body): 200 workspace object with the new role; 404 NOT_FOUND; 403
// INVITATION_EMAIL_MISMATCH; 410 INVITATION_ALREADY_ACCEPTED,
// INVITATION_REVOKED or INVITATION_EXPIRED; 409 ALREADY_MEMBER.
func (s *Server) acceptInvitation(w http.ResponseWriter, r *http.Request) error {
	token, err := invitationToken(r)
	if err != nil {
		return err
	}
	ws, err := s.store.AcceptInvitation(r.Context(), s.actor(r), token)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toWorkspaceJSON(ws))
	return nil
}
