package httpapi

import (
	"context"
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/store"
)

// membership is the caller's place in the workspace of the path, as
// authenticate read it with the user (contract: one query authorizes a
// workspace request). Workspace is nil for outsiders and for workspaces that
// do not exist until loadMembership has refused them; its Role is the
// caller's role.
type membership struct {
	WorkspaceID uuid.UUID // the path's {workspace_id}
	Workspace   *store.Workspace
}

// loadMembership parses {workspace_id} (400 BAD_REQUEST when it is not a
// UUID) and admits members only (403 FORBIDDEN for outsiders and for
// workspaces that do not exist, with identical bodies). The membership was
// read by authenticate; a workspace route without it is a wiring bug.
func (s *Server) loadMembership(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		wsID, err := pathUUID(r, "workspace_id")
		if err != nil {
			writeError(w, r, err)
			return
		}
		// The nested ids are parsed before membership too (contract §2 order:
		// path 400 before membership and role 403); chi has not routed them yet.
		if err := checkNestedID(r.URL.Path); err != nil {
			writeError(w, r, err)
			return
		}
		m, ok := r.Context().Value(prefetchKey).(membership)
		if !ok || m.WorkspaceID != wsID {
			panic("httpapi: loadMembership without authenticate's read of workspace " + wsID.String())
		}
		if m.Workspace == nil {
			writeError(w, r, store.ErrNotMember)
			return
		}
		ctx := context.WithValue(r.Context(), membershipKey, m)
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// currentMembership returns what loadMembership found; it panics when the
// route is not behind it (a wiring bug).
func currentMembership(r *http.Request) membership {
	m, ok := r.Context().Value(membershipKey).(membership)
	if !ok {
		panic("httpapi: currentMembership outside loadMembership")
	}
	return m
}

// requireRole lets through members whose role is at least min (403
// FORBIDDEN otherwise). It is the one role rule of a route in routes.go.
func requireRole(min string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if store.RoleRank(currentMembership(r).Workspace.Role) < store.RoleRank(min) {
				writeError(w, r, apperr.New(apperr.Forbidden, "Your role in this workspace does not allow this."))
				return
			}
			next.ServeHTTP(w, r)
		})
	}
}

// requireAdmin lets through users with is_admin (403 FORBIDDEN otherwise).
func requireAdmin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !currentUser(r).IsAdmin {
			writeError(w, r, apperr.New(apperr.Forbidden, "Only administrators may do this."))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// pathUUID parses a path parameter as a UUID. Returns BAD_REQUEST.
func pathUUID(r *http.Request, name string) (uuid.UUID, error) {
	raw := chi.URLParam(r, name)
	id, err := uuid.Parse(raw)
	if err != nil || len(raw) != 36 {
		return uuid.Nil, apperr.New(apperr.BadRequest, "The path parameter "+name+" must be a UUID.")
	}
	return id, nil
}

// nestedIDs names the id segment that follows each collection of a workspace.
var nestedIDs = map[string]string{"members": "user_id", "invitations": "invitation_id"}

// checkNestedID returns BAD_REQUEST when /api/workspaces/{id}/{collection}/{x}
// has an x that is not a UUID.
func checkNestedID(path string) error {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	// api, workspaces, {workspace_id}, collection, id
	if len(parts) != 5 {
		return nil
	}
	name, ok := nestedIDs[parts[3]]
	if !ok {
		return nil
	}
	if _, err := uuid.Parse(parts[4]); err != nil || len(parts[4]) != 36 {
		return apperr.New(apperr.BadRequest, "The path parameter "+name+" must be a UUID.")
	}
	return nil
}
