package httpapi

import (
	"net/http"
	"strings"

	"github.com/go-chi/cors"
)

// The methods and request headers browsers may use (api/openapi.yaml,
// "CORS").
var (
	corsMethods = []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete}
	corsHeaders = []string{"Authorization", "Content-Type", "X-Request-ID", "Idempotency-Key"}
)

// corsHandler answers preflights from the allowed origins and decorates
// their actual requests; other origins get no CORS headers.
func corsHandler(origins []string) func(http.Handler) http.Handler {
	if len(origins) == 0 {
		return func(next http.Handler) http.Handler { return next }
	}
	c := cors.Handler(cors.Options{
		AllowedOrigins: origins,
		AllowedMethods: corsMethods,
		AllowedHeaders: corsHeaders,
		ExposedHeaders: []string{"X-Request-ID", "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining",
			"X-RateLimit-Reset", "Idempotent-Replayed"},
		MaxAge: 600,
	})
	return func(next http.Handler) http.Handler {
		h := c(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
				w = &preflightWriter{ResponseWriter: w}
			}
			h.ServeHTTP(w, r)
		})
	}
}

// preflightWriter lists every allowed method and header on an accepted
// preflight: go-chi/cors echoes only the requested ones, and
// api/openapi.yaml promises the full lists.
type preflightWriter struct{ http.ResponseWriter }

func (p *preflightWriter) WriteHeader(code int) {
	if h := p.Header(); h.Get("Access-Control-Allow-Origin") != "" {
		h.Set("Access-Control-Allow-Methods", strings.Join(corsMethods, ", "))
		h.Set("Access-Control-Allow-Headers", strings.Join(corsHeaders, ", "))
	}
	p.ResponseWriter.WriteHeader(code)
}
