package httpapi

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/store"
)

// routes declares every route of the service, nested by the middleware each
// needs, so the auth chain reads top to bottom.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.withRequestID, s.logRequests, recoverPanics, corsHandler(s.corsOrigins))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeError(w, r, apperr.New(apperr.NotFound, "No such route."))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, req *http.Request) {
		var allowed []string
		for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
			if r.Match(chi.NewRouteContext(), m, req.URL.Path) {
				allowed = append(allowed, m)
			}
		}
		methodNotAllowed(w, req, strings.Join(allowed, ", "))
	})
	// The public paths under /api answer other methods with 405 rather than
	// falling through to the authenticated group's 401.
	only := func(allow string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) { methodNotAllowed(w, r, allow) }
	}

	// Operations: no authentication.
	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)

	// Clerk's webhook: Svix signatures instead of a bearer token.
	r.Post("/webhooks/clerk", s.clerkWebhook)
	r.Handle("/api/webhooks/clerk", only(http.MethodPost))
	r.Post("/api/webhooks/clerk", s.clerkWebhook)

	// The invitation look-up needs no token (contract §7).
	r.Handle("/api/invitations/{token}", only(http.MethodGet))
	r.With(s.limitIP).Get("/api/invitations/{token}", s.lookupInvitation)

	// Everything else under /api: authentication comes before routing.
	r.Route("/api", func(r chi.Router) {
		r.Use(s.authenticate, s.limitUser)
		r.Get("/auth/me", s.getMe) // suspended users may still see themselves

		r.Group(func(r chi.Router) {
			r.Use(requireActive)

			r.Post("/access-codes/redeem", s.redeemAccessCode)
			r.Post("/invitations/{token}/accept", s.acceptInvitation)

			r.Route("/admin", func(r chi.Router) {
				r.Use(requireAdmin)
				r.Post("/access-codes", s.createAccessCodes)
				r.Get("/access-codes", s.listAccessCodes)
				r.Delete("/access-codes/{access_code_id}", s.revokeAccessCode)
			})

			r.Post("/workspaces", s.createWorkspace) // 403 ACCESS_REQUIRED without product access
			r.Get("/workspaces", s.listWorkspaces)

			r.Route("/workspaces/{workspace_id}", func(r chi.Router) {
				r.Use(s.loadMembership) // 400 bad id, 403 outsiders and unknown workspaces

				member, admin, owner := requireRole(store.RoleMember), requireRole(store.RoleAdmin), requireRole(store.RoleOwner)
				r.With(member).Get("/", s.getWorkspace)
				r.With(admin).Patch("/", s.updateWorkspace)
				r.With(owner).Delete("/", s.deleteWorkspace)

				r.With(member).Get("/settings", s.getSettings)
				r.With(admin).Patch("/settings", s.updateSettings)

				r.With(member).Get("/members", s.listMembers)
				r.With(admin).Patch("/members/{user_id}", s.changeMemberRole)
				// Any member may remove themselves (leave); removing others is
				// checked against the rules of contract §6 under the workspace lock.
				r.With(member).Delete("/members/{user_id}", s.removeMember)

				r.With(admin).Post("/invitations", s.createInvitation)
				r.With(admin).Get("/invitations", s.listInvitations)
				r.With(admin).Delete("/invitations/{invitation_id}", s.revokeInvitation)
			})
		})
	})
	return r
}

// methodNotAllowed answers 405 METHOD_NOT_ALLOWED with Allow.
func methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	writeError(w, r, apperr.New(apperr.MethodNotAllowed, "This method is not allowed on this route."))
}
