package httpapi_test

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/auth"
	"github.com/praxiom/praxiom-api/internal/clerktest"
	"github.com/praxiom/praxiom-api/internal/devtoken"
	"github.com/praxiom/praxiom-api/internal/store"
)

func TestOpsRequestIDOnEveryResponse(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	tok := e.Token("rid@example.com")
	body := clerktest.User{ID: "user_" + uniq("rid"), Emails: clerktest.Emails("rid@example.com"), UpdatedAt: time.Now()}.Event("user.created")
	requests := []struct {
		name   string
		req    apitest.Request
		status int
	}{
		{"healthz", apitest.Request{Method: http.MethodGet, Path: "/healthz"}, 200},
		{"readyz", apitest.Request{Method: http.MethodGet, Path: "/readyz"}, 200},
		{"me", apitest.Request{Method: http.MethodGet, Path: "/api/auth/me", Token: tok}, 200},
		{"me without token", apitest.Request{Method: http.MethodGet, Path: "/api/auth/me"}, 401},
		{"me with a bad token", apitest.Request{Method: http.MethodGet, Path: "/api/auth/me", Token: "x.y.z"}, 401},
		{"unknown route", apitest.Request{Method: http.MethodGet, Path: "/nope"}, 404},
		{"wrong method", apitest.Request{Method: http.MethodPost, Path: "/healthz"}, 405},
		{"webhook without signature", apitest.Request{Method: http.MethodPost, Path: "/webhooks/clerk", Body: body}, 400},
		{"webhook delivery", apitest.Request{Method: http.MethodPost, Path: "/webhooks/clerk", Body: body,
			Header: apitest.SignedHeaders(t, e.WebhookSecret, uniq("msg_"), time.Now(), body)}, 200},
	}
	for _, tc := range requests {
		t.Run(tc.name, func(t *testing.T) {
			// Without a caller id: a fresh one, different each time.
			r1, r2 := e.Do(tc.req), e.Do(tc.req)
			if r1.Status != tc.status {
				t.Fatalf("status %d, want %d: %s", r1.Status, tc.status, r1.Body)
			}
			id1, id2 := r1.Header.Get("X-Request-ID"), r2.Header.Get("X-Request-ID")
			if !uuidRE.MatchString(id1) || id1 == id2 {
				t.Errorf("generated X-Request-IDs %q, %q; want fresh UUIDs", id1, id2)
			}
			if tc.status >= 400 {
				wantError(t, r1, tc.status, mustCode(t, r1))
			}

			// With a valid caller id: echoed, also in the error body.
			req := tc.req
			req.Header = cloneHeader(req.Header)
			req.Header.Set("X-Request-ID", "caller-"+strings.ReplaceAll(tc.name, " ", "_"))
			if tc.name == "webhook delivery" {
				req.Header = apitest.SignedHeaders(t, e.WebhookSecret, uniq("msg_"), time.Now(), body)
				req.Header.Set("X-Request-ID", "caller-webhook")
			}
			r := e.Do(req)
			if got, want := r.Header.Get("X-Request-ID"), req.Header.Get("X-Request-ID"); got != want {
				t.Errorf("X-Request-ID = %q, want the caller's %q", got, want)
			}
			if tc.status >= 400 {
				wantError(t, r, tc.status, mustCode(t, r))
			}
		})
	}
}

func mustCode(t *testing.T, r *apitest.Response) string {
	t.Helper()
	c := r.Code()
	if c == "" {
		t.Fatalf("no error code in %s", r.Body)
	}
	return c
}

func cloneHeader(h http.Header) http.Header {
	if h == nil {
		return http.Header{}
	}
	return h.Clone()
}

func TestOpsCallerRequestID(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	cases := []struct {
		id   string
		echo bool
	}{
		{"a", true},
		{"abc-123_DEF.456", true},
		{"0af7651916cd43dd8448eb211c80319c", true},
		{strings.Repeat("x", 128), true},
		{strings.Repeat("x", 129), false},
		{"has space", false},
		{"slash/id", false},
		{"quote\"id", false},
		{"ünïcödé", false},
		{"semi;colon", false},
		{"new\nline", false},
	}
	for _, tc := range cases {
		name := tc.id
		if len(name) > 20 {
			name = name[:20] + "…"
		}
		t.Run(name, func(t *testing.T) {
			h := http.Header{}
			h["X-Request-Id"] = []string{tc.id} // set raw: some are not valid header values
			for _, path := range []string{"/healthz", "/nope"} {
				r := e.Do(apitest.Request{Method: http.MethodGet, Path: path, Header: h})
				got := r.Header.Get("X-Request-ID")
				if tc.echo && got != tc.id {
					t.Errorf("%s: X-Request-ID = %q, want the caller's %q", path, got, tc.id)
				}
				if !tc.echo && (got == tc.id || !uuidRE.MatchString(got)) {
					t.Errorf("%s: X-Request-ID = %q, want a fresh id replacing %q", path, got, tc.id)
				}
				if r.Status == http.StatusNotFound {
					wantError(t, r, http.StatusNotFound, "NOT_FOUND")
				}
			}
		})
	}
}

func TestOpsNotFound(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	tok := e.Token("nf@example.com")
	for _, req := range []apitest.Request{
		{Method: http.MethodGet, Path: "/nope"},
		{Method: http.MethodPost, Path: "/nope", Body: map[string]any{}},
		{Method: http.MethodGet, Path: "/healthz/extra"},
		{Method: http.MethodGet, Path: "/"},
		{Method: http.MethodGet, Path: "/api/nope", Token: tok},
		{Method: http.MethodDelete, Path: "/api/auth/me/x", Token: tok},
	} {
		t.Run(req.Method+" "+req.Path, func(t *testing.T) {
			wantError(t, e.Do(req), http.StatusNotFound, "NOT_FOUND")
		})
	}
}

func TestOpsMethodNotAllowed(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	tok := e.Token("mna@example.com")
	for _, tc := range []struct {
		req   apitest.Request
		allow string
	}{
		{apitest.Request{Method: http.MethodPost, Path: "/healthz"}, "GET"},
		{apitest.Request{Method: http.MethodDelete, Path: "/healthz"}, "GET"},
		{apitest.Request{Method: http.MethodPut, Path: "/readyz"}, "GET"},
		{apitest.Request{Method: http.MethodGet, Path: "/webhooks/clerk"}, "POST"},
		// Under /api authentication runs before routing, hence the tokens.
		{apitest.Request{Method: http.MethodPost, Path: "/api/invitations/sometoken", Token: tok}, "GET"},
		{apitest.Request{Method: http.MethodPatch, Path: "/api/invitations/sometoken", Token: tok}, "GET"},
		{apitest.Request{Method: http.MethodPost, Path: "/api/auth/me", Token: tok}, "GET"},
	} {
		t.Run(tc.req.Method+" "+tc.req.Path, func(t *testing.T) {
			r := e.Do(tc.req)
			wantError(t, r, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
			if got := r.Header.Values("Allow"); len(got) != 1 || got[0] != tc.allow {
				t.Errorf("Allow = %q, want %q", got, tc.allow)
			}
		})
	}
}

func TestOpsHealthz(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	r := e.Get("/healthz", "")
	if r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != `{"status":"ok"}` {
		t.Fatalf("GET /healthz = %d %s, want 200 {\"status\":\"ok\"}", r.Status, r.Body)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q", ct)
	}
}

// fakeReadiness is a ReadinessChecker with a fixed answer.
type fakeReadiness struct {
	pending bool
	err     error
}

func (f fakeReadiness) Pending(context.Context) (bool, error) { return f.pending, f.err }

func TestOpsReadyz(t *testing.T) {
	t.Run("migrated", func(t *testing.T) {
		e := apitest.New(t, apitest.Options{})
		r := e.Get("/readyz", "")
		if r.Status != http.StatusOK || strings.TrimSpace(string(r.Body)) != `{"status":"ok"}` {
			t.Fatalf("GET /readyz = %d %s, want 200 {\"status\":\"ok\"}", r.Status, r.Body)
		}
	})
	t.Run("migration pending", func(t *testing.T) {
		e := apitest.New(t, apitest.Options{Readiness: fakeReadiness{pending: true}})
		wantError(t, e.Get("/readyz", ""), http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
		// Liveness is unaffected.
		if r := e.Get("/healthz", ""); r.Status != http.StatusOK {
			t.Errorf("GET /healthz = %d", r.Status)
		}
	})
	t.Run("migration state unreadable", func(t *testing.T) {
		e := apitest.New(t, apitest.Options{Readiness: fakeReadiness{err: errors.New("pq: relation goose_db_version does not exist")}})
		r := e.Get("/readyz", "")
		env := wantError(t, r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
		if strings.Contains(env.Error.Message, "goose") || strings.Contains(env.Error.Message, "pq:") {
			t.Errorf("message leaks the cause: %q", env.Error.Message)
		}
	})
	t.Run("real migrator with a migration rolled back", func(t *testing.T) {
		e := apitest.New(t, apitest.Options{})
		// Forget the newest applied migration: the migrator then reports
		// it pending.
		if _, err := e.Store.Pool().Exec(context.Background(),
			`DELETE FROM goose_db_version WHERE version_id = (SELECT max(version_id) FROM goose_db_version)`); err != nil {
			t.Fatal(err)
		}
		wantError(t, e.Get("/readyz", ""), http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	})
}

// panickingVerifier panics inside the authentication middleware, i.e.
// inside a handler of the real router.
type panickingVerifier struct{ value any }

func (p panickingVerifier) Verify(context.Context, string) (auth.Claims, error) { panic(p.value) }

type panickingReadiness struct{}

func (panickingReadiness) Pending(context.Context) (bool, error) {
	panic("readiness exploded: password=hunter2")
}

func TestOpsPanicBecomes500(t *testing.T) {
	const secretCause = "boom: SELECT * FROM users WHERE password='hunter2'"
	e := apitest.New(t, apitest.Options{Verifier: panickingVerifier{value: secretCause}, Readiness: panickingReadiness{}})
	for _, req := range []apitest.Request{
		{Method: http.MethodGet, Path: "/api/auth/me", Token: "a.b.c"},
		{Method: http.MethodGet, Path: "/readyz"},
	} {
		t.Run(req.Path, func(t *testing.T) {
			r := e.Do(req)
			env := wantError(t, r, http.StatusInternalServerError, "INTERNAL")
			if env.Error.Message != "Internal server error." {
				t.Errorf("message = %q, want the generic one", env.Error.Message)
			}
			if bytes.Contains(r.Body, []byte("hunter2")) || bytes.Contains(r.Body, []byte("goroutine")) {
				t.Errorf("body leaks the panic: %s", r.Body)
			}
			// The log has the cause and the request id.
			rid := r.Header.Get("X-Request-ID")
			var found bool
			for _, line := range strings.Split(e.Logs(), "\n") {
				if strings.Contains(line, `"msg":"panic"`) && strings.Contains(line, rid) {
					found = true
				}
			}
			if !found {
				t.Errorf("no panic log line with request id %s in:\n%s", rid, e.Logs())
			}
		})
	}
	// The server keeps serving.
	if r := e.Get("/healthz", ""); r.Status != http.StatusOK {
		t.Errorf("healthz after panics: %d", r.Status)
	}
}

func TestOpsAbortHandlerPanicIsRethrown(t *testing.T) {
	e := apitest.New(t, apitest.Options{Verifier: panickingVerifier{value: http.ErrAbortHandler}, NoSpecCheck: true})
	defer func() {
		if rec := recover(); rec != http.ErrAbortHandler {
			t.Errorf("recovered %v, want http.ErrAbortHandler to reach net/http", rec)
		}
	}()
	e.Get("/api/auth/me", "a.b.c")
	t.Error("the request completed; want the ErrAbortHandler panic re-raised")
}

// silentListener accepts TCP connections and never answers: a database
// that hangs.
func silentListener(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return "postgres://praxiom:secret@" + l.Addr().String() + "/praxiom?sslmode=disable"
}

// TestOpsDatabaseDown serves from a store whose database cannot be reached:
// every database-backed route answers 503 (never 500) within a bounded time,
// and /healthz stays 200.
func TestOpsDatabaseDown(t *testing.T) {
	for name, dbURL := range map[string]string{
		"connection refused": deadDatabaseURL(t),
		"database hangs":     silentListener(t),
	} {
		t.Run(name, func(t *testing.T) {
			// apitest.New fails the test when store.Open waits for the
			// database instead of returning at once.
			e := apitest.New(t, apitest.Options{DatabaseURL: dbURL, Store: store.Options{ConnectTimeout: 300 * time.Millisecond}})
			key, secret := e.Key, e.WebhookSecret
			do := func(method, path string, hdr http.Header, body []byte) *apitest.Response {
				t.Helper()
				req := httptest.NewRequest(method, path, bytes.NewReader(body))
				for k, v := range hdr {
					req.Header[k] = v
				}
				w := httptest.NewRecorder()
				start := time.Now()
				e.Handler.ServeHTTP(w, req)
				if d := time.Since(start); d > 10*time.Second {
					t.Errorf("%s %s took %v; want a bounded wait", method, path, d)
				}
				return &apitest.Response{Status: w.Code, Header: w.Header(), Body: w.Body.Bytes()}
			}

			tok := mintWith(t, key, devtoken.Options{})
			bearer := http.Header{"Authorization": {"Bearer " + tok}}
			r := do(http.MethodGet, "/api/auth/me", bearer, nil)
			wantError(t, r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
			if r.Header.Get("Retry-After") == "" {
				t.Error("503 without Retry-After")
			}
			if r.Header.Get("WWW-Authenticate") != "" {
				t.Error("a database outage must not look like a bad token")
			}

			wantError(t, do(http.MethodGet, "/readyz", nil, nil), http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")

			body := clerktest.User{ID: "user_" + uniq("down"), Emails: clerktest.Emails("down@example.com"), UpdatedAt: time.Now()}.Event("user.created")
			hdr := apitest.SignedHeaders(t, secret, uniq("msg_"), time.Now(), body)
			wantError(t, do(http.MethodPost, "/api/webhooks/clerk", hdr, body), http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")

			if r := do(http.MethodGet, "/healthz", nil, nil); r.Status != http.StatusOK {
				t.Errorf("GET /healthz = %d, want 200 while the process runs", r.Status)
			}
			assertLogsClean(t, e.Logs(), append(tokenSecrets(tok), secret, strings.TrimPrefix(secret, "whsec_"), "praxiom:secret")...)
		})
	}
}
