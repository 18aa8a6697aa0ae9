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
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/store"
)

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
	EmailStatus   string    `json:"email_status"`
}

type invitationList struct {
	Invitations []invitationBody `json:"invitations"`
	Total       int              `json:"total"`
}

func invPath(wsID uuid.UUID, rest ...string) string {
	return "/api/workspaces/" + wsID.String() + "/invitations" + strings.Join(rest, "")
}

func invCreate(t *testing.T, e *apitest.Env, tok string, wsID uuid.UUID, email, role string) invitationBody {
	t.Helper()
	return wantJSON[invitationBody](t, e.Do(apitest.Request{Method: http.MethodPost, Path: invPath(wsID), Token: tok,
		Body: map[string]any{"email": email, "role": role}}), http.StatusCreated)
}

func invList(t *testing.T, e *apitest.Env, tok string, wsID uuid.UUID, query string) invitationList {
	t.Helper()
	return wantJSON[invitationList](t, e.Get(invPath(wsID)+query, tok), http.StatusOK)
}

func invAccept(e *apitest.Env, tok, token string) *apitest.Response {
	return e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/invitations/" + token + "/accept", Token: tok})
}

func invRevoke(e *apitest.Env, tok string, wsID, id uuid.UUID) *apitest.Response {
	return e.Do(apitest.Request{Method: http.MethodDelete, Path: invPath(wsID, "/", id.String()), Token: tok})
}

func invLookup(t *testing.T, e *apitest.Env, token string) map[string]any {
	t.Helper()
	return wantJSON[map[string]any](t, e.Get("/api/invitations/"+token, ""), http.StatusOK)
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
	e := apitest.New(t, apitest.Options{})
	owner := signUp(t, e, "ada@example.com")
	ws := apitest.InsertWorkspace(t, e.Store, "Acme", owner.ID)

	before := time.Now()
	inv := invCreate(t, e, owner.Token, ws, "  Bob@Example.COM ", "admin")
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
	l := invList(t, e, owner.Token, ws, "")
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

	bob := signUp(t, e, "BOB@example.com")
	r := invAccept(e, bob.Token, inv.Token)
	got := wantJSON[wsWorkspace](t, r, http.StatusOK)
	if got.ID != ws || got.Name != "Acme" || got.Role != "admin" {
		t.Errorf("accept answered %s", r.Body)
	}
	if role := scalar[string](t, e, `SELECT role FROM workspace_members WHERE workspace_id = $1 AND user_id = $2`, ws, bob.ID); role != "admin" {
		t.Errorf("member role = %q", role)
	}
	me := decodeMe(t, e.Get("/api/auth/me", bob.Token))
	if me.AccessStatus != "active" || me.HasProductAccess || me.ActivatedAt == nil {
		t.Errorf("invitee after accepting: %+v; want active, activated, without product access", me)
	}
	st := scalar[string](t, e, `SELECT status FROM invitations WHERE id = $1`, inv.ID)
	acceptedBy := scalar[uuid.UUID](t, e, `SELECT accepted_by FROM invitations WHERE id = $1`, inv.ID)
	if st != "accepted" || acceptedBy != bob.ID {
		t.Errorf("stored invitation: status %q accepted_by %v", st, acceptedBy)
	}

	// After: no longer pending; accepting again is 410; re-inviting is 409.
	if l := invList(t, e, owner.Token, ws, ""); l.Total != 0 || len(l.Invitations) != 0 {
		t.Errorf("default list after accept = %+v", l)
	}
	if l := invList(t, e, owner.Token, ws, "?status=accepted"); l.Total != 1 || l.Invitations[0].Status != "accepted" {
		t.Errorf("accepted list = %+v", l)
	}
	if pub := invLookup(t, e, inv.Token); pub["status"] != "accepted" {
		t.Errorf("look-up after accept: %v", pub)
	}
	wantError(t, invAccept(e, bob.Token, inv.Token), http.StatusGone, "INVITATION_ALREADY_ACCEPTED")
	wantError(t, invRevoke(e, owner.Token, ws, inv.ID), http.StatusGone, "INVITATION_ALREADY_ACCEPTED")
	r = e.Do(apitest.Request{Method: http.MethodPost, Path: invPath(ws), Token: owner.Token,
		Body: map[string]any{"email": "bob@EXAMPLE.com", "role": "member"}})
	wantError(t, r, http.StatusConflict, "ALREADY_MEMBER")
	if n := scalar[int](t, e, `SELECT count(*) FROM invitations`); n != 1 {
		t.Errorf("%d invitations after refused create, want 1", n)
	}

	// The new admin may invite too.
	invCreate(t, e, bob.Token, ws, "carol@example.com", "member")
}

// TestInvitationExpiry: expiry is applied when read.
func TestInvitationExpiry(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	owner := signUp(t, e, "ada@example.com")
	ws := apitest.InsertWorkspace(t, e.Store, "Acme", owner.ID)
	carol := signUp(t, e, "carol@example.com")

	old := invCreate(t, e, owner.Token, ws, "carol@example.com", "member")
	execSQL(t, e, `UPDATE invitations SET expires_at = now() - interval '1 minute' WHERE id = $1`, old.ID)

	if pub := invLookup(t, e, old.Token); pub["status"] != "expired" {
		t.Errorf("look-up of an expired invitation: %v", pub)
	}
	wantError(t, invAccept(e, carol.Token, old.Token), http.StatusGone, "INVITATION_EXPIRED")
	if n := scalar[int](t, e, `SELECT count(*) FROM workspace_members WHERE user_id = $1`, carol.ID); n != 0 {
		t.Errorf("expired invitation made %d memberships", n)
	}
	if l := invList(t, e, owner.Token, ws, ""); l.Total != 0 || len(l.Invitations) != 0 {
		t.Errorf("default list shows an expired invitation: %+v", l)
	}
	if l := invList(t, e, owner.Token, ws, "?status=pending"); l.Total != 0 {
		t.Errorf("pending list shows an expired invitation: %+v", l)
	}
	l := invList(t, e, owner.Token, ws, "?status=expired")
	if l.Total != 1 || len(l.Invitations) != 1 || l.Invitations[0].ID != old.ID || l.Invitations[0].Status != "expired" {
		t.Errorf("expired list = %+v", l)
	}
	wantError(t, invRevoke(e, owner.Token, ws, old.ID), http.StatusGone, "INVITATION_EXPIRED")

	// Re-inviting replaces the expired one, which is now stored as expired.
	fresh := invCreate(t, e, owner.Token, ws, "carol@example.com", "member")
	if s := scalar[string](t, e, `SELECT status FROM invitations WHERE id = $1`, old.ID); s != "expired" {
		t.Errorf("old invitation stored as %q, want expired", s)
	}
	if l := invList(t, e, owner.Token, ws, "?status=expired"); l.Total != 1 {
		t.Errorf("expired list after re-invite = %+v", l)
	}
	wantStatus(t, invAccept(e, carol.Token, fresh.Token), http.StatusOK)
}

// TestInvitationRevoke: 204 (idempotent), then accepting is 410; scoped by
// workspace.
func TestInvitationRevoke(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	owner := signUp(t, e, "ada@example.com")
	ws := apitest.InsertWorkspace(t, e.Store, "Acme", owner.ID)
	otherOwner := signUp(t, e, "zed@example.com")
	other := apitest.InsertWorkspace(t, e.Store, "Other", otherOwner.ID)
	dan := signUp(t, e, "dan@example.com")

	inv := invCreate(t, e, owner.Token, ws, "dan@example.com", "member")
	r := invRevoke(e, owner.Token, ws, inv.ID)
	wantStatus(t, r, http.StatusNoContent)
	if len(r.Body) != 0 {
		t.Errorf("204 with a body: %s", r.Body)
	}
	wantStatus(t, invRevoke(e, owner.Token, ws, inv.ID), http.StatusNoContent)
	if pub := invLookup(t, e, inv.Token); pub["status"] != "revoked" {
		t.Errorf("look-up after revoke: %v", pub)
	}
	if l := invList(t, e, owner.Token, ws, "?status=revoked"); l.Total != 1 || l.Invitations[0].ID != inv.ID {
		t.Errorf("revoked list = %+v", l)
	}
	wantError(t, invAccept(e, dan.Token, inv.Token), http.StatusGone, "INVITATION_REVOKED")

	// A revoked invitation does not block a new one.
	invCreate(t, e, owner.Token, ws, "dan@example.com", "member")

	// Another workspace's invitation id is not found here, and stays pending.
	foreign := invCreate(t, e, otherOwner.Token, other, "erin@example.com", "member")
	wantError(t, invRevoke(e, owner.Token, ws, foreign.ID), http.StatusNotFound, "NOT_FOUND")
	if s := scalar[string](t, e, `SELECT status FROM invitations WHERE id = $1`, foreign.ID); s != "pending" {
		t.Errorf("foreign invitation is %q", s)
	}
	wantError(t, invRevoke(e, owner.Token, ws, uuid.New()), http.StatusNotFound, "NOT_FOUND")
	r = e.Do(apitest.Request{Method: http.MethodDelete, Path: invPath(ws, "/not-a-uuid"), Token: owner.Token})
	wantError(t, r, http.StatusBadRequest, "BAD_REQUEST")
	// A path workspace that is not a UUID is refused before anything else.
	r = e.Do(apitest.Request{Method: http.MethodDelete, Path: "/api/workspaces/nope/invitations/" + inv.ID.String(), Token: owner.Token})
	wantError(t, r, http.StatusBadRequest, "BAD_REQUEST")
}

// TestInvitationAcceptRefusals covers the accept errors other than 410.
func TestInvitationAcceptRefusals(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	owner := signUp(t, e, "ada@example.com")
	ws := apitest.InsertWorkspace(t, e.Store, "Acme", owner.ID)

	// Email mismatch: 403, and nothing changes.
	inv := invCreate(t, e, owner.Token, ws, "erin@example.com", "member")
	frank := signUp(t, e, "frank@example.com")
	wantError(t, invAccept(e, frank.Token, inv.Token), http.StatusForbidden, "INVITATION_EMAIL_MISMATCH")
	if s := scalar[string](t, e, `SELECT status FROM invitations WHERE id = $1`, inv.ID); s != "pending" {
		t.Errorf("invitation is %q after a mismatched accept", s)
	}
	if n := scalar[int](t, e, `SELECT count(*) FROM workspace_members WHERE user_id = $1`, frank.ID); n != 0 {
		t.Errorf("mismatched accept made a membership")
	}
	if st := scalar[string](t, e, `SELECT access_status FROM users WHERE id = $1`, frank.ID); st != "pending" {
		t.Errorf("mismatched accept activated the user: %s", st)
	}

	// Unknown or impossible tokens: 404 for both look-up and accept.
	for _, tok := range []string{
		"unknown-token", inv.Token[:20], inv.Token + "x", strings.Repeat("a", 129), "abc%24def", "abc.def", "%20",
	} {
		wantError(t, e.Get("/api/invitations/"+tok, ""), http.StatusNotFound, "NOT_FOUND")
		wantError(t, invAccept(e, frank.Token, tok), http.StatusNotFound, "NOT_FOUND")
	}

	// Already a member: 409 on accept, the role is unchanged and the
	// invitation stays pending.
	gina := signUp(t, e, "gina@example.com")
	ginv := invCreate(t, e, owner.Token, ws, "gina@example.com", "admin")
	apitest.AddMember(t, e.Store, ws, gina.ID, store.RoleMember)
	wantError(t, invAccept(e, gina.Token, ginv.Token), http.StatusConflict, "ALREADY_MEMBER")
	if role := scalar[string](t, e, `SELECT role FROM workspace_members WHERE workspace_id = $1 AND user_id = $2`, ws, gina.ID); role != "member" {
		t.Errorf("role changed to %q", role)
	}

	// Authentication and suspension come first.
	r := invAccept(e, "", inv.Token)
	wantError(t, r, http.StatusUnauthorized, "UNAUTHORIZED")
	erin := signUp(t, e, "erin@example.com")
	if _, err := e.Store.AdministerUser(context.Background(), store.Suspend, store.ByEmail("erin@example.com")); err != nil {
		t.Fatal(err)
	}
	wantError(t, invAccept(e, erin.Token, inv.Token), http.StatusForbidden, "ACCOUNT_SUSPENDED")
	if s := scalar[string](t, e, `SELECT status FROM invitations WHERE id = $1`, inv.ID); s != "pending" {
		t.Errorf("suspended accept changed the invitation to %q", s)
	}
	// Once unsuspended, the invitee may accept.
	if _, err := e.Store.AdministerUser(context.Background(), store.Unsuspend, store.ByEmail("erin@example.com")); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, invAccept(e, erin.Token, inv.Token), http.StatusOK)
}

// TestInvitationCreateValidation: 422 names every bad field; 409 for a
// pending duplicate; bad list queries are 400.
func TestInvitationCreateValidation(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	owner := signUp(t, e, "ada@example.com")
	ws := apitest.InsertWorkspace(t, e.Store, "Acme", owner.ID)

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
			r := e.Do(apitest.Request{Method: http.MethodPost, Path: invPath(ws), Token: owner.Token, Body: tc.body})
			wantFields(t, r, tc.want...)
		})
	}
	wantError(t, e.Do(apitest.Request{Method: http.MethodPost, Path: invPath(ws), Token: owner.Token, Body: `{"email":`}),
		http.StatusBadRequest, "BAD_REQUEST")
	r := e.Do(apitest.Request{Method: http.MethodPost, Path: invPath(ws), Token: owner.Token, Body: `{}`,
		Header: http.Header{"Content-Type": {"text/plain"}}})
	wantError(t, r, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
	if n := scalar[int](t, e, `SELECT count(*) FROM invitations`); n != 0 {
		t.Fatalf("%d invitations after refused creations", n)
	}

	invCreate(t, e, owner.Token, ws, "hank@example.com", "member")
	r = e.Do(apitest.Request{Method: http.MethodPost, Path: invPath(ws), Token: owner.Token,
		Body: map[string]any{"email": "HANK@example.com", "role": "admin"}})
	wantError(t, r, http.StatusConflict, "INVITATION_PENDING")

	for _, q := range []string{"?status=bogus", "?status=", "?status=pending&status=revoked", "?limit=0", "?limit=201", "?offset=-1", "?offset=x"} {
		wantError(t, e.Get(invPath(ws)+q, owner.Token), http.StatusBadRequest, "BAD_REQUEST")
	}

	// Pagination: newest first, total counts every match.
	for i := range 4 {
		invCreate(t, e, owner.Token, ws, fmt.Sprintf("p%d@example.com", i), "member")
	}
	all := invList(t, e, owner.Token, ws, "")
	if all.Total != 5 || len(all.Invitations) != 5 || all.Invitations[0].InvitedEmail != "p3@example.com" ||
		all.Invitations[4].InvitedEmail != "hank@example.com" {
		t.Fatalf("list = %+v", all)
	}
	page := invList(t, e, owner.Token, ws, "?limit=2&offset=1")
	if page.Total != 5 || !slices.Equal(invIDs(page), invIDs(all)[1:3]) {
		t.Errorf("page = %+v", page)
	}
}

// TestInvitationPermissions: the three workspace invitation routes for an
// owner, an admin, a member, an outsider, a suspended admin and nobody;
// refused requests change nothing.
func TestInvitationPermissions(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	ctx := context.Background()
	owner, admin, member, outsider, suspended, ws := standings(t, e)

	for _, tc := range []struct {
		who     string
		tok     string
		allowed bool
		status  int
		code    string
	}{
		{"owner", owner.Token, true, 0, ""},
		{"admin", admin.Token, true, 0, ""},
		{"member", member.Token, false, http.StatusForbidden, "FORBIDDEN"},
		{"outsider", outsider.Token, false, http.StatusForbidden, "FORBIDDEN"},
		{"suspended", suspended.Token, false, http.StatusForbidden, "ACCOUNT_SUSPENDED"},
		{"anonymous", "", false, http.StatusUnauthorized, "UNAUTHORIZED"},
	} {
		t.Run(tc.who, func(t *testing.T) {
			email := "new-" + tc.who + "@example.com"
			create := e.Do(apitest.Request{Method: http.MethodPost, Path: invPath(ws), Token: tc.tok,
				Body: map[string]any{"email": email, "role": "member"}})
			list := e.Get(invPath(ws), tc.tok)
			target, err := e.Store.CreateInvitation(ctx, store.Actor{Type: store.ActorUser, ID: owner.ID}, ws, store.NewInvitation{Email: "target-" + tc.who + "@example.com", Role: store.RoleMember})
			if err != nil {
				t.Fatal(err)
			}
			revoke := invRevoke(e, tc.tok, ws, target.ID)

			created := scalar[int](t, e, `SELECT count(*) FROM invitations WHERE invited_email = $1`, email)
			status := scalar[string](t, e, `SELECT status FROM invitations WHERE id = $1`, target.ID)
			if tc.allowed {
				wantStatus(t, create, http.StatusCreated)
				wantStatus(t, list, http.StatusOK)
				wantStatus(t, revoke, http.StatusNoContent)
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
			wantError(t, create, tc.status, tc.code)
			wantError(t, list, tc.status, tc.code)
			wantError(t, revoke, tc.status, tc.code)
			if created != 0 || status != "pending" {
				t.Errorf("a refused request changed something: created %d, target %s", created, status)
			}
		})
	}

	// A workspace that does not exist answers like one the caller is not in.
	missing := uuid.New()
	wantError(t, e.Do(apitest.Request{Method: http.MethodPost, Path: invPath(missing), Token: owner.Token,
		Body: map[string]any{"email": "x@example.com", "role": "member"}}), http.StatusForbidden, "FORBIDDEN")
	wantError(t, e.Get(invPath(missing), owner.Token), http.StatusForbidden, "FORBIDDEN")
	wantError(t, invRevoke(e, owner.Token, missing, uuid.New()), http.StatusForbidden, "FORBIDDEN")
	// Role checks come before the body: a member's bad body is still 403.
	wantError(t, e.Do(apitest.Request{Method: http.MethodPost, Path: invPath(ws), Token: member.Token, Body: `{"bogus":1}`}),
		http.StatusForbidden, "FORBIDDEN")
}

// TestInvitationAcceptRace: the same invitation accepted twice at once makes
// one membership; one request gets 200, the other 410.
func TestInvitationAcceptRace(t *testing.T) {
	e := apitest.New(t, apitest.Options{Store: store.Options{MaxConns: 8}})
	owner := signUp(t, e, "owner@example.com")
	ws := apitest.InsertWorkspace(t, e.Store, "Acme", owner.ID)

	for round := range 20 {
		email := fmt.Sprintf("racer%d@example.com", round)
		racer := signUp(t, e, email)
		inv := invCreate(t, e, owner.Token, ws, email, "member")
		answers := apitest.Race(2, func(int) *apitest.Response { return invAccept(e, racer.Token, inv.Token) })
		wantOneWinner(t, round, answers, http.StatusOK, http.StatusGone, "INVITATION_ALREADY_ACCEPTED")
		if n := scalar[int](t, e, `SELECT count(*) FROM workspace_members WHERE workspace_id = $1 AND user_id = $2`, ws, racer.ID); n != 1 {
			t.Fatalf("round %d: %d memberships", round, n)
		}
	}
}

// TestInvitationCreateRace: the same invitation created twice at once: one
// 201, one 409 INVITATION_PENDING, one pending row.
func TestInvitationCreateRace(t *testing.T) {
	e := apitest.New(t, apitest.Options{Store: store.Options{MaxConns: 8}})
	owner := signUp(t, e, "owner@example.com")
	ws := apitest.InsertWorkspace(t, e.Store, "Acme", owner.ID)
	admin := signUp(t, e, "admin@example.com")
	apitest.AddMember(t, e.Store, ws, admin.ID, store.RoleAdmin)

	for round := range 10 {
		email := fmt.Sprintf("twice%d@example.com", round)
		toks := []string{owner.Token, admin.Token}
		answers := apitest.Race(len(toks), func(i int) *apitest.Response {
			return e.Do(apitest.Request{Method: http.MethodPost, Path: invPath(ws), Token: toks[i],
				Body: map[string]any{"email": email, "role": "member"}})
		})
		wantOneWinner(t, round, answers, http.StatusCreated, http.StatusConflict, "INVITATION_PENDING")
		if n := scalar[int](t, e, `SELECT count(*) FROM invitations WHERE invited_email = $1`, email); n != 1 {
			t.Fatalf("round %d: %d invitations", round, n)
		}
	}
}

// TestInvitationJSONShape: the invitation object has exactly the keys of
// api/openapi.yaml's Invitation, with UTC timestamps.
func TestInvitationJSONShape(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	owner := signUp(t, e, "ada@example.com")
	ws := apitest.InsertWorkspace(t, e.Store, "Acme", owner.ID)
	r := e.Do(apitest.Request{Method: http.MethodPost, Path: invPath(ws), Token: owner.Token,
		Body: map[string]any{"email": "bob@example.com", "role": "member"}})
	wantStatus(t, r, http.StatusCreated)
	var m map[string]json.RawMessage
	r.JSON(t, &m)
	if got := slices.Sorted(maps.Keys(m)); !slices.Equal(got, []string{"created_at", "email_status", "expires_at", "id",
		"invited_by_name", "invited_email", "role", "status", "token", "workspace_id"}) {
		t.Errorf("keys = %v", got)
	}
	// Without SMTP_URL nothing is sent: the email is disabled.
	if string(m["email_status"]) != `"disabled"` {
		t.Errorf("email_status = %s, want \"disabled\" without SMTP", m["email_status"])
	}
	for _, k := range []string{"created_at", "expires_at"} {
		if !strings.HasSuffix(strings.Trim(string(m[k]), `"`), "Z") {
			t.Errorf("%s = %s, want UTC", k, m[k])
		}
	}
}
