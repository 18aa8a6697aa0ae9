package httpapi

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/store"
)

// The refusals of the access rules below, in the order routes.go applies
// them (api/openapi.yaml, "Order of checks": authenticate, suspended, path,
// membership, role).
var (
	errSuspended     = apperr.New(apperr.AccountSuspended, "Your account is suspended.")
	errKeyNotAllowed = apperr.New(apperr.Forbidden, "API keys cannot use this route; it needs a signed-in user.")
	errReadOnlyKey   = apperr.New(apperr.Forbidden, "This API key is read-only.")
	errNotAdmin      = apperr.New(apperr.Forbidden, "Only administrators may do this.")
)

// requireActive refuses suspended users (403 ACCOUNT_SUSPENDED). Every
// route but GET /api/auth/me sits behind it; API keys are never suspended.
var requireActive = middleware(func(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	if c := state(r).caller; c != nil && c.Suspended() {
		return errSuspended
	}
	next.ServeHTTP(w, r)
	return nil
})

// sessionOnly refuses API keys (403 FORBIDDEN) on the routes of a signed-in
// person: their own account, access codes, invitations to accept, creating
// workspaces, managing API keys (keys cannot mint keys) and /api/admin.
var sessionOnly = middleware(func(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	if state(r).key != nil {
		return keyRefusal(r)
	}
	next.ServeHTTP(w, r)
	return nil
})

// keyRefusal is the 403 of an API key on a route it may not use: a
// read-only key's own message on every method but GET (and HEAD), else
// errKeyNotAllowed.
func keyRefusal(r *http.Request) error {
	if state(r).key.ReadOnly && r.Method != http.MethodGet && r.Method != http.MethodHead {
		return errReadOnlyKey
	}
	return errKeyNotAllowed
}

// sessionOnlyPath reports whether path is under /api/auth or /api/admin,
// where an API key is refused also on a path no route takes.
func sessionOnlyPath(path string) bool {
	for _, p := range [...]string{"/api/auth", "/api/admin"} {
		if rest, ok := strings.CutPrefix(path, p); ok && (rest == "" || rest[0] == '/') {
			return true
		}
	}
	return false
}

// notImpersonating refuses an impersonated session (403 FORBIDDEN) on the
// irreversible actions an admin acting as a user may not take.
var notImpersonating = middleware(func(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	if state(r).impersonator() != "" {
		return store.ErrImpersonating
	}
	next.ServeHTTP(w, r)
	return nil
})

var errAccessRequired = apperr.New(apperr.AccessRequired, "You need product access to create a workspace.")

// requireProductAccess lets through users with product access (founders,
// redeemed access codes, granted access) only (403 ACCESS_REQUIRED).
var requireProductAccess = middleware(func(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	if u := state(r).user; u == nil || (!u.HasProductAccess && !u.IsFounder) {
		return errAccessRequired
	}
	next.ServeHTTP(w, r)
	return nil
})

// requireAdmin lets through platform administrators (users with is_admin)
// only (403 FORBIDDEN).
var requireAdmin = middleware(func(w http.ResponseWriter, r *http.Request, next http.Handler) error {
	if u := state(r).user; u == nil || !u.IsAdmin {
		return errNotAdmin
	}
	next.ServeHTTP(w, r)
	return nil
})

// requireRole is the one role rule of a workspace route, declared in
// routes.go. In order: every id in the path is a UUID (400 BAD_REQUEST),
// the principal belongs to the workspace (403 FORBIDDEN, the same for
// outsiders and unknown workspaces), a read-only API key only reads (403),
// the principal's role is at least min (403).
func requireRole(min string) func(http.Handler) http.Handler {
	return middleware(func(w http.ResponseWriter, r *http.Request, next http.Handler) error {
		st := state(r)
		if st.wsIDErr != nil {
			return st.wsIDErr
		}
		if st.nestedErr != nil {
			return st.nestedErr
		}
		switch {
		case st.ws == nil:
			return store.ErrNotMember
		case st.key != nil && st.key.ReadOnly && r.Method != http.MethodGet && r.Method != http.MethodHead:
			return errReadOnlyKey
		case store.RoleRank(st.ws.Role) < store.RoleRank(min):
			return store.ErrRoleTooLow
		}
		next.ServeHTTP(w, r)
		return nil
	})
}

// nestedIDParam names the path's id below the workspace ({user_id},
// {invitation_id}, …), or "" when the route has none.
func nestedIDParam(rc *chi.Context) string {
	for _, k := range rc.URLParams.Keys {
		if k != "workspace_id" && strings.HasSuffix(k, "_id") {
			return k
		}
	}
	return ""
}

// nestedID returns the path's id below the workspace as loadWorkspace
// parsed it (requireRole refused it when it is not a UUID); name must be
// the route's (a wiring bug otherwise).
func nestedID(r *http.Request, name string) uuid.UUID {
	st := state(r)
	if st.nestedName != name {
		panic("httpapi: nestedID " + name + " on a route without it")
	}
	return st.nestedID
}
