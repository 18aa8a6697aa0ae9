package httpapi

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/store"
)

// routes declares every route of the service in one flat table, each with
// the middleware it needs, so the whole auth chain — sessions and API keys
// — reads top to bottom here, and a request is routed once (no mounted
// sub-router to route it again).
func (s *Server) routes() *chi.Mux {
	r := chi.NewRouter()
	r.Use(recoverPanics, corsHandler(s.corsOrigins))
	// An unknown path or method under /api needs a credential first (401
	// without one) and then costs its caller a request of their budget,
	// with the X-RateLimit-* headers; elsewhere it is a plain 404 or 405.
	r.NotFound(s.unrouted(notFound))
	r.MethodNotAllowed(s.unrouted(s.wrongMethod))
	// The public paths under /api answer other methods with 405 rather than
	// the 401 of an unknown /api route.
	only := func(allow string) http.HandlerFunc {
		return h(func(w http.ResponseWriter, r *http.Request) error { return methodNotAllowed(w, allow) })
	}

	// Operations: no credential.
	r.Get("/healthz", h(s.healthz))
	r.Get("/readyz", h(s.readyz))

	// The API reference: the spec and an interactive page of it that loads
	// only these routes; no credential.
	ref := loadReference()
	r.Method(http.MethodGet, "/openapi.yaml", ref.yaml)
	r.Get("/openapi.json", h(ref.openAPIJSON))
	r.Method(http.MethodGet, "/docs", ref.page)
	r.Method(http.MethodGet, "/docs/redoc.standalone.js", ref.bundle)
	r.Method(http.MethodGet, "/docs/reference.js", ref.script)

	// Clerk's webhook: Svix signatures instead of a bearer credential.
	r.Post("/webhooks/clerk", h(s.clerkWebhook))
	r.Handle("/api/webhooks/clerk", only(http.MethodPost))
	r.Post("/api/webhooks/clerk", h(s.clerkWebhook))

	// The invitation look-up and joining the waitlist need no credential;
	// they are limited per client IP.
	r.Handle("/api/invitations/{token}", only(http.MethodGet))
	r.With(s.limitIP).Get("/api/invitations/{token}", h(s.lookupInvitation))
	r.Handle("/api/waitlist", only(http.MethodPost))
	r.With(s.limitIP).Post("/api/waitlist", h(s.joinWaitlist))

	// Everything else under /api needs a credential: a session token or an
	// API key, checked without the database (401).
	api := r.With(middleware(s.verifyCredential))
	// Every authenticated POST takes an Idempotency-Key; idem sits last, right
	// before the handler, so requests the chain refuses are never recorded.
	idem := s.idempotent

	// The caller's own routes: one query loads the principal.
	self := api.With(middleware(s.loadPrincipal), s.limitPrincipal)
	self.With(sessionOnly).Get("/api/auth/me", h(s.getMe)) // suspended users may still see themselves

	active := self.With(requireActive)
	active.With(sessionOnly, notImpersonating, idem).Post("/api/access-codes/redeem", h(s.redeemAccessCode))
	active.With(sessionOnly, notImpersonating, idem).Post("/api/invitations/{token}/accept", h(s.acceptInvitation))
	active.With(sessionOnly, requireProductAccess, idem).Post("/api/workspaces", h(s.createWorkspace))
	active.Get("/api/workspaces", h(s.listWorkspaces)) // an API key: its own workspace

	admin := active.With(sessionOnly, notImpersonating, requireAdmin)
	admin.With(idem).Post("/api/admin/access-codes", h(s.createAccessCodes))
	admin.Get("/api/admin/access-codes", h(s.listAccessCodes))
	admin.Delete("/api/admin/access-codes/{access_code_id}", h(s.revokeAccessCode))
	admin.Get("/api/admin/audit-log", h(s.adminAuditLog))
	admin.Get("/api/admin/waitlist", h(s.listWaitlist))
	admin.With(idem).Post("/api/admin/waitlist/approve", h(s.approveWaitlist))

	// One workspace: one query loads the principal with its role in the
	// workspace and the workspace itself. requireRole then checks the
	// path's ids (400), membership (403), read-only keys (403) and the
	// route's role (403).
	const ws = "/api/workspaces/{workspace_id}"
	inWS := api.With(middleware(s.loadWorkspace), s.limitPrincipal, requireActive)
	member := inWS.With(requireRole(store.RoleMember))
	admin = inWS.With(requireRole(store.RoleAdmin))
	owner := inWS.With(requireRole(store.RoleOwner))

	member.Get(ws, h(s.getWorkspace))
	admin.Patch(ws, h(s.updateWorkspace))
	owner.With(notImpersonating).Delete(ws, h(s.deleteWorkspace))

	member.Get(ws+"/settings", h(s.getSettings))
	admin.Patch(ws+"/settings", h(s.updateSettings))

	member.Get(ws+"/members", h(s.listMembers))
	admin.Patch(ws+"/members/{user_id}", h(s.changeMemberRole))
	// Any member may remove themselves (leave); removing others is checked
	// against the role rules under the workspace lock.
	member.Delete(ws+"/members/{user_id}", h(s.removeMember))

	admin.With(idem).Post(ws+"/invitations", h(s.createInvitation))
	admin.Get(ws+"/invitations", h(s.listInvitations))
	admin.Delete(ws+"/invitations/{invitation_id}", h(s.revokeInvitation))
	admin.With(idem).Post(ws+"/invitations/{invitation_id}/resend", h(s.resendInvitation))

	admin.Get(ws+"/audit-log", h(s.workspaceAuditLog))

	// Keys cannot mint or manage keys.
	admin.With(sessionOnly, notImpersonating, idem).Post(ws+"/api-keys", h(s.createAPIKey))
	admin.With(sessionOnly).Get(ws+"/api-keys", h(s.listAPIKeys))
	admin.With(sessionOnly).Delete(ws+"/api-keys/{api_key_id}", h(s.revokeAPIKey))
	return r
}

// unrouted answers a request no route takes with fn: under /api after the
// credential check and as the principal (asPrincipal), elsewhere as it is.
func (s *Server) unrouted(fn handlerFunc) http.HandlerFunc {
	api := middleware(s.verifyCredential)(s.asPrincipal(func(w http.ResponseWriter, r *http.Request) error {
		if state(r).key != nil && sessionOnlyPath(r.URL.Path) {
			return keyRefusal(r) // as sessionOnly answers on the routes there
		}
		return fn(w, r)
	}))
	plain := h(fn)
	return func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api" || strings.HasPrefix(r.URL.Path, "/api/") {
			api.ServeHTTP(w, r)
			return
		}
		plain(w, r)
	}
}

// notFound answers an unknown route: 404 NOT_FOUND.
func notFound(http.ResponseWriter, *http.Request) error {
	return apperr.New(apperr.NotFound, "No such route.")
}

// wrongMethod answers a known path with a method it does not take: 405
// METHOD_NOT_ALLOWED, with the methods it takes in Allow.
func (s *Server) wrongMethod(w http.ResponseWriter, r *http.Request) error {
	var allowed []string
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		if s.handler.Match(chi.NewRouteContext(), m, r.URL.Path) {
			allowed = append(allowed, m)
		}
	}
	return methodNotAllowed(w, strings.Join(allowed, ", "))
}

// methodNotAllowed sets Allow and returns METHOD_NOT_ALLOWED.
func methodNotAllowed(w http.ResponseWriter, allow string) error {
	w.Header().Set("Allow", allow)
	return apperr.New(apperr.MethodNotAllowed, "This method is not allowed on this route.")
}

// asPrincipal runs fn as an authenticated route of the caller's own: the
// principal is loaded and the request counted against its rate limit.
func (s *Server) asPrincipal(fn handlerFunc) http.HandlerFunc {
	return middleware(s.loadPrincipal)(s.limitPrincipal(h(fn))).ServeHTTP
}
