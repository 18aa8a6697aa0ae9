package httpapi

import (
	"net/http"
	"strings"

	"github.com/go-chi/chi/v5"

	"github.com/praxiom/praxiom-api/internal/apperr"
)

// routes declares every route of the service, nested by the middleware each
// needs, so the auth chain reads top to bottom.
func (s *Server) routes() http.Handler {
	r := chi.NewRouter()
	r.Use(s.withRequestID, s.logRequests, recoverPanics)
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
		w.Header().Set("Allow", strings.Join(allowed, ", "))
		writeError(w, req, apperr.New(apperr.MethodNotAllowed, "This method is not allowed on this route."))
	})

	// Operations: no authentication.
	r.Get("/healthz", s.healthz)
	r.Get("/readyz", s.readyz)

	// Clerk's webhook: Svix signatures instead of a bearer token.
	r.Post("/webhooks/clerk", s.clerkWebhook)
	r.Post("/api/webhooks/clerk", s.clerkWebhook)

	// Everything else under /api: authentication comes before routing.
	r.Route("/api", func(r chi.Router) {
		r.Use(s.authenticate)
		r.Get("/auth/me", s.getMe) // suspended users may still see themselves

		r.Group(func(r chi.Router) {
			r.Use(requireActive)
		})
	})
	return r
}
