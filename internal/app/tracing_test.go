package app_test

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/app"
	"github.com/praxiom/praxiom-api/internal/clerktest"
	"github.com/praxiom/praxiom-api/internal/config"
	"github.com/praxiom/praxiom-api/internal/devtoken"
	"github.com/praxiom/praxiom-api/internal/otlptest"
	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/tracing"
)

// TestTracingExportsRequestSpans runs the real server (Serve, as the binary
// does) with OTEL_EXPORTER_OTLP_ENDPOINT pointing at an in-process OTLP
// receiver and the fake Clerk as Backend API, sends requests that reach a
// handler, are answered by middleware before routing, or match no route,
// and stops it (SIGTERM), which flushes the spans. Then: each request is a
// server span named by its route pattern, carrying its request id and
// status code; the incoming traceparent's trace is continued; the queries
// and the Clerk calls (JWKS, user) of the first request are child spans in
// its trace; the log line of each request has its span's trace id; and
// nothing received anywhere holds the invitation token, a raw path, the
// query string or a query's arguments.
func TestTracingExportsRequestSpans(t *testing.T) {
	key := apitest.Key(t)
	clerk := clerktest.New(t, key)
	const subject, email = "user_tracing1", "ada.tracing@example.com"
	clerk.AddUser(clerktest.User{ID: subject, Emails: clerktest.Emails(email), FirstName: "Ada", Primary: 0})
	token, err := key.Mint(devtoken.Options{Subject: subject, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	recv := otlptest.New(t)
	logs := &apitest.SyncBuffer{}
	addrs, cancel, done := runServeLogging(t, map[string]string{
		"DATABASE_URL": pgtest.NewDatabase(t), "CLERK_SECRET_KEY": clerktest.SecretKey, "CLERK_API_URL": clerk.URL(),
		"PORT": "0", "HOST": "127.0.0.1", "METRICS_ADDR": "", "PLG_GATING": "false", "SHUTDOWN_TIMEOUT": "5s",
		"OTEL_EXPORTER_OTLP_ENDPOINT": recv.URL(),
	}, logs)
	defer cancel()

	const (
		parentTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
		parentSpan  = "00f067aa0ba902b7"
		invToken    = "inv_S3cretInvitationTokenXYZ0123456789"
		query       = "utm=qs-S3cret"
		rawPath     = "/no/such/raw-path-S3cret"
	)
	wsID := uuid.NewString()
	// A new connection per request: a connection the client opened and
	// never used would hold the shutdown for 5 s (net/http's rule for new
	// connections).
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	requests := []struct {
		id, path, token, traceparent string
		status                       int
		span, route                  string
	}{
		// First: verifies through the JWKS (fetched now) and provisions the
		// user from Clerk's Backend API.
		{id: "req-me", path: "/api/auth/me", token: token, traceparent: "00-" + parentTrace + "-" + parentSpan + "-01",
			status: http.StatusOK, span: "GET /api/auth/me", route: "/api/auth/me"},
		{id: "req-inv", path: "/api/invitations/" + invToken + "?" + query,
			status: http.StatusNotFound, span: "GET /api/invitations/{token}", route: "/api/invitations/{token}"},
		{id: "req-ws", path: "/api/workspaces/" + wsID, token: token,
			status: http.StatusForbidden, span: "GET /api/workspaces/{workspace_id}", route: "/api/workspaces/{workspace_id}"},
		// Answered by the credential check before routing.
		{id: "req-401", path: "/api/workspaces/" + wsID + "/members?" + query,
			status: http.StatusUnauthorized, span: "GET /api/workspaces/{workspace_id}/members", route: "/api/workspaces/{workspace_id}/members"},
		{id: "req-404", path: rawPath, status: http.StatusNotFound, span: "unmatched"},
	}
	for _, rq := range requests {
		req, err := http.NewRequest(http.MethodGet, "http://"+addrs.API+rq.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("X-Request-ID", rq.id)
		if rq.token != "" {
			req.Header.Set("Authorization", "Bearer "+rq.token)
		}
		if rq.traceparent != "" {
			req.Header.Set("traceparent", rq.traceparent)
		}
		// Not from a trusted proxy: the client is the TCP peer.
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != rq.status {
			t.Fatalf("%s: status %d, want %d", rq.path, resp.StatusCode, rq.status)
		}
	}

	cancel() // SIGTERM: the shutdown flushes the spans
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Serve did not stop")
	}

	spans := recv.Spans()
	if len(spans) == 0 {
		t.Fatal("nothing was exported")
	}
	byID := map[string]otlptest.Span{}
	for _, s := range spans {
		byID[s.SpanID()] = s
		if got := s.Resource["service.name"]; got != config.DefaultServiceName {
			t.Errorf("span %q: service.name %q", s.GetName(), got)
		}
	}
	// under reports whether s descends from the span with id root.
	under := func(s otlptest.Span, root string) bool {
		for p := s.ParentID(); p != ""; {
			if p == root {
				return true
			}
			parent, ok := byID[p]
			if !ok {
				return false
			}
			p = parent.ParentID()
		}
		return false
	}

	// Each request's server span, found by its request id.
	servers := map[string]otlptest.Span{}
	for _, s := range spans {
		if s.GetKind() != tracepb.Span_SPAN_KIND_SERVER {
			continue
		}
		id, _ := s.Attr("request_id")
		servers[id] = s
		for _, k := range []string{"url.path", "url.query", "url.full", "http.target", "http.request.method_original"} {
			if v, ok := s.Attr(k); ok {
				t.Errorf("server span %q carries %s=%q", s.GetName(), k, v)
			}
		}
	}
	if len(servers) != len(requests) {
		t.Errorf("%d server spans, want %d (one per request)", len(servers), len(requests))
	}
	for _, rq := range requests {
		s, ok := servers[rq.id]
		if !ok {
			t.Errorf("%s: no server span with request_id %q", rq.path, rq.id)
			continue
		}
		if s.GetName() != rq.span {
			t.Errorf("%s: span name %q, want %q", rq.path, s.GetName(), rq.span)
		}
		if addr, _ := s.Attr("client.address"); addr != "127.0.0.1" {
			t.Errorf("%s: client.address %q, want the peer 127.0.0.1 (X-Forwarded-For from an untrusted peer)", rq.path, addr)
		}
		if route, _ := s.Attr("http.route"); route != rq.route {
			t.Errorf("%s: http.route %q, want %q", rq.path, route, rq.route)
		}
		if code, _ := s.IntAttr("http.response.status_code"); code != int64(rq.status) {
			t.Errorf("%s: http.response.status_code %d, want %d", rq.path, code, rq.status)
		}
		if s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR {
			t.Errorf("%s: a %d marked the span as an error", rq.path, rq.status)
		}
	}

	// The incoming traceparent is the parent of the first request's span.
	me := servers["req-me"]
	if me.TraceID() != parentTrace || me.ParentID() != parentSpan {
		t.Errorf("GET /api/auth/me: trace %s parent %s, want trace %s parent %s (traceparent ignored)",
			me.TraceID(), me.ParentID(), parentTrace, parentSpan)
	}
	for id, s := range servers {
		if id != "req-me" && s.TraceID() == parentTrace {
			t.Errorf("%s joined the trace of another request", id)
		}
	}

	// Its queries and its calls to Clerk are its children.
	var queries int
	clerkCalls := map[string]bool{}
	for _, s := range spans {
		if s.TraceID() != parentTrace || s.SpanID() == me.SpanID() {
			continue
		}
		if !under(s, me.SpanID()) {
			t.Errorf("span %q is in the request's trace but not under its span", s.GetName())
		}
		if sys, _ := s.Attr("db.system.name"); sys == "postgresql" {
			if sql, ok := s.Attr("db.query.text"); ok && sql != "" {
				queries++
			}
			for _, kv := range s.GetAttributes() {
				if v := kv.GetValue().String(); strings.Contains(v, subject) || strings.Contains(v, email) {
					t.Errorf("database span %q records a query argument: %s=%s", s.GetName(), kv.GetKey(), v)
				}
			}
		}
		if s.GetKind() == tracepb.Span_SPAN_KIND_CLIENT && strings.HasPrefix(s.GetName(), "Clerk ") {
			clerkCalls[s.GetName()] = true
		}
	}
	if queries == 0 {
		t.Error("no database span under GET /api/auth/me")
	}
	for _, name := range []string{"Clerk GET /jwks", "Clerk GET /users/{user_id}"} {
		if !clerkCalls[name] {
			t.Errorf("no %q span under GET /api/auth/me (got %v)", name, clerkCalls)
		}
	}
	// Other requests' queries are in their own traces.
	for _, id := range []string{"req-inv", "req-ws"} {
		n := 0
		for _, s := range spans {
			if sys, _ := s.Attr("db.system.name"); sys == "postgresql" && under(s, servers[id].SpanID()) {
				n++
			}
		}
		if n == 0 {
			t.Errorf("%s: no database span under its request span", id)
		}
	}

	// Never a secret, a raw path, the query string or an argument.
	for _, secret := range []string{invToken, query, "qs-S3cret", rawPath, "raw-path-S3cret", wsID, token} {
		if recv.Contains([]byte(secret)) {
			t.Errorf("an export contains %q", secret)
		}
	}

	// The request log line carries its span's trace id.
	logged := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(logs.String()))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var line struct {
			Msg       string `json:"msg"`
			RequestID string `json:"request_id"`
			TraceID   string `json:"trace_id"`
		}
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "request" {
			logged[line.RequestID] = line.TraceID
		}
	}
	for _, rq := range requests {
		if got, want := logged[rq.id], servers[rq.id].TraceID(); got == "" || got != want {
			t.Errorf("%s: log trace_id %q, span trace id %q", rq.id, got, want)
		}
	}
}

// TestTracingUnsetAddsNothing: with no OTEL_* variable (production's
// default) there is no provider, the pool gets no tracer, the handler is
// the router itself, nothing becomes global, and the request log line has
// no trace_id even for a request with a traceparent.
func TestTracingUnsetAddsNothing(t *testing.T) {
	cfg, err := config.Load(envOf(map[string]string{
		"DATABASE_URL": pgtest.NewDatabase(t), "CLERK_JWT_KEY": apitest.Key(t).PublicPEM(),
	}))
	if err != nil {
		t.Fatal(err)
	}
	tp, err := tracing.New(context.Background(), cfg.Tracing)
	if err != nil || tp != nil {
		t.Fatalf("tracing.New without an endpoint = %v, %v; want nil, nil", tp, err)
	}
	if opts := app.StoreOptions(cfg, tp); opts.Tracer != nil {
		t.Fatalf("the pool gets a tracer without tracing: %T", opts.Tracer)
	}
	globalBefore := otel.GetTracerProvider()

	logs := &apitest.SyncBuffer{}
	addrs, cancel, done := runServeLogging(t, map[string]string{
		"DATABASE_URL": cfg.DatabaseURL, "CLERK_JWT_KEY": cfg.ClerkJWTKey, "PORT": "0", "HOST": "127.0.0.1",
		"METRICS_ADDR": "", "SHUTDOWN_TIMEOUT": "5s",
	}, logs)
	defer cancel()
	req, _ := http.NewRequest(http.MethodGet, "http://"+addrs.API+"/healthz", nil)
	req.Header.Set("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if strings.Contains(logs.String(), "trace_id") {
		t.Fatalf("a trace id was logged without tracing:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), `"route":"/healthz"`) {
		t.Fatalf("no request line:\n%s", logs.String())
	}
	if otel.GetTracerProvider() != globalBefore {
		t.Fatal("Run replaced the global tracer provider without tracing")
	}
}
