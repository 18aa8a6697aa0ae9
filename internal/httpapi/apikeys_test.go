package httpapi_test

import (
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apikey"
	"github.com/praxiom/praxiom-api/internal/apitest"
)

// apiKeyOut is the API key object, read independently of the server's types.
type apiKeyOut struct {
	ID          uuid.UUID `json:"id"`
	WorkspaceID uuid.UUID `json:"workspace_id"`
	Name        string    `json:"name"`
	Prefix      string    `json:"prefix"`
	Role        string    `json:"role"`
	ReadOnly    bool      `json:"read_only"`
	CreatedBy   struct {
		UserID *uuid.UUID `json:"user_id"`
		Name   string     `json:"name"`
	} `json:"created_by"`
	CreatedAt  time.Time  `json:"created_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	Key        string     `json:"key"`
}

var keyRE = regexp.MustCompile(`^pxm_[0-9A-Za-z]{46}$`)

// keyCreate creates a key in wsID as tok (201 expected) and returns it.
func keyCreate(t *testing.T, e *apitest.Env, tok string, wsID uuid.UUID, body map[string]any) apiKeyOut {
	t.Helper()
	k := wantJSON[apiKeyOut](t, e.Do(apitest.Request{Method: http.MethodPost, Path: wsPath(wsID, "/api-keys"), Token: tok, Body: body}), http.StatusCreated)
	if !keyRE.MatchString(k.Key) || !apikey.Valid(k.Key) || k.Prefix != k.Key[:12] {
		t.Fatalf("created key %q (prefix %q) is not a valid key", k.Key, k.Prefix)
	}
	return k
}

func TestAPIKeyLifecycle(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	owner := signUp(t, e, "key-owner")
	ws := wsCreate(t, e, owner.Token, map[string]any{"name": "Keys"})
	other := wsCreate(t, e, owner.Token, map[string]any{"name": "Other"})

	k := keyCreate(t, e, owner.Token, ws.ID, map[string]any{"name": "  CI pipeline ", "role": "admin"})
	if k.Name != "CI pipeline" || k.Role != "admin" || k.ReadOnly || k.WorkspaceID != ws.ID ||
		k.CreatedBy.UserID == nil || *k.CreatedBy.UserID != owner.ID || k.ExpiresAt != nil || k.LastUsedAt != nil {
		t.Fatalf("created key = %+v", k)
	}
	// Only a SHA-256 of the key is stored.
	if n := scalar[int](t, e, `SELECT count(*) FROM api_keys WHERE key_hash = sha256($1::bytea)`, []byte(k.Key)); n != 1 {
		t.Fatalf("rows with the key's SHA-256: %d, want 1", n)
	}
	if n := scalar[int](t, e, `SELECT count(*) FROM api_keys k WHERE strpos(row_to_json(k)::text, $1) > 0`, k.Key[12:]); n != 0 {
		t.Fatal("the key itself is stored")
	}

	// The key reads its workspace as an admin, and lists only it.
	got := wantJSON[wsWorkspace](t, e.Get(wsPath(ws.ID, ""), k.Key), http.StatusOK)
	if got.ID != ws.ID || got.Role != "admin" {
		t.Fatalf("GET workspace with the key = %+v", got)
	}
	list := wantJSON[struct {
		Workspaces []wsWorkspace `json:"workspaces"`
		Total      int           `json:"total"`
	}](t, e.Get("/api/workspaces", k.Key), http.StatusOK)
	if list.Total != 1 || len(list.Workspaces) != 1 || list.Workspaces[0].ID != ws.ID || list.Workspaces[0].Role != "admin" {
		t.Fatalf("GET /api/workspaces with the key = %+v", list)
	}
	page2 := wantJSON[struct {
		Workspaces []wsWorkspace `json:"workspaces"`
		Total      int           `json:"total"`
	}](t, e.Get("/api/workspaces?offset=1", k.Key), http.StatusOK)
	if page2.Total != 1 || len(page2.Workspaces) != 0 {
		t.Fatalf("second page with the key = %+v", page2)
	}
	// Another workspace is refused like an outsider.
	wantError(t, e.Get(wsPath(other.ID, ""), k.Key), http.StatusForbidden, "FORBIDDEN")

	// The list never shows the key.
	keys := wantJSON[struct {
		APIKeys []map[string]any `json:"api_keys"`
		Total   int              `json:"total"`
	}](t, e.Get(wsPath(ws.ID, "/api-keys"), owner.Token), http.StatusOK)
	if keys.Total != 1 || len(keys.APIKeys) != 1 {
		t.Fatalf("list = %+v", keys)
	}
	if _, shown := keys.APIKeys[0]["key"]; shown {
		t.Fatal("the list shows the key")
	}

	// An invitation made with the key names it.
	inv := wantJSON[map[string]any](t, e.Do(apitest.Request{Method: http.MethodPost, Path: wsPath(ws.ID, "/invitations"), Token: k.Key,
		Body: map[string]any{"email": "guest@example.com", "role": "member"}}), http.StatusCreated)
	if inv["invited_by_name"] != "API key CI pipeline" {
		t.Fatalf("invited_by_name = %v, want API key CI pipeline", inv["invited_by_name"])
	}

	// Revoked: 401 from the next request on; revoking again, or an id of
	// another workspace, is 404.
	wantStatus(t, e.Do(apitest.Request{Method: http.MethodDelete, Path: wsPath(ws.ID, "/api-keys/"+k.ID.String()), Token: owner.Token}), http.StatusNoContent)
	assertUnauthorized(t, e.Get(wsPath(ws.ID, ""), k.Key), true)
	wantError(t, e.Do(apitest.Request{Method: http.MethodDelete, Path: wsPath(ws.ID, "/api-keys/"+k.ID.String()), Token: owner.Token}), http.StatusNotFound, "NOT_FOUND")
	k2 := keyCreate(t, e, owner.Token, other.ID, map[string]any{"name": "Other's", "role": "member"})
	wantError(t, e.Do(apitest.Request{Method: http.MethodDelete, Path: wsPath(ws.ID, "/api-keys/"+k2.ID.String()), Token: owner.Token}), http.StatusNotFound, "NOT_FOUND")
	wantError(t, e.Do(apitest.Request{Method: http.MethodDelete, Path: wsPath(ws.ID, "/api-keys/not-a-uuid"), Token: owner.Token}), http.StatusBadRequest, "BAD_REQUEST")
	wantStatus(t, e.Get(wsPath(other.ID, ""), k2.Key), http.StatusOK)

	// The workspace's deletion deletes its keys.
	wantStatus(t, e.Do(apitest.Request{Method: http.MethodDelete, Path: wsPath(other.ID, ""), Token: owner.Token}), http.StatusNoContent)
	assertUnauthorized(t, e.Get("/api/workspaces", k2.Key), true)
	if n := scalar[int](t, e, `SELECT count(*) FROM api_keys WHERE id = $1`, k2.ID); n != 0 {
		t.Fatalf("the deleted workspace's key is still stored")
	}
	assertLogsClean(t, e.Logs(), k.Key, k2.Key)
}

func TestAPIKeyRefusedCredentials(t *testing.T) {
	tr := &rtTracer{}
	e := apitest.New(t, apitest.Options{PLGGatingOff: true, Store: storeOptions(tr)})
	owner := signUp(t, e, "keyref-owner")
	ws := wsCreate(t, e, owner.Token, map[string]any{"name": "Refusals"})
	k := keyCreate(t, e, owner.Token, ws.ID, map[string]any{"name": "Good", "role": "member"})
	expired := keyCreate(t, e, owner.Token, ws.ID, map[string]any{"name": "Soon", "role": "member",
		"expires_at": time.Now().Add(time.Hour).UTC().Format(time.RFC3339)})
	execSQL(t, e, `UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1`, expired.ID)

	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	for name, c := range map[string]struct {
		key     string
		queries bool // the refusal needs the database
	}{
		"a typo in the body":     {flip(k.Key, 20), false},
		"a typo in the checksum": {flip(k.Key, len(k.Key)-2), false},
		"truncated":              {k.Key[:len(k.Key)-1], false},
		"a well-formed unknown":  {apikey.New(), true},
		"expired":                {expired.Key, true},
	} {
		t.Run(name, func(t *testing.T) {
			tr.take()
			assertUnauthorized(t, e.Get(wsPath(ws.ID, ""), c.key), true)
			if q := tr.take(); c.queries != (len(q) > 0) {
				t.Errorf("database round trips: %v; want some = %v", q, c.queries)
			}
		})
	}
}

func TestAPIKeyCreateValidation(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	owner := signUp(t, e, "keyval-owner")
	ws := wsCreate(t, e, owner.Token, map[string]any{"name": "Validation"})
	later := func(d time.Duration) string { return time.Now().Add(d).UTC().Format(time.RFC3339) }
	// "At most a year ahead" is the same date next year, 365 or 366 days.
	aYearAnd := func(d time.Duration) string { return time.Now().AddDate(1, 0, 0).Add(d).UTC().Format(time.RFC3339) }
	for _, c := range []struct {
		name   string
		body   any
		fields []string
	}{
		{"empty body", map[string]any{}, []string{"name", "role"}},
		{"blank name", map[string]any{"name": "   ", "role": "member"}, []string{"name"}},
		{"long name", map[string]any{"name": strings.Repeat("k", 101), "role": "member"}, []string{"name"}},
		{"owner role", map[string]any{"name": "K", "role": "owner"}, []string{"role"}},
		{"unknown role", map[string]any{"name": "K", "role": "root"}, []string{"role"}},
		{"role of the wrong type", map[string]any{"name": "K", "role": 1}, []string{"role"}},
		{"read_only of the wrong type", map[string]any{"name": "K", "role": "member", "read_only": "yes"}, []string{"read_only"}},
		{"past expiry", map[string]any{"name": "K", "role": "member", "expires_at": later(-time.Minute)}, []string{"expires_at"}},
		{"expiry over a year", map[string]any{"name": "K", "role": "member", "expires_at": aYearAnd(time.Hour)}, []string{"expires_at"}},
		{"expiry not a time", map[string]any{"name": "K", "role": "member", "expires_at": "tomorrow"}, []string{"expires_at"}},
		{"unknown field", map[string]any{"name": "K", "role": "member", "workspace_id": uuid.NewString()}, []string{"workspace_id"}},
		{"NUL in the name", map[string]any{"name": "a\x00b", "role": "member"}, []string{"name"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			wantFields(t, e.Do(apitest.Request{Method: http.MethodPost, Path: wsPath(ws.ID, "/api-keys"), Token: owner.Token, Body: c.body}), c.fields...)
		})
	}
	if n := wsCount(t, e, "api_keys", ws.ID); n != 0 {
		t.Fatalf("refused creations stored %d keys", n)
	}
	k := keyCreate(t, e, owner.Token, ws.ID, map[string]any{"name": "Expiring", "role": "member", "read_only": true,
		"expires_at": aYearAnd(-time.Minute)})
	if !k.ReadOnly || k.ExpiresAt == nil {
		t.Fatalf("key = %+v", k)
	}
}

func TestAPIKeyLimit(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	owner := signUp(t, e, "keylim-owner")
	ws := wsCreate(t, e, owner.Token, map[string]any{"name": "Limit"})
	// 99 live keys and one revoked, straight in the table; the API makes the 100th.
	execSQL(t, e, `INSERT INTO api_keys (workspace_id, name, prefix, key_hash, role, revoked_at)
		SELECT $1, 'k' || i, 'pxm_' || lpad(i::text, 8, '0'), sha256(i::text::bytea), 'member',
			CASE WHEN i = 0 THEN now() END
		FROM generate_series(0, 99) AS i`, ws.ID)
	last := keyCreate(t, e, owner.Token, ws.ID, map[string]any{"name": "Hundredth", "role": "member"})
	wantError(t, e.Do(apitest.Request{Method: http.MethodPost, Path: wsPath(ws.ID, "/api-keys"), Token: owner.Token,
		Body: map[string]any{"name": "One too many", "role": "member"}}), http.StatusConflict, "API_KEY_LIMIT")
	wantStatus(t, e.Do(apitest.Request{Method: http.MethodDelete, Path: wsPath(ws.ID, "/api-keys/"+last.ID.String()), Token: owner.Token}), http.StatusNoContent)
	keyCreate(t, e, owner.Token, ws.ID, map[string]any{"name": "Room again", "role": "member"})
}

// TestAPIKeyPermissionMatrix holds every route to the rules of API keys for
// each kind of key — member, admin, read-only admin, revoked, expired,
// another workspace's — on a fresh workspace per request, and checks that
// every refused request changed nothing and every accepted write changed
// something.
func TestAPIKeyPermissionMatrix(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	owner := signUp(t, e, "kmx-owner")
	target := signUp(t, e, "kmx-target") // a member acted upon
	peer := signUp(t, e, "kmx-peer")     // an admin acted upon
	elsewhere := wsCreate(t, e, owner.Token, map[string]any{"name": "Elsewhere"})
	foreign := keyCreate(t, e, owner.Token, elsewhere.ID, map[string]any{"name": "Foreign", "role": "admin"})

	type fixture struct {
		ws                    uuid.UUID
		keys                  map[string]string // kind → key
		invitation, victimKey uuid.UUID
		invitationToken       string
	}
	kinds := []string{"member", "admin", "read-only", "revoked", "expired", "foreign"}
	newFixture := func(t *testing.T) fixture {
		t.Helper()
		ws := wsCreate(t, e, owner.Token, map[string]any{"name": "Matrix", "product_name": "P"})
		apitest.AddMember(t, e.Store, ws.ID, target.ID, "member")
		apitest.AddMember(t, e.Store, ws.ID, peer.ID, "admin")
		f := fixture{ws: ws.ID, keys: map[string]string{"foreign": foreign.Key}}
		f.keys["member"] = keyCreate(t, e, owner.Token, ws.ID, map[string]any{"name": "M", "role": "member"}).Key
		f.keys["admin"] = keyCreate(t, e, owner.Token, ws.ID, map[string]any{"name": "A", "role": "admin"}).Key
		f.keys["read-only"] = keyCreate(t, e, owner.Token, ws.ID, map[string]any{"name": "R", "role": "admin", "read_only": true}).Key
		revoked := keyCreate(t, e, owner.Token, ws.ID, map[string]any{"name": "Gone", "role": "admin"})
		execSQL(t, e, `UPDATE api_keys SET revoked_at = now() WHERE id = $1`, revoked.ID)
		f.keys["revoked"] = revoked.Key
		expired := keyCreate(t, e, owner.Token, ws.ID, map[string]any{"name": "Old", "role": "admin"})
		execSQL(t, e, `UPDATE api_keys SET expires_at = now() - interval '1 second' WHERE id = $1`, expired.ID)
		f.keys["expired"] = expired.Key
		f.victimKey = keyCreate(t, e, owner.Token, ws.ID, map[string]any{"name": "Victim", "role": "member"}).ID
		inv := invCreate(t, e, owner.Token, ws.ID, "invitee-"+uuid.NewString()+"@example.com", "member")
		f.invitation, f.invitationToken = inv.ID, inv.Token
		return f
	}

	ok, created, gone := wsExpect{200, ""}, wsExpect{201, ""}, wsExpect{204, ""}
	forb, unauth := wsExpect{403, "FORBIDDEN"}, wsExpect{401, "UNAUTHORIZED"}
	cases := []struct {
		name         string
		method, path string // a path starting with / is absolute; else below the workspace
		body         any
		// member, admin, read-only (admin), revoked, expired, foreign (an admin key elsewhere)
		want [6]wsExpect
	}{
		{"get workspace", "GET", "", nil, [6]wsExpect{ok, ok, ok, unauth, unauth, forb}},
		{"patch workspace", "PATCH", "", map[string]any{"name": "Renamed"}, [6]wsExpect{forb, ok, forb, unauth, unauth, forb}},
		{"delete workspace", "DELETE", "", nil, [6]wsExpect{forb, forb, forb, unauth, unauth, forb}},
		{"get settings", "GET", "/settings", nil, [6]wsExpect{ok, ok, ok, unauth, unauth, forb}},
		{"patch settings", "PATCH", "/settings", map[string]any{"morning_digest_enabled": true}, [6]wsExpect{forb, ok, forb, unauth, unauth, forb}},
		{"list members", "GET", "/members", nil, [6]wsExpect{ok, ok, ok, unauth, unauth, forb}},
		{"promote a member to admin", "PATCH", "/members/{target}", map[string]any{"role": "admin"}, [6]wsExpect{forb, ok, forb, unauth, unauth, forb}},
		{"promote a member to owner", "PATCH", "/members/{target}", map[string]any{"role": "owner"}, [6]wsExpect{forb, forb, forb, unauth, unauth, forb}},
		{"demote an admin", "PATCH", "/members/{peer}", map[string]any{"role": "member"}, [6]wsExpect{forb, ok, forb, unauth, unauth, forb}},
		{"demote the owner", "PATCH", "/members/{owner}", map[string]any{"role": "admin"}, [6]wsExpect{forb, forb, forb, unauth, unauth, forb}},
		{"remove a member", "DELETE", "/members/{target}", nil, [6]wsExpect{forb, gone, forb, unauth, unauth, forb}},
		{"remove the owner", "DELETE", "/members/{owner}", nil, [6]wsExpect{forb, forb, forb, unauth, unauth, forb}},
		{"invite", "POST", "/invitations", map[string]any{"email": "new@example.com", "role": "member"}, [6]wsExpect{forb, created, forb, unauth, unauth, forb}},
		{"list invitations", "GET", "/invitations", nil, [6]wsExpect{forb, ok, ok, unauth, unauth, forb}},
		{"revoke an invitation", "DELETE", "/invitations/{invitation}", nil, [6]wsExpect{forb, gone, forb, unauth, unauth, forb}},
		{"create a key", "POST", "/api-keys", map[string]any{"name": "Minted", "role": "member"}, [6]wsExpect{forb, forb, forb, unauth, unauth, forb}},
		{"list keys", "GET", "/api-keys", nil, [6]wsExpect{forb, forb, forb, unauth, unauth, forb}},
		{"revoke a key", "DELETE", "/api-keys/{key}", nil, [6]wsExpect{forb, forb, forb, unauth, unauth, forb}},
		{"list workspaces", "GET", "/api/workspaces", nil, [6]wsExpect{ok, ok, ok, unauth, unauth, ok}},
		{"create a workspace", "POST", "/api/workspaces", map[string]any{"name": "By key"}, [6]wsExpect{forb, forb, forb, unauth, unauth, forb}},
		{"me", "GET", "/api/auth/me", nil, [6]wsExpect{forb, forb, forb, unauth, unauth, forb}},
		{"redeem a code", "POST", "/api/access-codes/redeem", map[string]any{"code": "PRAXIOM-AAAAAA"}, [6]wsExpect{forb, forb, forb, unauth, unauth, forb}},
		{"accept an invitation", "POST", "/api/invitations/{token}/accept", nil, [6]wsExpect{forb, forb, forb, unauth, unauth, forb}},
		{"admin: list codes", "GET", "/api/admin/access-codes", nil, [6]wsExpect{forb, forb, forb, unauth, unauth, forb}},
		{"admin: create codes", "POST", "/api/admin/access-codes", map[string]any{"count": 1}, [6]wsExpect{forb, forb, forb, unauth, unauth, forb}},
		// Under /api/auth and /api/admin a key is refused also where no route is.
		{"auth: no such route", "GET", "/api/auth/sessions", nil, [6]wsExpect{forb, forb, forb, unauth, unauth, forb}},
		{"auth: wrong method", "POST", "/api/auth/me", nil, [6]wsExpect{forb, forb, forb, unauth, unauth, forb}},
		{"admin: no such route", "DELETE", "/api/admin/nothing", nil, [6]wsExpect{forb, forb, forb, unauth, unauth, forb}},
	}
	for _, c := range cases {
		for i, kind := range kinds {
			t.Run(c.name+"/"+kind, func(t *testing.T) {
				f := newFixture(t)
				path := strings.NewReplacer("{target}", target.ID.String(), "{peer}", peer.ID.String(),
					"{owner}", owner.ID.String(), "{invitation}", f.invitation.String(),
					"{key}", f.victimKey.String(), "{token}", f.invitationToken).Replace(c.path)
				onWorkspace := !strings.HasPrefix(c.path, "/api/")
				if onWorkspace {
					path = wsPath(f.ws, path)
				}
				before := wsSnapshot(t, e, f.ws)
				r := e.Do(apitest.Request{Method: c.method, Path: path, Token: f.keys[kind], Body: c.body})
				want := c.want[i]
				wantOutcome(t, r, want.status, want.code)
				if want.status == http.StatusUnauthorized {
					assertUnauthorized(t, r, true)
				}
				if kind == "read-only" && want.status == http.StatusForbidden && c.method != http.MethodGet {
					if msg := wantError(t, r, 403, "FORBIDDEN").Error.Message; msg != "This API key is read-only." {
						t.Errorf("message %q, want the read-only one", msg)
					}
				}
				after := wsSnapshot(t, e, f.ws)
				switch {
				case r.Status >= 400 && after != before:
					t.Errorf("a refused request changed the workspace:\n%s\n%s", before, after)
				case r.Status < 400 && c.method != http.MethodGet && after == before:
					t.Errorf("an accepted %s changed nothing", c.method)
				}
				if c.name == "get workspace" && r.Status == 200 {
					roleOf := map[string]string{"member": "member", "admin": "admin", "read-only": "admin"}
					if ws := wantJSON[wsWorkspace](t, r, 200); ws.Role != roleOf[kind] {
						t.Errorf("role = %q for a %s key, want %q", ws.Role, kind, roleOf[kind])
					}
				}
			})
		}
	}
}

// TestAPIKeySurvivesItsCreatorAndIsLimitedPerKey: a key belongs to its
// workspace, not to the person who made it; its rate limit is its own.
func TestAPIKeySurvivesItsCreator(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	owner := signUp(t, e, "keysurv-owner")
	admin := signUp(t, e, "keysurv-admin")
	ws := wsCreate(t, e, owner.Token, map[string]any{"name": "Survives"})
	apitest.AddMember(t, e.Store, ws.ID, admin.ID, "admin")
	k := keyCreate(t, e, admin.Token, ws.ID, map[string]any{"name": "Admin's", "role": "member"})
	wantStatus(t, e.Do(apitest.Request{Method: http.MethodDelete, Path: wsPath(ws.ID, "/members/"+admin.ID.String()), Token: admin.Token}), http.StatusNoContent)
	wantStatus(t, e.Get(wsPath(ws.ID, ""), k.Key), http.StatusOK)
	// A removed admin can manage no key any more (the role is read under the lock).
	wantError(t, e.Do(apitest.Request{Method: http.MethodDelete, Path: wsPath(ws.ID, "/api-keys/"+k.ID.String()), Token: admin.Token}), http.StatusForbidden, "FORBIDDEN")
}

// TestAPIKeyLastUsedIsBatched: using a key writes nothing on the request;
// the next flush writes last_used_at for every key used, in one statement.
func TestAPIKeyLastUsedIsBatched(t *testing.T) {
	tr := &rtTracer{}
	o := apitest.Options{PLGGatingOff: true, Store: storeOptions(tr)}
	e := apitest.New(t, o)
	owner := signUp(t, e, "keyused-owner")
	ws := wsCreate(t, e, owner.Token, map[string]any{"name": "Used"})
	a := keyCreate(t, e, owner.Token, ws.ID, map[string]any{"name": "A", "role": "member"})
	b := keyCreate(t, e, owner.Token, ws.ID, map[string]any{"name": "B", "role": "member"})
	// Warm the connection's statement cache for the flush's statement.
	if err := e.Server.FlushKeyUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, e.Get("/api/workspaces", b.Key), http.StatusOK)
	if err := e.Server.FlushKeyUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	execSQL(t, e, `UPDATE api_keys SET last_used_at = NULL`)
	before := time.Now()
	for range 3 {
		wantStatus(t, e.Get(wsPath(ws.ID, ""), a.Key), http.StatusOK)
		wantStatus(t, e.Get("/api/workspaces", b.Key), http.StatusOK)
	}
	if n := scalar[int](t, e, `SELECT count(*) FROM api_keys WHERE last_used_at IS NOT NULL`); n != 0 {
		t.Fatalf("%d keys have last_used_at before the flush", n)
	}
	tr.take()
	if err := e.Server.FlushKeyUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	if q := tr.take(); len(q) != 1 {
		t.Fatalf("the flush made %d round trips, want 1: %v", len(q), q)
	}
	for _, k := range []apiKeyOut{a, b} {
		used := scalar[*time.Time](t, e, `SELECT last_used_at FROM api_keys WHERE id = $1`, k.ID)
		if used == nil || used.Before(before.Add(-time.Second)) || used.After(time.Now()) {
			t.Errorf("key %s: last_used_at = %v", k.Name, used)
		}
	}
	listed := wantJSON[struct {
		APIKeys []apiKeyOut `json:"api_keys"`
	}](t, e.Get(wsPath(ws.ID, "/api-keys"), owner.Token), http.StatusOK)
	for _, k := range listed.APIKeys {
		if k.LastUsedAt == nil {
			t.Errorf("listed key %s has no last_used_at", k.Name)
		}
	}
	tr.take()
	if err := e.Server.FlushKeyUsage(context.Background()); err != nil {
		t.Fatal(err)
	}
	if q := tr.take(); len(q) != 0 {
		t.Fatalf("a flush with nothing to write made round trips: %v", q)
	}
}

// TestAPIKeyRevocationAcrossInstances: two servers on one database; a key
// revoked through one is refused by the other at its next request.
func TestAPIKeyRevocationAcrossInstances(t *testing.T) {
	a := apitest.New(t, apitest.Options{PLGGatingOff: true})
	b := apitest.NewOn(t, a, apitest.Options{PLGGatingOff: true})
	owner := signUp(t, a, "keyinst-owner")
	ws := wsCreate(t, a, owner.Token, map[string]any{"name": "Instances"})
	k := keyCreate(t, a, owner.Token, ws.ID, map[string]any{"name": "Shared", "role": "member"})
	wantStatus(t, b.Get(wsPath(ws.ID, ""), k.Key), http.StatusOK)
	wantStatus(t, b.Get(wsPath(ws.ID, ""), k.Key), http.StatusOK)
	wantStatus(t, a.Do(apitest.Request{Method: http.MethodDelete, Path: wsPath(ws.ID, "/api-keys/"+k.ID.String()), Token: owner.Token}), http.StatusNoContent)
	assertUnauthorized(t, b.Get(wsPath(ws.ID, ""), k.Key), true)
}
