package httpapi_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// Helpers shared by the API tests: what an answer must be, users signed up
// through the API and reads and writes straight to the database. Response
// bodies are decoded into the tests' own mirror types, never the production
// ones, so that a change to a production type cannot change what is checked.

// errEnvelope is the error body (api/openapi.yaml, ErrorEnvelope).
type errEnvelope struct {
	Error struct {
		Code      string            `json:"code"`
		Message   string            `json:"message"`
		RequestID string            `json:"request_id"`
		Fields    map[string]string `json:"fields"`
	} `json:"error"`
}

// wantStatus fails unless r answers status (a success: errors are checked
// by wantError).
func wantStatus(t *testing.T, r *apitest.Response, status int) {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d; body %s", r.Status, status, r.Body)
	}
}

// wantJSON checks the status as wantStatus does and returns the body
// decoded as T.
func wantJSON[T any](t *testing.T, r *apitest.Response, status int) T {
	t.Helper()
	wantStatus(t, r, status)
	var v T
	r.JSON(t, &v)
	return v
}

// wantError checks status, the envelope's code, a non-empty message and a
// request_id equal to the X-Request-ID header, and returns the envelope.
func wantError(t *testing.T, r *apitest.Response, status int, code string) errEnvelope {
	t.Helper()
	if r.Status != status {
		t.Fatalf("status = %d, want %d (%s); body %s", r.Status, status, code, r.Body)
	}
	var env errEnvelope
	r.JSON(t, &env)
	if env.Error.Code != code {
		t.Fatalf("error.code = %q, want %q; body %s", env.Error.Code, code, r.Body)
	}
	if env.Error.Message == "" {
		t.Errorf("error.message is empty: %s", r.Body)
	}
	rid := r.Header.Get("X-Request-ID")
	if rid == "" || env.Error.RequestID != rid {
		t.Errorf("error.request_id = %q, X-Request-ID = %q; want equal and non-empty", env.Error.RequestID, rid)
	}
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type = %q, want application/json", ct)
	}
	return env
}

// wantFields checks a 422 VALIDATION_ERROR whose fields are exactly fields,
// each with a message.
func wantFields(t *testing.T, r *apitest.Response, fields ...string) errEnvelope {
	t.Helper()
	env := wantError(t, r, http.StatusUnprocessableEntity, "VALIDATION_ERROR")
	want := slices.Sorted(slices.Values(fields))
	if got := slices.Sorted(maps.Keys(env.Error.Fields)); !slices.Equal(got, want) {
		t.Fatalf("error.fields = %v, want %v", env.Error.Fields, want)
	}
	for f, msg := range env.Error.Fields {
		if msg == "" {
			t.Fatalf("error.fields[%q] has no message: %s", f, r.Body)
		}
	}
	return env
}

// wantOutcome checks r against an expectation of a table: a success (code
// "", checked by wantStatus) or an error (checked by wantError).
func wantOutcome(t *testing.T, r *apitest.Response, status int, code string) {
	t.Helper()
	if status < 400 && code == "" {
		wantStatus(t, r, status)
		return
	}
	wantError(t, r, status, code)
}

// wantOneWinner checks the two answers of a race (apitest.Race): one must
// be win, the other lose with the error code loseCode.
func wantOneWinner(t *testing.T, round int, rs []*apitest.Response, win, lose int, loseCode string) {
	t.Helper()
	won, lost := 0, 0
	for _, r := range rs {
		switch {
		case r.Status == win:
			won++
		case r.Status == lose && r.Code() == loseCode:
			lost++
		}
	}
	if len(rs) != 2 || won != 1 || lost != 1 {
		t.Fatalf("round %d: %d %s / %d %s; want one %d and one %d %s",
			round, rs[0].Status, rs[0].Body, rs[1].Status, rs[1].Body, win, lose, loseCode)
	}
}

// person is a user signed up through the API, with a token.
type person struct {
	ID    uuid.UUID
	Email string
	Token string
}

var signUpSeq atomic.Int64

// signUp provisions a user through its first request (GET /api/auth/me,
// whose user object decodeMe checks). who is the user's email, or a name
// (without "@") for a fresh address name.N@example.com.
func signUp(t *testing.T, e *apitest.Env, who string) person {
	t.Helper()
	email := who
	if !strings.Contains(who, "@") {
		email = fmt.Sprintf("%s.%d@example.com", who, signUpSeq.Add(1))
	}
	tok := e.Token(email)
	me := decodeMe(t, e.Get("/api/auth/me", tok))
	id, err := uuid.Parse(me.ID)
	if err != nil {
		t.Fatalf("provision %s: id %q: %v", email, me.ID, err)
	}
	return person{ID: id, Email: email, Token: tok}
}

// execSQL runs one statement.
func execSQL(t *testing.T, e *apitest.Env, sql string, args ...any) {
	t.Helper()
	if _, err := e.Store.Pool().Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// scalar reads the one value sql selects.
func scalar[T any](t *testing.T, e *apitest.Env, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := e.Store.Pool().QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// standings signs up one person of each standing in a new workspace ws:
// its owner, an admin, a member, an outsider (the owner of another
// workspace) and a suspended admin.
func standings(t *testing.T, e *apitest.Env) (owner, admin, member, outsider, suspended person, ws uuid.UUID) {
	t.Helper()
	owner = signUp(t, e, "owner@example.com")
	ws = apitest.InsertWorkspace(t, e.Store, "Acme", owner.ID)
	admin = signUp(t, e, "admin@example.com")
	apitest.AddMember(t, e.Store, ws, admin.ID, store.RoleAdmin)
	member = signUp(t, e, "member@example.com")
	apitest.AddMember(t, e.Store, ws, member.ID, store.RoleMember)
	outsider = signUp(t, e, "outsider@example.com")
	apitest.InsertWorkspace(t, e.Store, "Elsewhere", outsider.ID)
	suspended = signUp(t, e, "suspended@example.com")
	apitest.AddMember(t, e.Store, ws, suspended.ID, store.RoleAdmin)
	if _, err := e.Store.AdministerUser(context.Background(), store.Suspend, store.ByEmail("suspended@example.com")); err != nil {
		t.Fatal(err)
	}
	return owner, admin, member, outsider, suspended, ws
}
