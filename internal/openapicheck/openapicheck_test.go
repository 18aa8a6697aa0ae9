package openapicheck

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/praxiom/praxiom-api/api"
)

// recordingTB is a testing.TB whose failures are recorded instead of failing
// the test, so tests can assert that Check rejects a response.
type recordingTB struct {
	testing.TB
	mu       sync.Mutex
	failures []string
}

func (r *recordingTB) Helper() {}

func (r *recordingTB) Errorf(format string, args ...any) { r.record(fmt.Sprintf(format, args...)) }
func (r *recordingTB) Error(args ...any)                 { r.record(fmt.Sprint(args...)) }
func (r *recordingTB) Fatalf(format string, args ...any) { r.record(fmt.Sprintf(format, args...)) }
func (r *recordingTB) Fatal(args ...any)                 { r.record(fmt.Sprint(args...)) }
func (r *recordingTB) Fail()                             { r.record("Fail") }
func (r *recordingTB) FailNow()                          { r.record("FailNow") }

func (r *recordingTB) record(msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, msg)
}

func (r *recordingTB) Failures() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.failures)
}

const (
	wsID  = "3f1c2b9e-8d4a-4c1e-9f0a-2b7d6e5c4a31"
	usrID = "0b6f6a52-3c1d-4e8f-9a7b-5c4d3e2f1a00"
	rid   = "req-123"
	token = "eyJhbGciOiJSUzI1NiJ9.e30.c2ln"
)

func userJSON() map[string]any {
	return map[string]any{
		"id": usrID, "clerk_id": "user_2NNEqL2nrIRdJ194ndJqAHwEfxC", "email": "ada@example.com",
		"name": "Ada Lovelace", "avatar_url": nil, "access_status": "active",
		"has_product_access": true, "is_founder": false, "is_admin": false,
		"referral_code": "ADA7K2QX", "referral_count": 0, "activated_at": "2026-03-27T10:30:00Z",
		"created_at": "2026-03-27T10:30:00.123456Z", "updated_at": "2026-03-27T10:30:00Z",
	}
}

func workspaceJSON() map[string]any {
	return map[string]any{
		"id": wsID, "name": "Acme Dashboard", "product_name": "Acme Analytics",
		"product_description": nil, "target_users": nil, "current_stage": "growth",
		"role": "owner",
		"subscription": map[string]any{
			"plan": "trial", "status": "trialing", "trial_ends_at": "2026-04-10T10:30:00Z",
		},
		"created_at": "2026-03-27T10:30:00Z", "updated_at": "2026-03-27T10:30:00Z",
	}
}

func errorJSON(code string) map[string]any {
	return map[string]any{"error": map[string]any{"code": code, "message": "Something.", "request_id": rid}}
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// request returns a request carrying a bearer token and X-Request-ID rid.
func request(method, target string) *http.Request {
	req := httptest.NewRequest(method, target, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("X-Request-ID", rid)
	return req
}

// jsonHeader returns the headers of a JSON response to request().
func jsonHeader(extra ...string) http.Header {
	h := http.Header{}
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("X-Request-ID", rid)
	h.Set("X-RateLimit-Limit", "30")
	h.Set("X-RateLimit-Remaining", "29")
	h.Set("X-RateLimit-Reset", "1774607460")
	for i := 0; i+1 < len(extra); i += 2 {
		h.Set(extra[i], extra[i+1])
	}
	return h
}

// expectPass checks one response and fails t when Check rejected it.
func expectPass(t *testing.T, c *Checker, req *http.Request, status int, h http.Header, body []byte) {
	t.Helper()
	rec := &recordingTB{TB: t}
	c.Check(rec, req, status, h, body)
	if f := rec.Failures(); len(f) > 0 {
		t.Errorf("want the response accepted, got:\n%s", strings.Join(f, "\n"))
	}
}

// expectFail checks one response and fails t unless Check rejected it with a
// message containing every want.
func expectFail(t *testing.T, c *Checker, req *http.Request, status int, h http.Header, body []byte, wants ...string) {
	t.Helper()
	rec := &recordingTB{TB: t}
	c.Check(rec, req, status, h, body)
	f := rec.Failures()
	if len(f) == 0 {
		t.Errorf("want the response rejected, Check accepted %s %s → %d %s", req.Method, req.URL, status, body)
		return
	}
	msg := strings.Join(f, "\n")
	for _, w := range append([]string{req.Method, req.URL.Path, fmt.Sprint(status)}, wants...) {
		if !strings.Contains(msg, w) {
			t.Errorf("failure message lacks %q:\n%s", w, msg)
		}
	}
}

func TestSpecLoadsAndValidates(t *testing.T) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.Spec)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("validate: %v", err)
	}
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	if New(t) == nil {
		t.Fatal("New returned nil")
	}
}

// TestSpecSecurity pins the security of every operation: none for the
// webhook, the invitation look-up, joining the waitlist and the probes; a
// session token or an API
// key by default; a session token alone where the operation says so, and
// every authenticated operation documents 401, 429, 500 and 503. (That the
// spec's operations are exactly the server's routes is checked against the
// router in internal/httpapi.)
func TestSpecSecurity(t *testing.T) {
	c := New(t)
	public := map[string]bool{
		"getInvitationByToken": true, "joinWaitlist": true, "receiveClerkWebhook": true, "receiveClerkWebhookAlias": true,
		"getHealthz": true, "getReadyz": true,
		"getOpenAPIYAML": true, "getOpenAPIJSON": true, "getDocs": true, "getDocsBundle": true, "getDocsScript": true,
	}
	doc := c.Doc()
	if len(doc.Security) != 2 || doc.Security[0]["sessionToken"] == nil || doc.Security[1]["apiKey"] == nil {
		t.Errorf("global security = %v, want sessionToken or apiKey", doc.Security)
	}
	for _, name := range []string{"sessionToken", "apiKey"} {
		if sch := doc.Components.SecuritySchemes[name]; sch == nil || sch.Value.Type != "http" || sch.Value.Scheme != "bearer" {
			t.Errorf("security scheme %s: want an http bearer scheme", name)
		}
	}
	for _, item := range doc.Paths.Map() {
		for _, op := range item.Operations() {
			isPublic := op.Security != nil && len(*op.Security) == 0
			if isPublic != public[op.OperationID] {
				t.Errorf("%s: public = %v, want %v", op.OperationID, isPublic, public[op.OperationID])
			}
			if op.Security != nil && !isPublic {
				if len(*op.Security) != 1 || (*op.Security)[0]["sessionToken"] == nil {
					t.Errorf("%s: security %v, want the default or sessionToken alone", op.OperationID, *op.Security)
				}
			}
			if !public[op.OperationID] {
				for _, status := range []string{"401", "429", "500", "503"} {
					if op.Responses.Value(status) == nil {
						t.Errorf("%s: authenticated operation without a %s response", op.OperationID, status)
					}
				}
			}
		}
	}
}

// TestSpecResponses checks the cross-cutting rules on every documented
// response: X-Request-ID, no body on 204 and 304, JSON bodies (but for the
// API reference's YAML, HTML and scripts), the error envelope on errors,
// closed object schemas, and closed request bodies (except the webhook's).
func TestSpecResponses(t *testing.T) {
	doc := New(t).Doc()
	notJSON := map[string]bool{"getOpenAPIYAML": true, "getDocs": true, "getDocsBundle": true, "getDocsScript": true}
	envelope := doc.Components.Schemas["ErrorEnvelope"].Value
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			where := method + " " + path
			if op.OperationID == "" || op.Summary == "" {
				t.Errorf("%s: operationId and summary are required", where)
			}
			for status, ref := range op.Responses.Map() {
				resp := ref.Value
				h := resp.Headers["X-Request-ID"]
				if h == nil || !h.Value.Required {
					t.Errorf("%s %s: no required X-Request-ID header", where, status)
				}
				noBody := status == "204" || status == "304"
				if noBody && len(resp.Content) != 0 {
					t.Errorf("%s %s: has content", where, status)
				}
				if !noBody && resp.Content.Get("application/json") == nil && !(notJSON[op.OperationID] && status == "200") {
					t.Errorf("%s %s: no application/json content", where, status)
				}
				if status >= "400" {
					s := resp.Content.Get("application/json").Schema.Value
					if len(s.AllOf) == 0 || s.AllOf[0].Value != envelope {
						t.Errorf("%s %s: error response is not the ErrorEnvelope", where, status)
					}
				}
				if status == "401" && resp.Headers["WWW-Authenticate"] == nil {
					t.Errorf("%s 401: no WWW-Authenticate header", where)
				}
				if status == "429" && resp.Headers["Retry-After"] == nil {
					t.Errorf("%s 429: no Retry-After header", where)
				}
				if mt := resp.Content.Get("application/json"); mt != nil {
					checkClosed(t, where+" "+status, mt.Schema, map[*openapi3.Schema]bool{})
				}
			}
			if op.RequestBody != nil {
				s := op.RequestBody.Value.Content.Get("application/json").Schema.Value
				closed := s.AdditionalProperties.Has != nil && !*s.AdditionalProperties.Has
				if isWebhook := strings.Contains(path, "webhooks"); closed == isWebhook {
					t.Errorf("%s: request body additionalProperties:false = %v", where, closed)
				}
			}
		}
	}
}

// checkClosed fails t for any object schema reachable from ref that accepts
// unknown properties, except free-form maps (metadata, fields), which say so
// with additionalProperties: true or a value schema.
func checkClosed(t *testing.T, where string, ref *openapi3.SchemaRef, seen map[*openapi3.Schema]bool) {
	t.Helper()
	s := ref.Value
	if seen[s] {
		return
	}
	seen[s] = true
	if len(s.AllOf) > 0 {
		// The envelope is closed; the Code* narrowing schemas only add rules.
		checkClosed(t, where, s.AllOf[0], seen)
		return
	}
	if s.Type.Is("object") && len(s.Properties) > 0 {
		if s.AdditionalProperties.Has == nil || *s.AdditionalProperties.Has {
			t.Errorf("%s: object schema %s with properties %v is not additionalProperties: false",
				where, ref.Ref, slices.Sorted(maps.Keys(s.Properties)))
		}
	}
	for _, p := range s.Properties {
		checkClosed(t, where, p, seen)
	}
	if s.Items != nil {
		checkClosed(t, where, s.Items, seen)
	}
}

func TestConformingCurrentUser(t *testing.T) {
	c := New(t)
	expectPass(t, c, request("GET", "/api/auth/me"), 200, jsonHeader(), mustJSON(t, userJSON()))

	// A client-side request (absolute URL, as sent to an httptest.Server)
	// routes the same.
	req, err := http.NewRequest("GET", "http://127.0.0.1:8000/api/auth/me?x=1", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Request-ID", rid)
	expectPass(t, c, req, 200, jsonHeader(), mustJSON(t, userJSON()))
	if !c.Covered()["getCurrentUser"] {
		t.Error("getCurrentUser not marked covered")
	}
	if c.Covered()["getWorkspace"] {
		t.Error("getWorkspace marked covered without a response")
	}
}

func TestNonConformingUser(t *testing.T) {
	c := New(t)
	tests := []struct {
		name   string
		edit   func(u map[string]any)
		header http.Header
		want   string
	}{
		{"missing required field", func(u map[string]any) { delete(u, "referral_code") }, jsonHeader(), "referral_code"},
		{"extra field", func(u map[string]any) { u["password_hash"] = "x" }, jsonHeader(), "password_hash"},
		{"bad enum", func(u map[string]any) { u["access_status"] = "waitlisted" }, jsonHeader(), "access_status"},
		{"bad referral code", func(u map[string]any) { u["referral_code"] = "ADA0K2QX" }, jsonHeader(), "referral_code"},
		{"non-UTC timestamp", func(u map[string]any) { u["created_at"] = "2026-03-27T12:30:00+02:00" }, jsonHeader(), "created_at"},
		{"upper-case uuid", func(u map[string]any) { u["id"] = strings.ToUpper(usrID) }, jsonHeader(), "id"},
		{"null where not nullable", func(u map[string]any) { u["email"] = nil }, jsonHeader(), "email"},
		{"no content type", func(map[string]any) {}, http.Header{"X-Request-Id": {rid}}, "Content-Type"},
		{"no X-Request-ID", func(map[string]any) {}, http.Header{"Content-Type": {"application/json"}}, "X-Request-ID"},
		{"bad rate-limit header", func(map[string]any) {}, jsonHeader("X-RateLimit-Remaining", "many"), "X-RateLimit-Remaining"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := userJSON()
			tt.edit(u)
			expectFail(t, c, request("GET", "/api/auth/me"), 200, tt.header, mustJSON(t, u), tt.want)
		})
	}
}

func TestErrorEnvelopes(t *testing.T) {
	c := New(t)
	ws := "/api/workspaces/" + wsID
	t.Run("documented error passes", func(t *testing.T) {
		expectPass(t, c, request("GET", ws), 403, jsonHeader(), mustJSON(t, errorJSON("FORBIDDEN")))
		expectPass(t, c, request("GET", ws), 403, jsonHeader(), mustJSON(t, errorJSON("ACCOUNT_SUSPENDED")))
		body := errorJSON("VALIDATION_ERROR")
		body["error"].(map[string]any)["fields"] = map[string]any{"name": "is required"}
		expectPass(t, c, request("PATCH", ws), 422, jsonHeader(), mustJSON(t, body))
	})
	t.Run("unknown code", func(t *testing.T) {
		expectFail(t, c, request("GET", ws), 403, jsonHeader(), mustJSON(t, errorJSON("NOPE")), "code")
	})
	t.Run("code of another status", func(t *testing.T) {
		expectFail(t, c, request("GET", ws), 403, jsonHeader(), mustJSON(t, errorJSON("NOT_FOUND")), "NOT_FOUND")
	})
	t.Run("code this operation cannot give", func(t *testing.T) {
		expectFail(t, c, request("GET", ws), 403, jsonHeader(), mustJSON(t, errorJSON("ACCESS_REQUIRED")), "ACCESS_REQUIRED")
	})
	t.Run("undocumented status", func(t *testing.T) {
		expectFail(t, c, request("GET", ws), 404, jsonHeader(), mustJSON(t, errorJSON("NOT_FOUND")), "status")
	})
	t.Run("422 without fields", func(t *testing.T) {
		expectFail(t, c, request("PATCH", ws), 422, jsonHeader(), mustJSON(t, errorJSON("VALIDATION_ERROR")), "fields")
	})
	t.Run("extra field in envelope", func(t *testing.T) {
		body := errorJSON("FORBIDDEN")
		body["error"].(map[string]any)["detail"] = "pq: relation does not exist"
		expectFail(t, c, request("GET", ws), 403, jsonHeader(), mustJSON(t, body), "detail")
	})
	t.Run("request_id differs from header", func(t *testing.T) {
		body := errorJSON("FORBIDDEN")
		body["error"].(map[string]any)["request_id"] = "other"
		expectFail(t, c, request("GET", ws), 403, jsonHeader(), mustJSON(t, body), "request_id")
		// A replay (Idempotency-Key) keeps the first request's request_id.
		expectPass(t, c, request("GET", ws), 403, jsonHeader("Idempotent-Replayed", "true"), mustJSON(t, body))
	})
	t.Run("plain-text error", func(t *testing.T) {
		h := jsonHeader("Content-Type", "text/plain; charset=utf-8")
		expectFail(t, c, request("GET", ws), 403, h, []byte("forbidden\n"), "text/plain")
	})
	t.Run("429 needs Retry-After", func(t *testing.T) {
		expectPass(t, c, request("GET", ws), 429, jsonHeader("Retry-After", "12"), mustJSON(t, errorJSON("RATE_LIMITED")))
		expectFail(t, c, request("GET", ws), 429, jsonHeader(), mustJSON(t, errorJSON("RATE_LIMITED")), "Retry-After")
	})
}

func TestUnauthorized(t *testing.T) {
	c := New(t)
	body := mustJSON(t, errorJSON("UNAUTHORIZED"))
	h := func(v string) http.Header {
		return http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {rid}, "Www-Authenticate": {v}}
	}
	withToken := request("GET", "/api/auth/me")
	noToken := request("GET", "/api/auth/me")
	noToken.Header.Del("Authorization")

	expectPass(t, c, withToken, 401, h(`Bearer error="invalid_token"`), body)
	expectPass(t, c, noToken, 401, h("Bearer"), body)
	expectFail(t, c, withToken, 401, h("Bearer"), body, "invalid_token")
	expectFail(t, c, noToken, 401, h(`Bearer error="invalid_token"`), body, "no token")
	expectFail(t, c, noToken, 401, http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {rid}}, body, "WWW-Authenticate")
}

func TestRequestIDRules(t *testing.T) {
	c := New(t)
	body := mustJSON(t, userJSON())

	// A valid caller id must be echoed.
	expectFail(t, c, request("GET", "/api/auth/me"), 200, jsonHeader("X-Request-ID", "fresh-1"), body, "echo")

	// An invalid caller id must be replaced by a fresh one.
	bad := request("GET", "/api/auth/me")
	bad.Header.Set("X-Request-ID", "has spaces!")
	expectPass(t, c, bad, 200, jsonHeader("X-Request-ID", "b3c1d0a2-0f7e-4a55-8d3c-2f9b7e6a5d41"), body)
	expectFail(t, c, bad, 200, jsonHeader("X-Request-ID", "has spaces!"), body, "X-Request-ID")

	// No caller id: any valid fresh one.
	none := request("GET", "/api/auth/me")
	none.Header.Del("X-Request-ID")
	expectPass(t, c, none, 200, jsonHeader("X-Request-ID", "01HQ7Z"), body)
}

func TestUnknownRoutes(t *testing.T) {
	c := New(t)
	notFound := mustJSON(t, errorJSON("NOT_FOUND"))

	t.Run("404 envelope passes", func(t *testing.T) {
		expectPass(t, c, request("GET", "/api/nope"), 404, jsonHeader(), notFound)
		expectPass(t, c, request("GET", "/favicon.ico"), 404, jsonHeader(), notFound)
		expectPass(t, c, request("GET", "/api/workspaces/"+wsID+"/nope"), 404, jsonHeader(), notFound)
	})
	t.Run("404 without the envelope fails", func(t *testing.T) {
		h := jsonHeader("Content-Type", "text/plain; charset=utf-8")
		expectFail(t, c, request("GET", "/api/nope"), 404, h, []byte("404 page not found\n"), "/api/nope")
		expectFail(t, c, request("GET", "/api/nope"), 404, jsonHeader(), mustJSON(t, errorJSON("METHOD_NOT_ALLOWED")), "METHOD_NOT_ALLOWED")
	})
	t.Run("401 before routing under /api only", func(t *testing.T) {
		req := request("GET", "/api/nope")
		req.Header.Del("Authorization")
		h := jsonHeader("WWW-Authenticate", "Bearer")
		expectPass(t, c, req, 401, h, mustJSON(t, errorJSON("UNAUTHORIZED")))
		req = request("GET", "/nope")
		req.Header.Del("Authorization")
		expectFail(t, c, req, 401, h, mustJSON(t, errorJSON("UNAUTHORIZED")), "no operation")
	})
	t.Run("2xx on an unknown route fails", func(t *testing.T) {
		expectFail(t, c, request("GET", "/api/nope"), 200, jsonHeader(), []byte(`{}`), "no operation")
	})
	t.Run("405 with Allow", func(t *testing.T) {
		body := mustJSON(t, errorJSON("METHOD_NOT_ALLOWED"))
		expectPass(t, c, request("PUT", "/api/auth/me"), 405, jsonHeader("Allow", "GET"), body)
		expectPass(t, c, request("GET", "/webhooks/clerk"), 405, jsonHeader("Allow", "POST"), body)
		expectFail(t, c, request("PUT", "/api/auth/me"), 405, jsonHeader(), body, "Allow")
		expectFail(t, c, request("PUT", "/api/auth/me"), 404, jsonHeader(), notFound, "no operation")
	})
	t.Run("CORS preflight", func(t *testing.T) {
		req := request("OPTIONS", "/api/workspaces")
		req.Header.Set("Origin", "https://app.example.com")
		req.Header.Set("Access-Control-Request-Method", "POST")
		expectPass(t, c, req, 204, http.Header{"X-Request-Id": {rid}, "Access-Control-Allow-Origin": {"https://app.example.com"}}, nil)
	})
}

func TestNoContent(t *testing.T) {
	c := New(t)
	req := request("DELETE", "/api/workspaces/"+wsID)
	h := http.Header{"X-Request-Id": {rid}}
	expectPass(t, c, req, 204, h, nil)
	expectFail(t, c, req, 204, h, []byte(`{}`), "body")
	expectFail(t, c, req, 200, jsonHeader(), []byte(`{}`), "status")
}

func TestPublicAndOperations(t *testing.T) {
	c := New(t)
	ok := []byte(`{"status":"ok"}`)
	plain := http.Header{"Content-Type": {"application/json"}, "X-Request-Id": {rid}}

	for _, path := range []string{"/api/webhooks/clerk", "/webhooks/clerk"} {
		req := httptest.NewRequest("POST", path, strings.NewReader(`{"type":"user.created","data":{}}`))
		req.Header.Set("X-Request-ID", rid)
		expectPass(t, c, req, 200, plain, ok)
		expectPass(t, c, req, 200, plain, []byte(`{"status":"already_processed"}`))
		expectPass(t, c, req, 400, plain, mustJSON(t, errorJSON("INVALID_SIGNATURE")))
		expectFail(t, c, req, 200, plain, []byte(`{"status":"done"}`), "status")
		expectFail(t, c, req, 415, plain, mustJSON(t, errorJSON("UNSUPPORTED_MEDIA_TYPE")), "status")
	}
	req := httptest.NewRequest("GET", "/healthz", nil)
	req.Header.Set("X-Request-ID", rid)
	expectPass(t, c, req, 200, plain, ok)
	req = httptest.NewRequest("GET", "/readyz", nil)
	req.Header.Set("X-Request-ID", rid)
	expectPass(t, c, req, 503, plain, mustJSON(t, errorJSON("SERVICE_UNAVAILABLE")))

	pub := map[string]any{
		"workspace_id": wsID, "workspace_name": "Acme", "invited_email": "bob@example.com",
		"role": "member", "status": "expired", "expires_at": "2026-03-27T10:30:00Z",
		"invited_by_name": "Ada Lovelace",
	}
	req = httptest.NewRequest("GET", "/api/invitations/abcDEF_-123", nil)
	req.Header.Set("X-Request-ID", rid)
	expectPass(t, c, req, 200, plain, mustJSON(t, pub))
	pub["token"] = strings.Repeat("a", 43)
	expectFail(t, c, req, 200, plain, mustJSON(t, pub), "token")

	for _, op := range []string{"receiveClerkWebhook", "receiveClerkWebhookAlias", "getHealthz", "getReadyz", "getInvitationByToken"} {
		if !c.Covered()[op] {
			t.Errorf("%s not covered", op)
		}
	}
}

// TestWrap serves requests through a wrapped handler on a real server, in
// parallel: the handler still reads the whole request body, every response
// is checked, and coverage is recorded.
func TestWrap(t *testing.T) {
	c := New(t)
	rec := &recordingTB{TB: t}

	mux := http.NewServeMux()
	mux.HandleFunc("POST /api/workspaces", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			Name string `json:"name"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		ws := workspaceJSON()
		ws["name"] = in.Name
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Request-ID", r.Header.Get("X-Request-ID"))
		w.WriteHeader(http.StatusCreated)
		_ = json.NewEncoder(w).Encode(ws)
		// Headers set after WriteHeader are not sent and must not be checked.
		w.Header().Set("X-Late", "1")
	})
	mux.HandleFunc("GET /api/workspaces/{id}", func(w http.ResponseWriter, r *http.Request) {
		// Rewrites the request's X-Request-ID before answering with it: the
		// check must still compare with what the caller sent.
		r.Header.Set("X-Request-ID", "rewritten")
		w.Header().Set("X-Request-ID", "rewritten")
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(mustJSON(t, workspaceJSON()))
	})
	srv := httptest.NewServer(c.Wrap(rec, mux))
	defer srv.Close()

	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("Workspace %d %s", i, strings.Repeat("x", 50))
			req, _ := http.NewRequest("POST", srv.URL+"/api/workspaces", strings.NewReader(`{"name":"`+name+`"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("X-Request-ID", fmt.Sprintf("r-%d", i))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			var got map[string]any
			if err := json.NewDecoder(resp.Body).Decode(&got); err != nil || got["name"] != name {
				t.Errorf("status %d, name %v, err %v: the handler did not get the whole body", resp.StatusCode, got["name"], err)
			}
		}()
	}
	wg.Wait()
	if f := rec.Failures(); len(f) > 0 {
		t.Fatalf("conforming responses rejected:\n%s", strings.Join(f, "\n"))
	}
	if !c.Covered()["createWorkspace"] {
		t.Error("createWorkspace not covered")
	}

	// A non-conforming response through Wrap is reported.
	req, _ := http.NewRequest("GET", srv.URL+"/api/workspaces/"+wsID, nil)
	req.Header.Set("X-Request-ID", "mine")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	f := rec.Failures()
	if len(f) != 1 || !strings.Contains(f[0], "does not echo") || !strings.Contains(f[0], "GET /api/workspaces/"+wsID+" → 200") {
		t.Errorf("want one echo failure for GET, got %q", f)
	}

	// An unmatched path in the wrapped mux (net/http's plain-text 404) fails.
	resp, err = http.Get(srv.URL + "/api/unknown")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if f := rec.Failures(); len(f) != 2 || !strings.Contains(f[1], "404") {
		t.Errorf("want a failure for the plain-text 404, got %q", f)
	}

	if un := c.Uncovered(); slices.Contains(un, "createWorkspace") || !slices.Contains(un, "deleteWorkspace") {
		t.Errorf("Uncovered() = %v", un)
	}
}
