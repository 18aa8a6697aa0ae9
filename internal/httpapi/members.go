package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/store"
)

// memberJSON is the member object of contract §6.
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
func (s *Server) listMembers(w http.ResponseWriter, r *http.Request) {
	p, err := listParams(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	list, total, err := s.store.ListMembers(r.Context(), currentMembership(r).WorkspaceID, p.Limit, p.Offset)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := memberListJSON{Members: make([]memberJSON, 0, len(list)), Total: total}
	for _, m := range list {
		out.Members = append(out.Members, toMemberJSON(m))
	}
	writeJSON(w, http.StatusOK, out)
}

// changeMemberRequest is the body of PATCH …/members/{user_id}.
type changeMemberRequest struct {
	Role *string `json:"role"`
}

// changeMemberRole answers PATCH /api/workspaces/{workspace_id}/members/{user_id}
// (admins, owners): 200 with the member. 400 for a bad user id;
// 415/413/400/422 for the body; then the store's 404, 403 (role rules) and
// 409 LAST_OWNER.
func (s *Server) changeMemberRole(w http.ResponseWriter, r *http.Request) {
	targetID, err := pathUUID(r, "user_id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	var req changeMemberRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	switch {
	case req.Role == nil:
		writeError(w, r, apperr.Validation(map[string]string{"role": "is required"}))
		return
	case store.RoleRank(*req.Role) == 0:
		writeError(w, r, apperr.Validation(map[string]string{"role": "must be one of owner, admin, member"}))
		return
	}
	m, err := s.store.ChangeMemberRole(r.Context(), currentMembership(r).WorkspaceID, currentUser(r).ID, targetID, *req.Role)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toMemberJSON(m))
}

// removeMember answers DELETE /api/workspaces/{workspace_id}/members/{user_id}:
// 204. Any member may remove themselves (leave); removing someone else
// needs admin, and an owner needs owner. 400 for a bad user id; then the
// store's 403, 404 and 409 LAST_OWNER.
func (s *Server) removeMember(w http.ResponseWriter, r *http.Request) {
	targetID, err := pathUUID(r, "user_id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.store.RemoveMember(r.Context(), currentMembership(r).WorkspaceID, currentUser(r).ID, targetID); err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
