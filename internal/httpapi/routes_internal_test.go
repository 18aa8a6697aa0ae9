package httpapi

import (
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/praxiom/praxiom-api/internal/openapicheck"
)

// TestRoutesAreTheSpecsOperations holds the router to api/openapi.yaml:
// every route the server serves is an operation of the spec and every
// operation a route, method for method.
func TestRoutesAreTheSpecsOperations(t *testing.T) {
	s := New(Deps{})
	served := map[string]bool{}
	err := chi.Walk(s.handler, func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		if strings.HasSuffix(route, "/*") {
			return nil // a mount's catch-all
		}
		if len(route) > 1 {
			route = strings.TrimSuffix(route, "/")
		}
		served[method+" "+route] = true
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	doc := openapicheck.New(t).Doc()
	documented := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method := range item.Operations() {
			documented[method+" "+path] = true
		}
	}
	// The public /api paths answer their other methods with 405 through a
	// route of their own (so they never fall through to the credential
	// check's 401); those are not operations.
	onlyRoutes := map[string]bool{"/api/webhooks/clerk": true, "/api/invitations/{token}": true, "/api/waitlist": true}
	for r := range served {
		if _, path, _ := strings.Cut(r, " "); !documented[r] && !onlyRoutes[path] {
			t.Errorf("%s is served but not in api/openapi.yaml", r)
		}
	}
	for r := range documented {
		if !served[r] {
			t.Errorf("%s is in api/openapi.yaml but not served", r)
		}
	}
	if t.Failed() {
		t.Logf("served: %v", slices.Sorted(maps.Keys(served)))
	}
}
