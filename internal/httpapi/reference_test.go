package httpapi_test

import (
	"bytes"
	"net/http"
	"regexp"
	"testing"

	"github.com/praxiom/praxiom-api/api"
	"github.com/praxiom/praxiom-api/internal/apidocs"
	"github.com/praxiom/praxiom-api/internal/apitest"
)

// TestReferenceRoutes holds the API reference routes to api/openapi.yaml
// ("reference"): no token needed, the exact bodies, their media types, a
// strong ETag with Cache-Control: no-cache, nosniff everywhere, the CSP on
// the page only, and 304 without a body for a matching If-None-Match.
func TestReferenceRoutes(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	specJSON, err := api.JSON()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		path, contentType string
		body              []byte
		csp               bool
	}{
		{"/openapi.yaml", "application/yaml", api.Spec, false},
		{"/openapi.json", "application/json", specJSON, false},
		{"/docs", "text/html; charset=utf-8", apidocs.Page, true},
		{"/docs/redoc.standalone.js", "text/javascript; charset=utf-8", apidocs.Bundle, false},
		{"/docs/reference.js", "text/javascript; charset=utf-8", apidocs.Script, false},
	} {
		t.Run(tc.path, func(t *testing.T) {
			// A bearer token, even a bad one, is ignored: the routes are public.
			for _, token := range []string{"", "not-a-token"} {
				res := e.Do(apitest.Request{Method: http.MethodGet, Path: tc.path, Token: token})
				if res.Status != http.StatusOK {
					t.Fatalf("GET %s (token %q) = %d: %s", tc.path, token, res.Status, res.Body)
				}
				if !bytes.Equal(res.Body, tc.body) {
					t.Fatalf("GET %s: the body (%d bytes) is not the embedded file (%d bytes)", tc.path, len(res.Body), len(tc.body))
				}
			}
			res := e.Do(apitest.Request{Method: http.MethodGet, Path: tc.path})
			h := res.Header
			etag := h.Get("ETag")
			if got := h.Get("Content-Type"); got != tc.contentType {
				t.Errorf("Content-Type %q, want %q", got, tc.contentType)
			}
			if !regexp.MustCompile(`^"[0-9a-f]{32}"$`).MatchString(etag) {
				t.Errorf("ETag %q is not a strong tag of the content", etag)
			}
			if got := h.Get("Cache-Control"); got != "no-cache" {
				t.Errorf("Cache-Control %q, want no-cache", got)
			}
			if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
				t.Errorf("X-Content-Type-Options %q, want nosniff", got)
			}
			if got, want := h.Get("Content-Security-Policy"), map[bool]string{true: apidocs.ContentSecurityPolicy}[tc.csp]; got != want {
				t.Errorf("Content-Security-Policy %q, want %q", got, want)
			}
			if again := e.Do(apitest.Request{Method: http.MethodGet, Path: tc.path}); again.Header.Get("ETag") != etag || !bytes.Equal(again.Body, res.Body) {
				t.Error("a second GET gave another ETag or other bytes")
			}

			for _, c := range []struct {
				ifNoneMatch string
				want        int
			}{
				{etag, http.StatusNotModified},
				{"W/" + etag, http.StatusNotModified},
				{`"other", ` + etag, http.StatusNotModified},
				{"*", http.StatusNotModified},
				{`"other"`, http.StatusOK},
				{etag[:len(etag)-2] + `"`, http.StatusOK},
				{"", http.StatusOK},
			} {
				res := e.Do(apitest.Request{Method: http.MethodGet, Path: tc.path,
					Header: http.Header{"If-None-Match": {c.ifNoneMatch}}})
				if res.Status != c.want {
					t.Errorf("If-None-Match %q: %d, want %d", c.ifNoneMatch, res.Status, c.want)
					continue
				}
				if c.want == http.StatusNotModified {
					if len(res.Body) != 0 || res.Header.Get("ETag") != etag || res.Header.Get("Content-Type") != "" {
						t.Errorf("If-None-Match %q: 304 with a %d-byte body, ETag %q, Content-Type %q",
							c.ifNoneMatch, len(res.Body), res.Header.Get("ETag"), res.Header.Get("Content-Type"))
					}
				}
			}

			// Other methods: 405 with Allow (the error envelope).
			post := e.Do(apitest.Request{Method: http.MethodPost, Path: tc.path, Body: map[string]any{}})
			if post.Status != http.StatusMethodNotAllowed || post.Header.Get("Allow") != "GET" {
				t.Errorf("POST %s = %d, Allow %q; want 405, Allow GET", tc.path, post.Status, post.Header.Get("Allow"))
			}
		})
	}

	// Only the listed files are served.
	for _, path := range []string{"/docs/", "/docs/redoc.standalone.js.map", "/docs/../go.mod", "/openapi.yml"} {
		if res := e.Do(apitest.Request{Method: http.MethodGet, Path: path}); res.Status != http.StatusNotFound || res.Code() != "NOT_FOUND" {
			t.Errorf("GET %s = %d %s, want 404 NOT_FOUND", path, res.Status, res.Code())
		}
	}
}
