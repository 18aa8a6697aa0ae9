package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/store"
)

// memberJSON is the member object (api/openapi.yaml, Member).
type memberJSON struct {
	UserID    uuid.UUID `json:"user_id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	AvatarURL *string   `json:"avatar_url"`
	Role      string    `json:"role"`
	JoinedAt  time.Time `json:"joined_at"`
}

func toMemberJSON(m store.Member) memberJSON {
	return memberJSON{UserID: m.UserID, Email: m.Email, Name: m.Name, AvatarURL: m.AvatarURL,
		Role: m.Role, JoinedAt: m.JoinedAt.UTC()}
}

type memberListJSON struct {
	Members []memberJSON `json:"members"`
	Total   int          `json:"total"`
}

// listMembers answers GET /api/workspaces/{workspace_id}/members (members):
// oldest first; 400 for a bad limit or offset.
func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) error {
	p, err := listParams(r)
	if err != nil {
		return err
	}
	list, total, err := s.store.ListMembers(r.Context(), currentWorkspace(r).ID, p.Limit, p.Offset)
	if err != nil {
		return err
	}
	out := memberListJSON{Members: make([]memberJSON, 0, len(list)), Total: total}
	for _, m := range list {
		out.Members = append(out.Members, toMemberJSON(m))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// changeMemberRequest is the body of PATCH …/members/{user_id}.
type changeMemberRequest struct {
	Role string `json:"role"`
}

// changeMemberRole answers PATCH /api/workspaces/{workspace_id}/members/{user_id}
// (admins, owners): 200 with the member; 415/413/400/422 for the body; then
// the store's 404, 403 (role rules, impersonation) and 409 LAST_OWNER.
func (s *Server) changeMemberRole(w http.ResponseWriter, r *http.Request) error {
	var req changeMemberRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	m, err := s.store.ChangeMemberRole(r.Context(), s.actor(r), currentWorkspace(r).ID, nestedID(r, "user_id"), req.Role)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toMemberJSON(m))
	return nil
}

// removeMember answers DELETE /api/workspaces/{workspace_id}/members/{user_id}:
// 204. Any member may remove themselves (leave); removing someone else
// needs admin, and an owner needs owner. The store's 403, 404 and 409
// LAST_OWNER.
func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) error {
	if err := s.store.RemoveMember(r.Context(), s.actor(r), currentWorkspace(r).ID, nestedID(r, "user_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
