package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/store"
	"github.com/praxiom/praxiom-api/internal/testenv"
)

// invNewEnv starts the API with PLG gating on (new users start pending,
// without product access); testenv holds every response to
// api/openapi.yaml.
func invNewEnv(t *testing.T, maxConns int32) *testenv.Env {
	t.Helper()
	return testenv.New(t, testenv.Options{Store: store.Options{MaxConns: maxConns}})
}

// invUser provisions the user of email through GET /api/auth/me and returns
// its token and id.
func invUser(t *testing.T, e *testenv.Env, email string) (string, uuid.UUID) {
	t.Helper()
	tok := e.Token(email)
	r := e.Get("/api/auth/me", tok)
	if r.Status != http.StatusOK {
		t.Fatalf("provision %s: %d %s", email, r.Status, r.Body)
	}
	var me struct {
		ID uuid.UUID `json:"id"`
	}
	r.JSON(t, &me)
	return tok, me.ID
}

// invWorkspace creates a workspace owned by ownerID directly in SQL, so
// these tests do not depend on the workspace handlers.
func invWorkspace(t *testing.T, e *testenv.Env, name string, ownerID uuid.UUID) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	var id uuid.UUID
	if err := e.Store.Pool().QueryRow(ctx, `INSERT INTO workspaces (name) VALUES ($1) RETURNING id`, name).Scan(&id); err != nil {
		t.Fatalf("insert workspace: %v", err)
	}
	if _, err := e.Store.Pool().Exec(ctx, `INSERT INTO subscriptions (workspace_id, trial_ends_at) VALUES ($1, now() + interval '14 days')`, id); err != nil {
		t.Fatalf("insert subscription: %v", err)
	}
	invAddMember(t, e, id, ownerID, store.RoleOwner)
	return id
}

func invAddMember(t *testing.T, e *testenv.Env, wsID, userID uuid.UUID, role string) {
	t.Helper()
	if _, err := e.Store.Pool().Exec(context.Background(),
		`INSERT INTO workspace_members (workspace_id, user_id, role) VALUES ($1, $2, $3)`, wsID, userID, role); err != nil {
		t.Fatalf("insert member: %v", err)
	}
}

// invSQL runs one statement.
func invSQL(t *testing.T, e *testenv.Env, sql string, args ...any) {
	t.Helper()
	if _, err := e.Store.Pool().Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

// invScalar reads one value.
func invScalar[T any](t *testing.T, e *testenv.Env, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := e.Store.Pool().QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

// invWant fails unless r has status and, when code is set, that error code.
func invWant(t *testing.T, r *testenv.Response, status int, code string) {
	t.Helper()
	if r.Status != status || (code != "" && r.Code() != code) {
		t.Fatalf("got %d %s, want %d %s", r.Status, r.Body, status, code)
	}
}

// invFields returns the sorted field names of a VALIDATION_ERROR.
func invFields(t *testing.T, r *testenv.Response) []string {
	t.Helper()
	var env struct {
		Error struct {
			Fields map[string]string `json:"fields"`
		} `json:"error"`
	}
	r.JSON(t, &env)
	return slices.Sorted(maps.Keys(env.Error.Fields))
}

type invitationBody struct {
	ID            uuid.UUID `json:"id"`
	WorkspaceID   uuid.UUID `json:"workspace_id"`
	InvitedEmail  string    `json:"invited_email"`
	Role          string    `json:"role"`
	Status        string    `json:"status"`
	ExpiresAt     time.Time `json:"expires_at"`
	CreatedAt     time.Time `json:"created_at"`
	InvitedByName string    `json:"invited_by_name"`
	Token         string    `json:"token"`
}

type invitationList struct {
	Invitations []invitationBody `json:"invitations"`
	Total       int              `json:"total"`
}

func invPath(wsID uuid.UUID, rest ...string) string {
	return "/api/workspaces/" + wsID.String() + "/invitations" + strings.Join(rest, "")
}

func invCreate(t *testing.T, e *testenv.Env, tok string, wsID uuid.UUID, email, role string) invitationBody {
	t.Helper()
	r := e.Do(testenv.Request{Method: http.MethodPost, Path: invPath(wsID), Token: tok,
		Body: map[string]any{"email": email, "role": role}})
	invWant(t, r, http.StatusCreated, "")
	var inv invitationBody
	r.JSON(t, &inv)
	return inv
}

func invList(t *testing.T, e *testenv.Env, tok string, wsID uuid.UUID, query string) invitationList {
	t.Helper()
	r := e.Get(invPath(wsID)+query, tok)
	invWant(t, r, http.StatusOK, "")
	var l invitationList
	r.JSON(t, &l)
	return l
}

func invAccept(e *testenv.Env, tok, token string) *testenv.Response {
	return e.Do(testenv.Request{Method: http.MethodPost, Path: "/api/invitations/" + token + "/accept", Token: tok})
}

func invRevoke(e *testenv.Env, tok string, wsID, id uuid.UUID) *testenv.Response {
	return e.Do(testenv.Request{Method: http.MethodDelete, Path: invPath(wsID, "/", id.String()), Token: tok})
}

func invLookup(t *testing.T, e *testenv.Env, token string) map[string]any {
	t.Helper()
	r := e.Get("/api/invitations/"+token, "")
	invWant(t, r, http.StatusOK, "")
	var m map[string]any
	r.JSON(t, &m)
	return m
}

func invIDs(l invitationList) []uuid.UUID {
	ids := make([]uuid.UUID, len(l.Invitations))
	for i, inv := range l.Invitations {
		ids[i] = inv.ID
	}
	return ids
}

var invTokenPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43,}$`)

// TestInvitationLifecycle: create → public look-up → accept → member with
// that role; the pending invitee became active without product access.
func TestInvitationLifecycle(t *testing.T) {
	e := invNewEnv(t, 0)
	ownerTok, ownerID := invUser(t, e, "ada@example.com")
	ws := invWorkspace(t, e, "Acme", ownerID)

	before := time.Now()
	inv := invCreate(t, e, ownerTok, ws, "  Bob@Example.COM ", "admin")
	if inv.InvitedEmail != "bob@example.com" || inv.Role != "admin" || inv.Status != "pending" ||
		inv.WorkspaceID != ws || inv.InvitedByName != "ada" || inv.ID == uuid.Nil {
		t.Errorf("created = %+v", inv)
	}
	if !invTokenPattern.MatchString(inv.Token) {
		t.Errorf("token %q: want at least 32 random bytes, URL-safe", inv.Token)
	}
	if d := inv.ExpiresAt.Sub(before); d < 7*24*time.Hour-time.Minute || d > 7*24*time.Hour+time.Minute {
		t.Errorf("expires_at %v is not 7 days from now", inv.ExpiresAt)
	}

	// Admins and owners see the token in the list.
	l := invList(t, e, ownerTok, ws, "")
	if l.Total != 1 || len(l.Invitations) != 1 || l.Invitations[0].Token != inv.Token {
		t.Fatalf("list = %+v", l)
	}

	// The public look-up needs no token and never shows the token or id.
	pub := invLookup(t, e, inv.Token)
	if got := slices.Sorted(maps.Keys(pub)); !slices.Equal(got, []string{"expires_at", "invited_by_name",
		"invited_email", "role", "status", "workspace_id", "workspace_name"}) {
		t.Errorf("public look-up keys = %v", got)
	}
	if pub["workspace_name"] != "Acme" || pub["workspace_id"] != ws.String() || pub["status"] != "pending" ||
		pub["invited_email"] != "bob@example.com" || pub["role"] != "admin" || pub["invited_by_name"] != "ada" {
		t.Errorf("public look-up = %v", pub)
	}

	bobTok, bobID := invUser(t, e, "BOB@example.com")
	r := invAccept(e, bobTok, inv.Token)
	invWant(t, r, http.StatusOK, "")
	var got struct {
		ID   uuid.UUID `json:"id"`
		Name string    `json:"name"`
		Role string    `json:"role"`
	}
	r.JSON(t, &got)
	if got.ID != ws || got.Name != "Acme" || got.Role != "admin" {
		t.Errorf("accept answered %s", r.Body)
	}
	if role := invScalar[string](t, e, `SELECT role FROM workspace_members WHERE workspace_id = $1 AND user_id = $2`, ws, bobID); role != "admin" {
		t.Errorf("member role = %q", role)
	}
	var me struct {
		AccessStatus     string     `json:"access_status"`
		HasProductAccess bool       `json:"has_product_access"`
		ActivatedAt      *time.Time `json:"activated_at"`
	}
	e.Get("/api/auth/me", bobTok).JSON(t, &me)
	if me.AccessStatus != "active" || me.HasProductAccess || me.ActivatedAt == nil {
		t.Errorf("invitee after accepting: %+v; want active, activated, without product access", me)
	}
	st := invScalar[string](t, e, `SELECT status FROM invitations WHERE id = $1`, inv.ID)
	acceptedBy := invScalar[uuid.UUID](t, e, `SELECT accepted_by FROM invitations WHERE id = $1`, inv.ID)
	if st != "accepted" || acceptedBy != bobID {
		t.Errorf("stored invitation: status %q accepted_by %v", st, acceptedBy)
	}

	// After: no longer pending; accepting again is 410; re-inviting is 409.
	if l := invList(t, e, ownerTok, ws, ""); l.Total != 0 || len(l.Invitations) != 0 {
		t.Errorf("default list after accept = %+v", l)
	}
	if l := invList(t, e, ownerTok, ws, "?status=accepted"); l.Total != 1 || l.Invitations[0].Status != "accepted" {
		t.Errorf("accepted list = %+v", l)
	}
	if pub := invLookup(t, e, inv.Token); pub["status"] != "accepted" {
		t.Errorf("look-up after accept: %v", pub)
	}
	invWant(t, invAccept(e, bobTok, inv.Token), http.StatusGone, "INVITATION_ALREADY_ACCEPTED")
	invWant(t, invRevoke(e, ownerTok, ws, inv.ID), http.StatusGone, "INVITATION_ALREADY_ACCEPTED")
	r = e.Do(testenv.Request{Method: http.MethodPost, Path: invPath(ws), Token: ownerTok,
		Body: map[string]any{"email": "bob@EXAMPLE.com", "role": "member"}})
	invWant(t, r, http.StatusConflict, "ALREADY_MEMBER")
	if n := invScalar[int](t, e, `SELECT count(*) FROM invitations`); n != 1 {
		t.Errorf("%d invitations after refused create, want 1", n)
	}

	// The new admin may invite too.
	invCreate(t, e, bobTok, ws, "carol@example.com", "member")
}

// TestInvitationExpiry: expiry is applied when read.
func TestInvitationExpiry(t *testing.T) {
	e := invNewEnv(t, 0)
	ownerTok, ownerID := invUser(t, e, "ada@example.com")
	ws := invWorkspace(t, e, "Acme", ownerID)
	carolTok, carolID := invUser(t, e, "carol@example.com")

	old := invCreate(t, e, ownerTok, ws, "carol@example.com", "member")
	invSQL(t, e, `UPDATE invitations SET expires_at = now() - interval '1 minute' WHERE id = $1`, old.ID)

	if pub := invLookup(t, e, old.Token); pub["status"] != "expired" {
		t.Errorf("look-up of an expired invitation: %v", pub)
	}
	invWant(t, invAccept(e, carolTok, old.Token), http.StatusGone, "INVITATION_EXPIRED")
	if n := invScalar[int](t, e, `SELECT count(*) FROM workspace_members WHERE user_id = $1`, carolID); n != 0 {
		t.Errorf("expired invitation made %d memberships", n)
	}
	if l := invList(t, e, ownerTok, ws, ""); l.Total != 0 || len(l.Invitations) != 0 {
		t.Errorf("default list shows an expired invitation: %+v", l)
	}
	if l := invList(t, e, ownerTok, ws, "?status=pending"); l.Total != 0 {
		t.Errorf("pending list shows an expired invitation: %+v", l)
	}
	l := invList(t, e, ownerTok, ws, "?status=expired")
	if l.Total != 1 || len(l.Invitations) != 1 || l.Invitations[0].ID != old.ID || l.Invitations[0].Status != "expired" {
		t.Errorf("expired list = %+v", l)
	}
	invWant(t, invRevoke(e, ownerTok, ws, old.ID), http.StatusGone, "INVITATION_EXPIRED")

	// Re-inviting replaces the expired one, which is now stored as expired.
	fresh := invCreate(t, e, ownerTok, ws, "carol@example.com", "member")
	if s := invScalar[string](t, e, `SELECT status FROM invitations WHERE id = $1`, old.ID); s != "expired" {
		t.Errorf("old invitation stored as %q, want expired", s)
	}
	if l := invList(t, e, ownerTok, ws, "?status=expired"); l.Total != 1 {
		t.Errorf("expired list after re-invite = %+v", l)
	}
	invWant(t, invAccept(e, carolTok, fresh.Token), http.StatusOK, "")
}

// TestInvitationRevoke: 204 (idempotent), then accepting is 410; scoped by
// workspace.
func TestInvitationRevoke(t *testing.T) {
	e := invNewEnv(t, 0)
	ownerTok, ownerID := invUser(t, e, "ada@example.com")
	ws := invWorkspace(t, e, "Acme", ownerID)
	otherOwnerTok, otherOwnerID := invUser(t, e, "zed@example.com")
	other := invWorkspace(t, e, "Other", otherOwnerID)
	danTok, _ := invUser(t, e, "dan@example.com")

	inv := invCreate(t, e, ownerTok, ws, "dan@example.com", "member")
	r := invRevoke(e, ownerTok, ws, inv.ID)
	invWant(t, r, http.StatusNoContent, "")
	if len(r.Body) != 0 {
		t.Errorf("204 with a body: %s", r.Body)
	}
	invWant(t, invRevoke(e, ownerTok, ws, inv.ID), http.StatusNoContent, "")
	if pub := invLookup(t, e, inv.Token); pub["status"] != "revoked" {
		t.Errorf("look-up after revoke: %v", pub)
	}
	if l := invList(t, e, ownerTok, ws, "?status=revoked"); l.Total != 1 || l.Invitations[0].ID != inv.ID {
		t.Errorf("revoked list = %+v", l)
	}
	invWant(t, invAccept(e, danTok, inv.Token), http.StatusGone, "INVITATION_REVOKED")

	// A revoked invitation does not block a new one.
	invCreate(t, e, ownerTok, ws, "dan@example.com", "member")

	// Another workspace's invitation id is not found here, and stays pending.
	foreign := invCreate(t, e, otherOwnerTok, other, "erin@example.com", "member")
	invWant(t, invRevoke(e, ownerTok, ws, foreign.ID), http.StatusNotFound, "NOT_FOUND")
	if s := invScalar[string](t, e, `SELECT status FROM invitations WHERE id = $1`, foreign.ID); s != "pending" {
		t.Errorf("foreign invitation is %q", s)
	}
	invWant(t, invRevoke(e, ownerTok, ws, uuid.New()), http.StatusNotFound, "NOT_FOUND")
	r = e.Do(testenv.Request{Method: http.MethodDelete, Path: invPath(ws, "/not-a-uuid"), Token: ownerTok})
	invWant(t, r, http.StatusBadRequest, "BAD_REQUEST")
	// A path workspace that is not a UUID is refused before anything else.
	r = e.Do(testenv.Request{Method: http.MethodDelete, Path: "/api/workspaces/nope/invitations/" + inv.ID.String(), Token: ownerTok})
	invWant(t, r, http.StatusBadRequest, "BAD_REQUEST")
}

// TestInvitationAcceptRefusals covers the accept errors other than 410.
func TestInvitationAcceptRefusals(t *testing.T) {
	e := invNewEnv(t, 0)
	ownerTok, ownerID := invUser(t, e, "ada@example.com")
	ws := invWorkspace(t, e, "Acme", ownerID)

	// Email mismatch: 403, and nothing changes.
	inv := invCreate(t, e, ownerTok, ws, "erin@example.com", "member")
	frankTok, frankID := invUser(t, e, "frank@example.com")
	invWant(t, invAccept(e, frankTok, inv.Token), http.StatusForbidden, "INVITATION_EMAIL_MISMATCH")
	if s := invScalar[string](t, e, `SELECT status FROM invitations WHERE id = $1`, inv.ID); s != "pending" {
		t.Errorf("invitation is %q after a mismatched accept", s)
	}
	if n := invScalar[int](t, e, `SELECT count(*) FROM workspace_members WHERE user_id = $1`, frankID); n != 0 {
		t.Errorf("mismatched accept made a membership")
	}
	if st := invScalar[string](t, e, `SELECT access_status FROM users WHERE id = $1`, frankID); st != "pending" {
		t.Errorf("mismatched accept activated the user: %s", st)
	}

	// Unknown or impossible tokens: 404 for both look-up and accept.
	for _, tok := range []string{
		"unknown-token", inv.Token[:20], inv.Token + "x", strings.Repeat("a", 129), "abc%24def", "abc.def", "%20",
	} {
		invWant(t, e.Get("/api/invitations/"+tok, ""), http.StatusNotFound, "NOT_FOUND")
		invWant(t, invAccept(e, frankTok, tok), http.StatusNotFound, "NOT_FOUND")
	}

	// Already a member: 409 on accept, the role is unchanged and the
	// invitation stays pending.
	ginaTok, ginaID := invUser(t, e, "gina@example.com")
	ginv := invCreate(t, e, ownerTok, ws, "gina@example.com", "admin")
	invAddMember(t, e, ws, ginaID, store.RoleMember)
	invWant(t, invAccept(e, ginaTok, ginv.Token), http.StatusConflict, "ALREADY_MEMBER")
	if role := invScalar[string](t, e, `SELECT role FROM workspace_members WHERE workspace_id = $1 AND user_id = $2`, ws, ginaID); role != "member" {
		t.Errorf("role changed to %q", role)
	}

	// Authentication and suspension come first.
	r := invAccept(e, "", inv.Token)
	invWant(t, r, http.StatusUnauthorized, "UNAUTHORIZED")
	erinTok, _ := invUser(t, e, "erin@example.com")
	if _, err := e.Store.AdministerUser(context.Background(), store.Suspend, "erin@example.com"); err != nil {
		t.Fatal(err)
	}
	invWant(t, invAccept(e, erinTok, inv.Token), http.StatusForbidden, "ACCOUNT_SUSPENDED")
	if s := invScalar[string](t, e, `SELECT status FROM invitations WHERE id = $1`, inv.ID); s != "pending" {
		t.Errorf("suspended accept changed the invitation to %q", s)
	}
	// Once unsuspended, the invitee may accept.
	if _, err := e.Store.AdministerUser(context.Background(), store.Unsuspend, "erin@example.com"); err != nil {
		t.Fatal(err)
	}
	invWant(t, invAccept(e, erinTok, inv.Token), http.StatusOK, "")
}

// TestInvitationCreateValidation: 422 names every bad field; 409 for a
// pending duplicate; bad list queries are 400.
func TestInvitationCreateValidation(t *testing.T) {
	e := invNewEnv(t, 0)
	ownerTok, ownerID := invUser(t, e, "ada@example.com")
	ws := invWorkspace(t, e, "Acme", ownerID)

	for _, tc := range []struct {
		name string
		body any
		want []string
	}{
		{"empty object", map[string]any{}, []string{"email", "role"}},
		{"missing role", map[string]any{"email": "x@example.com"}, []string{"role"}},
		{"missing email", map[string]any{"role": "member"}, []string{"email"}},
		{"blank email", map[string]any{"email": "   ", "role": "member"}, []string{"email"}},
		{"not an email", map[string]any{"email": "not-an-email", "role": "member"}, []string{"email"}},
		{"display name", map[string]any{"email": "Ada <ada2@example.com>", "role": "member"}, []string{"email"}},
		{"two ats", map[string]any{"email": `"a@b"@example.com`, "role": "member"}, []string{"email"}},
		{"too long", map[string]any{"email": strings.Repeat("a", 320) + "@example.com", "role": "member"}, []string{"email"}},
		{"owner role", map[string]any{"email": "x@example.com", "role": "owner"}, []string{"role"}},
		{"null role", map[string]any{"email": "x@example.com", "role": nil}, []string{"role"}},
		{"wrong types", map[string]any{"email": 5, "role": true}, []string{"email", "role"}},
		{"unknown field", map[string]any{"email": "x@example.com", "role": "member", "name": "X"}, []string{"name"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.Do(testenv.Request{Method: http.MethodPost, Path: invPath(ws), Token: ownerTok, Body: tc.body})
			invWant(t, r, http.StatusUnprocessableEntity, "VALIDATION_ERROR")
			if got := invFields(t, r); !slices.Equal(got, tc.want) {
				t.Errorf("fields = %v, want %v", got, tc.want)
			}
		})
	}
	invWant(t, e.Do(testenv.Request{Method: http.MethodPost, Path: invPath(ws), Token: ownerTok, Body: `{"email":`}),
		http.StatusBadRequest, "BAD_REQUEST")
	r := e.Do(testenv.Request{Method: http.MethodPost, Path: invPath(ws), Token: ownerTok, Body: `{}`,
		Header: http.Header{"Content-Type": {"text/plain"}}})
	invWant(t, r, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
	if n := invScalar[int](t, e, `SELECT count(*) FROM invitations`); n != 0 {
		t.Fatalf("%d invitations after refused creations", n)
	}

	invCreate(t, e, ownerTok, ws, "hank@example.com", "member")
	r = e.Do(testenv.Request{Method: http.MethodPost, Path: invPath(ws), Token: ownerTok,
		Body: map[string]any{"email": "HANK@example.com", "role": "admin"}})
	invWant(t, r, http.StatusConflict, "INVITATION_PENDING")

	for _, q := range []string{"?status=bogus", "?status=", "?status=pending&status=revoked", "?limit=0", "?limit=201", "?offset=-1", "?offset=x"} {
		invWant(t, e.Get(invPath(ws)+q, ownerTok), http.StatusBadRequest, "BAD_REQUEST")
	}

	// Pagination: newest first, total counts every match.
	for i := range 4 {
		invCreate(t, e, ownerTok, ws, fmt.Sprintf("p%d@example.com", i), "member")
	}
	all := invList(t, e, ownerTok, ws, "")
	if all.Total != 5 || len(all.Invitations) != 5 || all.Invitations[0].InvitedEmail != "p3@example.com" ||
		all.Invitations[4].InvitedEmail != "hank@example.com" {
		t.Fatalf("list = %+v", all)
	}
	page := invList(t, e, ownerTok, ws, "?limit=2&offset=1")
	if page.Total != 5 || !slices.Equal(invIDs(page), invIDs(all)[1:3]) {
		t.Errorf("page = %+v", page)
	}
}

// TestInvitationPermissions: the three workspace invitation routes for an
// owner, an admin, a member, an outsider, a suspended admin and nobody;
// refused requests change nothing.
func TestInvitationPermissions(t *testing.T) {
	e := invNewEnv(t, 0)
	ctx := context.Background()
	ownerTok, ownerID := invUser(t, e, "owner@example.com")
	ws := invWorkspace(t, e, "Acme", ownerID)
	adminTok, adminID := invUser(t, e, "admin@example.com")
	invAddMember(t, e, ws, adminID, store.RoleAdmin)
	memberTok, memberID := invUser(t, e, "member@example.com")
	invAddMember(t, e, ws, memberID, store.RoleMember)
	outsiderTok, outsiderID := invUser(t, e, "outsider@example.com")
	invWorkspace(t, e, "Elsewhere", outsiderID)
	suspendedTok, suspendedID := invUser(t, e, "suspended@example.com")
	invAddMember(t, e, ws, suspendedID, store.RoleAdmin)
	if _, err := e.Store.AdministerUser(ctx, store.Suspend, "suspended@example.com"); err != nil {
		t.Fatal(err)
	}

	for _, tc := range []struct {
		who     string
		tok     string
		allowed bool
		status  int
		code    string
	}{
		{"owner", ownerTok, true, 0, ""},
		{"admin", adminTok, true, 0, ""},
		{"member", memberTok, false, http.StatusForbidden, "FORBIDDEN"},
		{"outsider", outsiderTok, false, http.StatusForbidden, "FORBIDDEN"},
		{"suspended", suspendedTok, false, http.StatusForbidden, "ACCOUNT_SUSPENDED"},
		{"anonymous", "", false, http.StatusUnauthorized, "UNAUTHORIZED"},
	} {
		t.Run(tc.who, func(t *testing.T) {
			email := "new-" + tc.who + "@example.com"
			create := e.Do(testenv.Request{Method: http.MethodPost, Path: invPath(ws), Token: tc.tok,
				Body: map[string]any{"email": email, "role": "member"}})
			list := e.Get(invPath(ws), tc.tok)
			target, err := e.Store.CreateInvitation(ctx, ws, ownerID, "target-"+tc.who+"@example.com", store.RoleMember)
			if err != nil {
				t.Fatal(err)
			}
			revoke := invRevoke(e, tc.tok, ws, target.ID)

			created := invScalar[int](t, e, `SELECT count(*) FROM invitations WHERE invited_email = $1`, email)
			status := invScalar[string](t, e, `SELECT status FROM invitations WHERE id = $1`, target.ID)
			if tc.allowed {
				invWant(t, create, http.StatusCreated, "")
				invWant(t, list, http.StatusOK, "")
				invWant(t, revoke, http.StatusNoContent, "")
				var l invitationList
				list.JSON(t, &l)
				for _, inv := range l.Invitations {
					if inv.Token == "" {
						t.Errorf("list hides the token from an %s", tc.who)
					}
				}
				if created != 1 || status != "revoked" {
					t.Errorf("created %d, target %s", created, status)
				}
				return
			}
			invWant(t, create, tc.status, tc.code)
			invWant(t, list, tc.status, tc.code)
			invWant(t, revoke, tc.status, tc.code)
			if created != 0 || status != "pending" {
				t.Errorf("a refused request changed something: created %d, target %s", created, status)
			}
		})
	}

	// A workspace that does not exist answers like one the caller is not in.
	missing := uuid.New()
	invWant(t, e.Do(testenv.Request{Method: http.MethodPost, Path: invPath(missing), Token: ownerTok,
		Body: map[string]any{"email": "x@example.com", "role": "member"}}), http.StatusForbidden, "FORBIDDEN")
	invWant(t, e.Get(invPath(missing), ownerTok), http.StatusForbidden, "FORBIDDEN")
	invWant(t, invRevoke(e, ownerTok, missing, uuid.New()), http.StatusForbidden, "FORBIDDEN")
	// Role checks come before the body: a member's bad body is still 403.
	invWant(t, e.Do(testenv.Request{Method: http.MethodPost, Path: invPath(ws), Token: memberTok, Body: `{"bogus":1}`}),
		http.StatusForbidden, "FORBIDDEN")
}

// TestInvitationAcceptRace: the same invitation accepted twice at once makes
// one membership; one request gets 200, the other 410.
func TestInvitationAcceptRace(t *testing.T) {
	e := invNewEnv(t, 8)
	ownerTok, ownerID := invUser(t, e, "owner@example.com")
	ws := invWorkspace(t, e, "Acme", ownerID)

	for round := range 20 {
		email := fmt.Sprintf("racer%d@example.com", round)
		tok, id := invUser(t, e, email)
		inv := invCreate(t, e, ownerTok, ws, email, "member")
		start := make(chan struct{})
		answers := make([]*testenv.Response, 2)
		var wg sync.WaitGroup
		for i := range answers {
			wg.Go(func() {
				<-start
				answers[i] = invAccept(e, tok, inv.Token)
			})
		}
		close(start)
		wg.Wait()
		statuses := []int{answers[0].Status, answers[1].Status}
		slices.Sort(statuses)
		if !slices.Equal(statuses, []int{http.StatusOK, http.StatusGone}) {
			t.Fatalf("round %d: statuses %v: %s / %s", round, statuses, answers[0].Body, answers[1].Body)
		}
		for _, a := range answers {
			if a.Status == http.StatusGone && a.Code() != "INVITATION_ALREADY_ACCEPTED" {
				t.Fatalf("round %d: 410 %s", round, a.Body)
			}
		}
		if n := invScalar[int](t, e, `SELECT count(*) FROM workspace_members WHERE workspace_id = $1 AND user_id = $2`, ws, id); n != 1 {
			t.Fatalf("round %d: %d memberships", round, n)
		}
	}
}

// TestInvitationCreateRace: the same invitation created twice at once: one
// 201, one 409 INVITATION_PENDING, one pending row.
func TestInvitationCreateRace(t *testing.T) {
	e := invNewEnv(t, 8)
	ownerTok, ownerID := invUser(t, e, "owner@example.com")
	ws := invWorkspace(t, e, "Acme", ownerID)
	adminTok, adminID := invUser(t, e, "admin@example.com")
	invAddMember(t, e, ws, adminID, store.RoleAdmin)

	for round := range 10 {
		email := fmt.Sprintf("twice%d@example.com", round)
		start := make(chan struct{})
		answers := make([]*testenv.Response, 2)
		var wg sync.WaitGroup
		for i, tok := range []string{ownerTok, adminTok} {
			wg.Go(func() {
				<-start
				answers[i] = e.Do(testenv.Request{Method: http.MethodPost, Path: invPath(ws), Token: tok,
					Body: map[string]any{"email": email, "role": "member"}})
			})
		}
		close(start)
		wg.Wait()
		statuses := []int{answers[0].Status, answers[1].Status}
		slices.Sort(statuses)
		if !slices.Equal(statuses, []int{http.StatusCreated, http.StatusConflict}) {
			t.Fatalf("round %d: statuses %v: %s / %s", round, statuses, answers[0].Body, answers[1].Body)
		}
		for _, a := range answers {
			if a.Status == http.StatusConflict && a.Code() != "INVITATION_PENDING" {
				t.Fatalf("round %d: 409 %s", round, a.Body)
			}
		}
		if n := invScalar[int](t, e, `SELECT count(*) FROM invitations WHERE invited_email = $1`, email); n != 1 {
			t.Fatalf("round %d: %d invitations", round, n)
		}
	}
}

// TestInvitationJSONShape: the invitation object has exactly the contract's
// keys, with UTC timestamps.
func TestInvitationJSONShape(t *testing.T) {
	e := invNewEnv(t, 0)
	ownerTok, ownerID := invUser(t, e, "ada@example.com")
	ws := invWorkspace(t, e, "Acme", ownerID)
	r := e.Do(testenv.Request{Method: http.MethodPost, Path: invPath(ws), Token: ownerTok,
		Body: map[string]any{"email": "bob@example.com", "role": "member"}})
	invWant(t, r, http.StatusCreated, "")
	var m map[string]json.RawMessage
	r.JSON(t, &m)
	if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, []string{"created_at", "expires_at", "id",
		"invited_by_name", "invited_email", "role", "status", "token", "workspace_id"}) {
		t.Errorf("keys = %v", got)
	}
	for _, k := range []string{"created_at", "expires_at"} {
		if !strings.HasSuffix(strings.Trim(string(m[k]), `"`), "Z") {
			t.Errorf("%s = %s, want UTC", k, m[k])
		}
	}
}
