package httpapi_test

import (
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/httpapi"
	"github.com/praxiom/praxiom-api/internal/ratelimit"
)

// CORS (api/openapi.yaml, "CORS"): browsers on the allowed origins may call the API and
// read its rate-limit and request-id headers; no other origin gets any CORS
// header.

const corsOrigin = "https://app.praxiom.ai"

// corsList splits a comma-separated header into lower-cased items.
func corsList(h http.Header, name string) []string {
	var out []string
	for _, v := range h.Values(name) {
		for _, item := range strings.Split(v, ",") {
			if item = strings.ToLower(strings.TrimSpace(item)); item != "" {
				out = append(out, item)
			}
		}
	}
	return out
}

// corsHasAll fails unless header name lists every one of want
// (case-insensitively).
func corsHasAll(t *testing.T, h http.Header, name string, want ...string) {
	t.Helper()
	got := corsList(h, name)
	for _, w := range want {
		if !slices.Contains(got, strings.ToLower(w)) {
			t.Errorf("%s = %q lacks %s", name, h.Values(name), w)
		}
	}
}

// corsNone fails when r carries any Access-Control-* header.
func corsNone(t *testing.T, r *apitest.Response) {
	t.Helper()
	for k, v := range r.Header {
		if strings.HasPrefix(strings.ToLower(k), "access-control-") {
			t.Errorf("%d response carries %s: %q; want no CORS headers", r.Status, k, v)
		}
	}
}

func corsPreflight(e *apitest.Env, origin, path, method, headers string) *apitest.Response {
	h := http.Header{"Origin": {origin}, "Access-Control-Request-Method": {method}}
	if headers != "" {
		h.Set("Access-Control-Request-Headers", headers)
	}
	return e.Do(apitest.Request{Method: http.MethodOptions, Path: path, Header: h})
}

func TestCORS(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true, CORSOrigins: []string{corsOrigin, "https://admin.praxiom.ai"},
		RateLimits: httpapi.RateLimits{Limiter: ratelimit.NewLocal(newRLClock().Now), PerPlan: map[string]int{"trial": 3}}})
	tok := e.Token("cors@example.com")
	wsPath := "/api/workspaces/" + uuid.NewString()

	t.Run("preflight from an allowed origin", func(t *testing.T) {
		for _, tc := range []struct{ path, method, headers string }{
			{wsPath, http.MethodPatch, "authorization,content-type"},
			{wsPath, http.MethodDelete, "Authorization"},
			{"/api/workspaces", http.MethodPost, "authorization, content-type, x-request-id"},
			{"/api/auth/me", http.MethodGet, "authorization"},
			{"/api/invitations/some-token", http.MethodGet, ""},
		} {
			r := corsPreflight(e, corsOrigin, tc.path, tc.method, tc.headers)
			if r.Status < 200 || r.Status > 299 {
				t.Fatalf("preflight %s %s: status %d, want 2xx: %s", tc.method, tc.path, r.Status, r.Body)
			}
			if got := r.Header.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != corsOrigin {
				t.Errorf("preflight %s %s: Access-Control-Allow-Origin = %q, want %q", tc.method, tc.path, got, corsOrigin)
			}
			corsHasAll(t, r.Header, "Access-Control-Allow-Methods", "GET", "POST", "PATCH", "DELETE")
			corsHasAll(t, r.Header, "Access-Control-Allow-Headers", "Authorization", "Content-Type", "X-Request-ID")
			if ma, err := strconv.Atoi(r.Header.Get("Access-Control-Max-Age")); err != nil || ma <= 0 {
				t.Errorf("Access-Control-Max-Age = %q, want a positive number of seconds", r.Header.Get("Access-Control-Max-Age"))
			}
			if v := r.Header.Get("Access-Control-Allow-Credentials"); v != "" {
				t.Errorf("Access-Control-Allow-Credentials = %q: bearer tokens need no credentials mode", v)
			}
			if !slices.Contains(corsList(r.Header, "Vary"), "origin") {
				t.Errorf("Vary = %q lacks Origin: caches would mix origins", r.Header.Values("Vary"))
			}
			if r.Header.Get("X-Request-ID") == "" {
				t.Error("preflight without X-Request-ID")
			}
		}
		// The second listed origin is echoed as itself.
		r := corsPreflight(e, "https://admin.praxiom.ai", "/api/auth/me", http.MethodGet, "authorization")
		if got := r.Header.Get("Access-Control-Allow-Origin"); got != "https://admin.praxiom.ai" {
			t.Errorf("second origin: Access-Control-Allow-Origin = %q", got)
		}
	})

	t.Run("preflight the policy refuses", func(t *testing.T) {
		for _, tc := range []struct{ name, origin, method, headers string }{
			{"another origin", "https://evil.example", http.MethodPatch, "authorization,content-type"},
			{"a look-alike origin", "https://app.praxiom.ai.evil.example", http.MethodGet, "authorization"},
			{"http instead of https", "http://app.praxiom.ai", http.MethodGet, "authorization"},
			{"an origin with a port", "https://app.praxiom.ai:8443", http.MethodGet, "authorization"},
			{"the null origin", "null", http.MethodGet, "authorization"},
			{"a method not allowed", corsOrigin, http.MethodPut, "authorization"},
			{"a header not allowed", corsOrigin, http.MethodGet, "authorization,x-evil"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := corsPreflight(e, tc.origin, wsPath, tc.method, tc.headers)
				if r.Status >= 500 {
					t.Fatalf("status %d", r.Status)
				}
				corsNone(t, r)
			})
		}
	})

	t.Run("actual requests from an allowed origin", func(t *testing.T) {
		h := http.Header{"Origin": {corsOrigin}}
		check := func(t *testing.T, r *apitest.Response) {
			t.Helper()
			if got := r.Header.Values("Access-Control-Allow-Origin"); len(got) != 1 || got[0] != corsOrigin {
				t.Errorf("%d: Access-Control-Allow-Origin = %q, want %q", r.Status, got, corsOrigin)
			}
			corsHasAll(t, r.Header, "Access-Control-Expose-Headers",
				"X-Request-ID", "Retry-After", "X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset")
			if !slices.Contains(corsList(r.Header, "Vary"), "origin") {
				t.Errorf("Vary = %q lacks Origin", r.Header.Values("Vary"))
			}
		}
		r := e.Do(apitest.Request{Method: http.MethodGet, Path: "/api/auth/me", Token: tok, Header: h})
		if r.Status != http.StatusOK {
			t.Fatalf("GET /api/auth/me: %d %s", r.Status, r.Body)
		}
		check(t, r)
		// Errors too, so that the browser app can read them: 401, 404 and
		// the 429 whose Retry-After it needs.
		check(t, e.Do(apitest.Request{Method: http.MethodGet, Path: "/api/auth/me", Header: h}))
		check(t, e.Do(apitest.Request{Method: http.MethodGet, Path: "/api/invitations/nope", Header: h}))
		check(t, e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/workspaces", Token: tok, Header: h, Body: map[string]any{"name": "CORS"}}))
		check(t, e.Do(apitest.Request{Method: http.MethodGet, Path: "/api/auth/me", Token: tok, Header: h}))
		r = e.Do(apitest.Request{Method: http.MethodGet, Path: "/api/auth/me", Token: tok, Header: h})
		rlRetryAfter(t, r)
		check(t, r)
	})

	t.Run("actual requests from other origins", func(t *testing.T) {
		other := e.Token("cors-other@example.com")
		for _, origin := range []string{"https://evil.example", "null", "http://app.praxiom.ai"} {
			h := http.Header{"Origin": {origin}}
			r := e.Do(apitest.Request{Method: http.MethodGet, Path: "/api/auth/me", Token: other, Header: h})
			if r.Status != http.StatusOK {
				t.Fatalf("%s: %d %s", origin, r.Status, r.Body)
			}
			corsNone(t, r)
			corsNone(t, e.Do(apitest.Request{Method: http.MethodGet, Path: "/api/auth/me", Header: h}))
		}
		// No Origin at all (server to server): no CORS headers.
		corsNone(t, e.Get("/healthz", ""))
	})

	t.Run("off without origins", func(t *testing.T) {
		e := apitest.New(t, apitest.Options{})
		r := corsPreflight(e, corsOrigin, "/api/auth/me", http.MethodGet, "authorization")
		corsNone(t, r)
		corsNone(t, e.Do(apitest.Request{Method: http.MethodGet, Path: "/healthz", Header: http.Header{"Origin": {corsOrigin}}}))
	})
}
