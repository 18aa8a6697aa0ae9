package httpapi

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/store"
)

// routes declares every route of the service, nested by the middleware each
// needs, so the whole auth chain — sessions and API keys — reads top to
// bottom here.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.withRequestID, s.logRequests, recoverPanics, corsHandler(s.corsOrigins))
	r.NotFound(h(notFound))
	r.MethodNotAllowed(h(s.wrongMethod))
	// The public paths under /api answer other methods with 405 rather than
	// falling through to the authenticated group's 401.
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

	// Everything else under /api needs a credential, checked before routing
	// (an unknown /api path without one answers 401).
	// Every authenticated POST takes an Idempotency-Key; idem sits last, right
	// before the handler, so requests the chain refuses are never recorded.
	idem := s.idempotent

	r.Route("/api", func(r chi.Router) {
		r.Use(middleware(s.verifyCredential)) // 401: a session token or an API key, no database
		// An unknown route or method still costs its caller a request of
		// their budget, with the X-RateLimit-* headers.
		r.NotFound(s.asPrincipal(notFound))
		r.MethodNotAllowed(s.asPrincipal(s.wrongMethod))

		// The caller's own routes: one query loads the principal.
		r.Group(func(r chi.Router) {
			r.Use(middleware(s.loadPrincipal), s.limitPrincipal)
			r.With(sessionOnly).Get("/auth/me", h(s.getMe)) // suspended users may still see themselves

			r.Group(func(r chi.Router) {
				r.Use(requireActive)
				r.With(sessionOnly, notImpersonating, idem).Post("/access-codes/redeem", h(s.redeemAccessCode))
				r.With(sessionOnly, notImpersonating, idem).Post("/invitations/{token}/accept", h(s.acceptInvitation))

				r.Route("/admin", func(r chi.Router) {
					r.Use(sessionOnly, notImpersonating, requireAdmin)
					r.With(idem).Post("/access-codes", h(s.createAccessCodes))
					r.Get("/access-codes", h(s.listAccessCodes))
					r.Delete("/access-codes/{access_code_id}", h(s.revokeAccessCode))
					r.Get("/audit-log", h(s.adminAuditLog))
					r.Get("/waitlist", h(s.listWaitlist))
					r.With(idem).Post("/waitlist/approve", h(s.approveWaitlist))
				})

				r.With(sessionOnly, requireProductAccess, idem).Post("/workspaces", h(s.createWorkspace))
				r.Get("/workspaces", h(s.listWorkspaces)) // an API key: its own workspace
			})
		})

		// One workspace: one query loads the principal with its role in the
		// workspace and the workspace itself. requireRole then checks the
		// path's ids (400), membership (403), read-only keys (403) and the
		// route's role (403).
		r.Route("/workspaces/{workspace_id}", func(r chi.Router) {
			r.Use(middleware(s.loadWorkspace), s.limitPrincipal, requireActive)
			member, admin, owner := requireRole(store.RoleMember), requireRole(store.RoleAdmin), requireRole(store.RoleOwner)

			r.With(member).Get("/", h(s.getWorkspace))
			r.With(admin).Patch("/", h(s.updateWorkspace))
			r.With(owner, notImpersonating).Delete("/", h(s.deleteWorkspace))

			r.With(member).Get("/settings", h(s.getSettings))
			r.With(admin).Patch("/settings", h(s.updateSettings))

			r.With(member).Get("/members", h(s.listMembers))
			r.With(admin).Patch("/members/{user_id}", h(s.changeMemberRole))
			// Any member may remove themselves (leave); removing others is
			// checked against the role rules under the workspace lock.
			r.With(member).Delete("/members/{user_id}", h(s.removeMember))

			r.With(admin, idem).Post("/invitations", h(s.createInvitation))
			r.With(admin).Get("/invitations", h(s.listInvitations))
			r.With(admin).Delete("/invitations/{invitation_id}", h(s.revokeInvitation))
			r.With(admin, idem).Post("/invitations/{invitation_id}/resend", h(s.resendInvitation))

			r.With(admin).Get("/audit-log", h(s.workspaceAuditLog))

			// Keys cannot mint or manage keys.
			r.With(admin, sessionOnly, notImpersonating, idem).Post("/api-keys", h(s.createAPIKey))
			r.With(admin, sessionOnly).Get("/api-keys", h(s.listAPIKeys))
			r.With(admin, sessionOnly).Delete("/api-keys/{api_key_id}", h(s.revokeAPIKey))
		})
	})
	return r
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
		if s.handler.(chi.Routes).Match(chi.NewRouteContext(), m, r.URL.Path) {
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
