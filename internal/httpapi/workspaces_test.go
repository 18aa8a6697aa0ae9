package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// Helpers of the workspace and member tests carry a ws prefix.

// wsWorkspace is the workspace object (api/openapi.yaml, Workspace).
type wsWorkspace struct {
	ID                 uuid.UUID `json:"id"`
	Name               string    `json:"name"`
	ProductName        *string   `json:"product_name"`
	ProductDescription *string   `json:"product_description"`
	TargetUsers        *string   `json:"target_users"`
	CurrentStage       *string   `json:"current_stage"`
	Role               string    `json:"role"`
	Subscription       struct {
		Plan        string     `json:"plan"`
		Status      string     `json:"status"`
		TrialEndsAt *time.Time `json:"trial_ends_at"`
	} `json:"subscription"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`
}

// wsCreate creates a workspace as tok and returns it (201 expected).
func wsCreate(t *testing.T, e *apitest.Env, tok string, body any) wsWorkspace {
	t.Helper()
	return wantJSON[wsWorkspace](t, e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/workspaces", Token: tok, Body: body}), http.StatusCreated)
}

// wsSnapshot reads everything a workspace route could change, straight from
// the tables.
func wsSnapshot(t *testing.T, e *apitest.Env, wsID uuid.UUID) string {
	t.Helper()
	var s string
	err := e.Store.Pool().QueryRow(context.Background(), `SELECT json_build_object(
		'workspace', (SELECT row_to_json(w) FROM workspaces w WHERE w.id = $1),
		'members', (SELECT json_agg(m ORDER BY m.user_id) FROM workspace_members m WHERE m.workspace_id = $1),
		'settings', (SELECT row_to_json(s) FROM workspace_settings s WHERE s.workspace_id = $1),
		'subscription', (SELECT row_to_json(s) FROM subscriptions s WHERE s.workspace_id = $1),
		'invitations', (SELECT json_agg(i ORDER BY i.id) FROM invitations i WHERE i.workspace_id = $1),
		'api_keys', (SELECT json_agg(k ORDER BY k.id) FROM api_keys k WHERE k.workspace_id = $1),
		'audit', (SELECT json_agg(e ORDER BY e.seq) FROM audit_events e WHERE e.workspace_id = $1))::text`,
		wsID).Scan(&s)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	return s
}

// wsCount counts rows of a workspace-scoped table.
func wsCount(t *testing.T, e *apitest.Env, table string, wsID uuid.UUID) int {
	t.Helper()
	col := "workspace_id"
	if table == "workspaces" {
		col = "id"
	}
	return scalar[int](t, e, `SELECT count(*) FROM `+table+` WHERE `+col+` = $1`, wsID)
}

func wsPath(wsID uuid.UUID, rest string) string {
	return "/api/workspaces/" + wsID.String() + rest
}

func TestWorkspaceCreate(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	ada := signUp(t, e, "ada")
	before := time.Now()
	r := e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/workspaces", Token: ada.Token, Body: map[string]any{
		"name": "  Acme Dashboard \n", "product_name": "Acme Analytics", "product_description": "Dashboards",
		"target_users": "Analysts", "current_stage": nil,
	}})
	wantStatus(t, r, http.StatusCreated)
	var raw map[string]any
	r.JSON(t, &raw)
	for _, k := range []string{"id", "name", "product_name", "product_description", "target_users",
		"current_stage", "role", "subscription", "created_at", "updated_at"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("workspace lacks %q: %s", k, r.Body)
		}
	}
	if len(raw) != 10 {
		t.Errorf("workspace has %d keys, want 10: %s", len(raw), r.Body)
	}
	var ws wsWorkspace
	r.JSON(t, &ws)
	if ws.Name != "Acme Dashboard" {
		t.Errorf("name = %q, want it trimmed", ws.Name)
	}
	if ws.ProductName == nil || *ws.ProductName != "Acme Analytics" || ws.CurrentStage != nil || ws.Role != "owner" {
		t.Errorf("workspace = %+v", ws)
	}
	if ws.Subscription.Plan != "trial" || ws.Subscription.Status != "trialing" || ws.Subscription.TrialEndsAt == nil {
		t.Fatalf("subscription = %+v", ws.Subscription)
	}
	if d := ws.Subscription.TrialEndsAt.Sub(before); d < 14*24*time.Hour-time.Minute || d > 14*24*time.Hour+time.Minute {
		t.Errorf("trial ends %v after creation, want 14 days", d)
	}
	for _, ts := range []string{raw["created_at"].(string), raw["updated_at"].(string)} {
		if !strings.HasSuffix(ts, "Z") {
			t.Errorf("timestamp %q is not UTC", ts)
		}
	}
	for table, want := range map[string]int{"workspaces": 1, "workspace_members": 1, "subscriptions": 1, "workspace_settings": 1} {
		if n := wsCount(t, e, table, ws.ID); n != want {
			t.Errorf("%s rows = %d, want %d", table, n, want)
		}
	}

	// GET answers the same object.
	got := wantJSON[wsWorkspace](t, e.Get(wsPath(ws.ID, ""), ada.Token), http.StatusOK)
	if got.ID != ws.ID || got.Name != ws.Name || got.Role != "owner" || !got.CreatedAt.Equal(ws.CreatedAt) {
		t.Errorf("GET = %+v, want %+v", got, ws)
	}
	// 100 characters (runes, not bytes) and 2,000-character product fields fit.
	long := strings.Repeat("é", 100)
	ws = wsCreate(t, e, ada.Token, map[string]any{"name": long, "product_description": strings.Repeat("ü", 2000)})
	if ws.Name != long || ws.ProductDescription == nil || len([]rune(*ws.ProductDescription)) != 2000 {
		t.Errorf("long values not kept: %q", ws.Name)
	}
}

func TestWorkspaceCreateAccessRequired(t *testing.T) {
	e := apitest.New(t, apitest.Options{}) // PLG gating on: new users start pending
	pending := signUp(t, e, "pending")
	for _, body := range []any{
		map[string]any{"name": "Mine"},
		map[string]any{"name": ""},      // the access check comes before the body
		map[string]any{"role": "owner"}, // …and before unknown fields
		"{not json",                     // …and before malformed JSON
	} {
		r := e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/workspaces", Token: pending.Token, Body: body})
		wantError(t, r, http.StatusForbidden, "ACCESS_REQUIRED")
	}
	if n := scalar[int](t, e, `SELECT count(*) FROM workspaces`); n != 0 {
		t.Fatalf("workspaces = %d", n)
	}
	// Listing needs no product access.
	wantStatus(t, e.Get("/api/workspaces", pending.Token), http.StatusOK)

	ctx := context.Background()
	if _, err := e.Store.AdministerUser(ctx, store.GrantAccess, store.ByEmail(pending.Email)); err != nil {
		t.Fatal(err)
	}
	wsCreate(t, e, pending.Token, map[string]any{"name": "Granted"})

	founder := signUp(t, e, "founder")
	if _, err := e.Store.AdministerUser(ctx, store.GrantFounder, store.ByEmail(founder.Email)); err != nil {
		t.Fatal(err)
	}
	wsCreate(t, e, founder.Token, map[string]any{"name": "Founded"})

	// A suspended user is refused as suspended, before the access check.
	if _, err := e.Store.AdministerUser(ctx, store.Suspend, store.ByEmail(founder.Email)); err != nil {
		t.Fatal(err)
	}
	wantError(t, e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/workspaces", Token: founder.Token, Body: map[string]any{"name": "No"}}),
		http.StatusForbidden, "ACCOUNT_SUSPENDED")
}

// Field names match exactly: encoding/json alone would take "Name" or
// "NAME" for "name".
func TestWorkspaceFieldNamesAreExact(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	ada := signUp(t, e, "ada")
	for _, body := range []string{`{"Name":"Acme"}`, `{"name":"Acme","NAME":"Evil"}`} {
		r := e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/workspaces", Token: ada.Token, Body: body})
		wantError(t, r, http.StatusUnprocessableEntity, "VALIDATION_ERROR")
	}
	if n := scalar[int](t, e, `SELECT count(*) FROM workspaces`); n != 0 {
		t.Fatalf("refused bodies created %d workspaces", n)
	}
}

func TestWorkspaceMassAssignment(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	ada := signUp(t, e, "ada")
	other := signUp(t, e, "other")
	ws := wsCreate(t, e, ada.Token, map[string]any{"name": "Acme"})
	apitest.AddMember(t, e.Store, ws.ID, other.ID, "admin")
	smuggled := map[string]any{
		"role":         "owner",
		"id":           uuid.New().String(),
		"owner_id":     other.ID.String(),
		"workspace_id": uuid.New().String(),
		"subscription": map[string]any{"plan": "power", "status": "active", "trial_ends_at": nil},
	}
	for field, value := range smuggled {
		t.Run(field, func(t *testing.T) {
			body := map[string]any{"name": "Evil", field: value}
			r := e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/workspaces", Token: other.Token, Body: body})
			wantFields(t, r, field)
			list := e.Get("/api/workspaces", other.Token)
			var l struct {
				Total int `json:"total"`
			}
			list.JSON(t, &l)
			if l.Total != 1 {
				t.Errorf("a refused create left a workspace behind: total %d", l.Total)
			}

			before := wsSnapshot(t, e, ws.ID)
			r = e.Do(apitest.Request{Method: http.MethodPatch, Path: wsPath(ws.ID, ""), Token: other.Token, Body: body})
			wantFields(t, r, field)
			if after := wsSnapshot(t, e, ws.ID); after != before {
				t.Errorf("a refused patch changed the workspace:\n%s\n%s", before, after)
			}
		})
	}
	// The settings and member bodies refuse unknown fields too.
	before := wsSnapshot(t, e, ws.ID)
	wantFields(t, e.Do(apitest.Request{Method: http.MethodPatch, Path: wsPath(ws.ID, "/settings"), Token: ada.Token,
		Body: map[string]any{"morning_digest_enabled": true, "workspace_id": uuid.New()}}), "workspace_id")
	wantFields(t, e.Do(apitest.Request{Method: http.MethodPatch, Path: wsPath(ws.ID, "/members/"+other.ID.String()), Token: ada.Token,
		Body: map[string]any{"role": "member", "user_id": ada.ID}}), "user_id")
	if after := wsSnapshot(t, e, ws.ID); after != before {
		t.Errorf("refused patches changed the workspace:\n%s\n%s", before, after)
	}
}

func TestWorkspaceValidation(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	ada := signUp(t, e, "ada")
	ws := wsCreate(t, e, ada.Token, map[string]any{"name": "Acme"})
	long := strings.Repeat("x", 2001)
	cases := []struct {
		name   string
		body   any
		create []string // fields named on create; nil: 201
		patch  []string // fields named on patch; nil: 200
	}{
		{"empty name", map[string]any{"name": ""}, []string{"name"}, []string{"name"}},
		{"blank name", map[string]any{"name": " \t\n "}, []string{"name"}, []string{"name"}},
		{"101 characters", map[string]any{"name": strings.Repeat("n", 101)}, []string{"name"}, []string{"name"}},
		{"101 runes", map[string]any{"name": strings.Repeat("ñ", 101)}, []string{"name"}, []string{"name"}},
		{"100 characters padded", map[string]any{"name": "  " + strings.Repeat("n", 100) + "  "}, nil, nil},
		{"null name", map[string]any{"name": nil}, []string{"name"}, []string{"name"}},
		{"missing name", map[string]any{"product_name": "P"}, []string{"name"}, nil},
		{"NUL in name", map[string]any{"name": "a\u0000b"}, []string{"name"}, []string{"name"}},
		{"product_name 2001", map[string]any{"name": "Ok", "product_name": long}, []string{"product_name"}, []string{"product_name"}},
		{"product_description 2001", map[string]any{"name": "Ok", "product_description": long}, []string{"product_description"}, []string{"product_description"}},
		{"target_users 2001", map[string]any{"name": "Ok", "target_users": long}, []string{"target_users"}, []string{"target_users"}},
		{"current_stage 2001", map[string]any{"name": "Ok", "current_stage": long}, []string{"current_stage"}, []string{"current_stage"}},
		{"every field bad", map[string]any{"name": "", "product_name": long, "product_description": long,
			"target_users": long, "current_stage": long},
			[]string{"name", "product_name", "product_description", "target_users", "current_stage"},
			[]string{"name", "product_name", "product_description", "target_users", "current_stage"}},
		{"name a number", map[string]any{"name": 5}, []string{"name"}, []string{"name"}},
		{"product_name an object", map[string]any{"name": "Ok", "product_name": map[string]any{}}, []string{"product_name"}, []string{"product_name"}},
		{"current_stage a bool", map[string]any{"name": "Ok", "current_stage": true}, []string{"current_stage"}, []string{"current_stage"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/workspaces", Token: ada.Token, Body: c.body})
			if c.create == nil {
				wantStatus(t, r, http.StatusCreated)
			} else {
				wantFields(t, r, c.create...)
			}
			before := wsSnapshot(t, e, ws.ID)
			r = e.Do(apitest.Request{Method: http.MethodPatch, Path: wsPath(ws.ID, ""), Token: ada.Token, Body: c.body})
			if c.patch == nil {
				wantStatus(t, r, http.StatusOK)
				return
			}
			wantFields(t, r, c.patch...)
			if after := wsSnapshot(t, e, ws.ID); after != before {
				t.Errorf("a refused patch changed the workspace:\n%s\n%s", before, after)
			}
		})
	}
}

// TestWorkspaceBodyErrors runs the body checks of every route with a body.
func TestWorkspaceBodyErrors(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	ada := signUp(t, e, "ada")
	bob := signUp(t, e, "bob")
	ws := wsCreate(t, e, ada.Token, map[string]any{"name": "Acme"})
	apitest.AddMember(t, e.Store, ws.ID, bob.ID, "member")
	routes := []struct{ method, path string }{
		{http.MethodPost, "/api/workspaces"},
		{http.MethodPatch, wsPath(ws.ID, "")},
		{http.MethodPatch, wsPath(ws.ID, "/settings")},
		{http.MethodPatch, wsPath(ws.ID, "/members/"+bob.ID.String())},
	}
	huge := `{"name":"` + strings.Repeat("a", 1<<20) + `"}`
	cases := []struct {
		name        string
		body        string
		contentType []string // nil: application/json
		status      int
		code        string
	}{
		{"no content type", `{"name":"x"}`, []string{}, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"text/plain", `{"name":"x"}`, []string{"text/plain"}, 415, "UNSUPPORTED_MEDIA_TYPE"},
		{"over 1 MiB", huge, nil, 413, "PAYLOAD_TOO_LARGE"},
		{"malformed", `{"name":`, nil, 400, "BAD_REQUEST"},
		{"not JSON", `name=x`, nil, 400, "BAD_REQUEST"},
		{"empty", ``, nil, 400, "BAD_REQUEST"},
		{"an array", `[]`, nil, 400, "BAD_REQUEST"},
		{"a string", `"x"`, nil, 400, "BAD_REQUEST"},
		{"two objects", `{} {}`, nil, 400, "BAD_REQUEST"},
	}
	for _, rt := range routes {
		for _, c := range cases {
			t.Run(rt.method+" "+rt.path+" "+c.name, func(t *testing.T) {
				h := http.Header{}
				if c.contentType != nil {
					h["Content-Type"] = c.contentType
				}
				before := wsSnapshot(t, e, ws.ID)
				r := e.Do(apitest.Request{Method: rt.method, Path: rt.path, Token: ada.Token, Body: c.body, Header: h})
				wantError(t, r, c.status, c.code)
				if after := wsSnapshot(t, e, ws.ID); after != before {
					t.Errorf("a refused request changed the workspace")
				}
			})
		}
	}
	// application/json with parameters is fine.
	r := e.Do(apitest.Request{Method: http.MethodPatch, Path: wsPath(ws.ID, "/settings"), Token: ada.Token,
		Body: `{"morning_digest_enabled":true}`, Header: http.Header{"Content-Type": {"application/json; charset=utf-8"}}})
	wantStatus(t, r, http.StatusOK)
}

func TestWorkspaceList(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	ada := signUp(t, e, "ada")
	bob := signUp(t, e, "bob")
	var ids []uuid.UUID
	for i := range 5 {
		ids = append(ids, wsCreate(t, e, ada.Token, map[string]any{"name": fmt.Sprint("Ada ", i)}).ID)
	}
	bobs := wsCreate(t, e, bob.Token, map[string]any{"name": "Bob's"})
	apitest.AddMember(t, e.Store, ids[1], bob.ID, "admin")

	type list struct {
		Workspaces []wsWorkspace `json:"workspaces"`
		Total      int           `json:"total"`
	}
	get := func(tok, query string) list {
		t.Helper()
		r := e.Get("/api/workspaces"+query, tok)
		l := wantJSON[list](t, r, http.StatusOK)
		if l.Workspaces == nil {
			t.Fatalf("workspaces is not an array: %s", r.Body)
		}
		return l
	}
	l := get(ada.Token, "")
	if l.Total != 5 || len(l.Workspaces) != 5 {
		t.Fatalf("ada's list: total %d, %d items", l.Total, len(l.Workspaces))
	}
	for i, ws := range l.Workspaces { // newest first
		if ws.ID != ids[4-i] || ws.Role != "owner" {
			t.Errorf("item %d = %s (%s), want %s", i, ws.Name, ws.Role, ids[4-i])
		}
	}
	for i := 1; i < len(l.Workspaces); i++ {
		if l.Workspaces[i].CreatedAt.After(l.Workspaces[i-1].CreatedAt) {
			t.Errorf("not newest first at %d", i)
		}
	}
	pages := []struct {
		query string
		want  []uuid.UUID
	}{
		{"?limit=2", ids[3:5]},
		{"?limit=2&offset=2", ids[1:3]},
		{"?limit=2&offset=4", ids[0:1]},
		{"?offset=5", nil},
		{"?offset=100&limit=200", nil},
		{"?limit=1&offset=0", ids[4:5]},
	}
	for _, p := range pages {
		l := get(ada.Token, p.query)
		if l.Total != 5 || len(l.Workspaces) != len(p.want) {
			t.Errorf("%s: total %d, %d items, want 5 and %d", p.query, l.Total, len(l.Workspaces), len(p.want))
			continue
		}
		for i, ws := range l.Workspaces {
			if ws.ID != p.want[len(p.want)-1-i] {
				t.Errorf("%s: item %d = %s", p.query, i, ws.Name)
			}
		}
	}
	// Bob sees his own workspace and the one he was added to, with his role.
	l = get(bob.Token, "")
	if l.Total != 2 || l.Workspaces[0].ID != bobs.ID || l.Workspaces[0].Role != "owner" ||
		l.Workspaces[1].ID != ids[1] || l.Workspaces[1].Role != "admin" {
		t.Errorf("bob's list = %+v", l)
	}
	// A user with no workspace gets an empty array.
	if l := get(signUp(t, e, "new").Token, ""); l.Total != 0 || len(l.Workspaces) != 0 {
		t.Errorf("new user's list = %+v", l)
	}
	for _, q := range []string{"?limit=0", "?limit=201", "?limit=abc", "?offset=-1", "?offset=x", "?limit=", "?limit=1.5", "?limit=1&limit=2"} {
		wantError(t, e.Get("/api/workspaces"+q, ada.Token), http.StatusBadRequest, "BAD_REQUEST")
		wantError(t, e.Get(wsPath(ids[0], "/members"+q), ada.Token), http.StatusBadRequest, "BAD_REQUEST")
	}
	wantStatus(t, e.Get("/api/workspaces?limit=200", ada.Token), http.StatusOK)
}

func TestWorkspacePatch(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	ada := signUp(t, e, "ada")
	ws := wsCreate(t, e, ada.Token, map[string]any{"name": "Acme", "product_name": "P", "product_description": "D",
		"target_users": "T", "current_stage": "S"})
	patch := func(body any) wsWorkspace {
		t.Helper()
		return wantJSON[wsWorkspace](t, e.Do(apitest.Request{Method: http.MethodPatch, Path: wsPath(ws.ID, ""), Token: ada.Token, Body: body}), http.StatusOK)
	}
	// An empty object changes nothing, updated_at included.
	before := wsSnapshot(t, e, ws.ID)
	got := patch(map[string]any{})
	if after := wsSnapshot(t, e, ws.ID); after != before || !got.UpdatedAt.Equal(ws.UpdatedAt) {
		t.Errorf("an empty patch changed something")
	}
	// Absent fields stay; null clears; the name is trimmed.
	got = patch(map[string]any{"name": "  Renamed ", "product_name": nil, "target_users": "Everyone"})
	if got.Name != "Renamed" || got.ProductName != nil || got.ProductDescription == nil || *got.ProductDescription != "D" ||
		got.TargetUsers == nil || *got.TargetUsers != "Everyone" || got.CurrentStage == nil || *got.CurrentStage != "S" ||
		got.Role != "owner" || got.Subscription.Plan != "trial" {
		t.Errorf("after patch: %+v", got)
	}
	if !got.UpdatedAt.After(ws.UpdatedAt) || !got.CreatedAt.Equal(ws.CreatedAt) {
		t.Errorf("updated_at %v not after %v", got.UpdatedAt, ws.UpdatedAt)
	}
	got = patch(map[string]any{"product_description": nil, "current_stage": "", "target_users": nil})
	if got.ProductDescription != nil || got.TargetUsers != nil || got.CurrentStage == nil || *got.CurrentStage != "" {
		t.Errorf("after clearing: %+v", got)
	}
	got = patch(map[string]any{"product_name": strings.Repeat("p", 2000)})
	if got.ProductName == nil || len(*got.ProductName) != 2000 || got.Name != "Renamed" {
		t.Errorf("after a 2000-character field: %+v", got.Name)
	}
}

func TestWorkspaceSettings(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	ada := signUp(t, e, "ada")
	ws := wsCreate(t, e, ada.Token, map[string]any{"name": "Acme"})
	path := wsPath(ws.ID, "/settings")
	type settings struct {
		Overnight *bool   `json:"overnight_research_enabled"`
		Digest    *bool   `json:"morning_digest_enabled"`
		Timezone  *string `json:"digest_timezone"`
	}
	read := func(r *apitest.Response) settings {
		t.Helper()
		wantStatus(t, r, http.StatusOK)
		var raw map[string]any
		r.JSON(t, &raw)
		if len(raw) != 3 {
			t.Errorf("settings has %d keys: %s", len(raw), r.Body)
		}
		var s settings
		r.JSON(t, &s)
		if s.Overnight == nil || s.Digest == nil || s.Timezone == nil {
			t.Fatalf("settings incomplete: %s", r.Body)
		}
		return s
	}
	s := read(e.Get(path, ada.Token))
	if *s.Overnight || *s.Digest || *s.Timezone != "UTC" {
		t.Errorf("defaults = %+v", s)
	}
	s = read(e.Do(apitest.Request{Method: http.MethodPatch, Path: path, Token: ada.Token, Body: map[string]any{"morning_digest_enabled": true}}))
	if *s.Overnight || !*s.Digest || *s.Timezone != "UTC" {
		t.Errorf("after digest on: %v %v %v", *s.Overnight, *s.Digest, *s.Timezone)
	}
	for _, tz := range []string{"Europe/London", "America/Argentina/Buenos_Aires", "Asia/Kolkata", "UTC"} {
		s = read(e.Do(apitest.Request{Method: http.MethodPatch, Path: path, Token: ada.Token, Body: map[string]any{"digest_timezone": tz}}))
		if *s.Timezone != tz || !*s.Digest {
			t.Errorf("after %s: %v %v", tz, *s.Timezone, *s.Digest)
		}
	}
	s = read(e.Do(apitest.Request{Method: http.MethodPatch, Path: path, Token: ada.Token, Body: map[string]any{
		"overnight_research_enabled": true, "morning_digest_enabled": false, "digest_timezone": "Pacific/Auckland"}}))
	if !*s.Overnight || *s.Digest || *s.Timezone != "Pacific/Auckland" {
		t.Errorf("after all three: %v %v %v", *s.Overnight, *s.Digest, *s.Timezone)
	}
	s = read(e.Do(apitest.Request{Method: http.MethodPatch, Path: path, Token: ada.Token, Body: map[string]any{}}))
	if !*s.Overnight || *s.Digest || *s.Timezone != "Pacific/Auckland" {
		t.Errorf("an empty patch changed settings")
	}
	bad := []struct {
		body   map[string]any
		fields []string
	}{
		{map[string]any{"digest_timezone": "Mars/Olympus_Mons"}, []string{"digest_timezone"}},
		{map[string]any{"digest_timezone": ""}, []string{"digest_timezone"}},
		{map[string]any{"digest_timezone": "Local"}, []string{"digest_timezone"}},
		{map[string]any{"digest_timezone": "../../../etc/passwd"}, []string{"digest_timezone"}},
		{map[string]any{"digest_timezone": "/usr/share/zoneinfo/UTC"}, []string{"digest_timezone"}},
		{map[string]any{"digest_timezone": " Europe/London"}, []string{"digest_timezone"}},
		{map[string]any{"digest_timezone": strings.Repeat("A", 5000)}, []string{"digest_timezone"}},
		{map[string]any{"digest_timezone": nil}, []string{"digest_timezone"}},
		{map[string]any{"digest_timezone": 3}, []string{"digest_timezone"}},
		{map[string]any{"morning_digest_enabled": nil}, []string{"morning_digest_enabled"}},
		{map[string]any{"morning_digest_enabled": "yes"}, []string{"morning_digest_enabled"}},
		{map[string]any{"overnight_research_enabled": 1}, []string{"overnight_research_enabled"}},
		{map[string]any{"overnight_research_enabled": nil, "morning_digest_enabled": nil, "digest_timezone": "Nowhere"},
			[]string{"overnight_research_enabled", "morning_digest_enabled", "digest_timezone"}},
		{map[string]any{"morning_digest_enabled": true, "digest_timezone": "Nowhere"}, []string{"digest_timezone"}},
	}
	for _, b := range bad {
		before := wsSnapshot(t, e, ws.ID)
		wantFields(t, e.Do(apitest.Request{Method: http.MethodPatch, Path: path, Token: ada.Token, Body: b.body}), b.fields...)
		if after := wsSnapshot(t, e, ws.ID); after != before {
			t.Errorf("%v: a refused patch changed the settings", b.body)
		}
	}
}

func TestWorkspaceDeleteCascades(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	ada := signUp(t, e, "ada")
	bob := signUp(t, e, "bob")
	ws := wsCreate(t, e, ada.Token, map[string]any{"name": "Doomed"})
	keep := wsCreate(t, e, ada.Token, map[string]any{"name": "Kept"})
	apitest.AddMember(t, e.Store, ws.ID, bob.ID, "admin")
	apitest.AddMember(t, e.Store, keep.ID, bob.ID, "member")
	ctx := context.Background()
	for _, id := range []uuid.UUID{ws.ID, keep.ID} {
		if _, err := e.Store.Pool().Exec(ctx, `INSERT INTO invitations (workspace_id, invited_email, role, token, invited_by, expires_at)
			VALUES ($1, 'carol@example.com', 'member', $2, $3, now() + interval '7 days')`, id, uuid.NewString(), ada.ID); err != nil {
			t.Fatal(err)
		}
	}
	wantStatus(t, e.Do(apitest.Request{Method: http.MethodPatch, Path: wsPath(ws.ID, "/settings"), Token: ada.Token,
		Body: map[string]any{"morning_digest_enabled": true}}), 200)
	keepBefore := wsSnapshot(t, e, keep.ID)

	r := e.Do(apitest.Request{Method: http.MethodDelete, Path: wsPath(ws.ID, ""), Token: ada.Token})
	wantStatus(t, r, http.StatusNoContent)
	if len(r.Body) != 0 {
		t.Errorf("204 with a body: %q", r.Body)
	}
	for _, table := range []string{"workspaces", "workspace_members", "invitations", "workspace_settings", "subscriptions"} {
		if n := wsCount(t, e, table, ws.ID); n != 0 {
			t.Errorf("%s: %d rows left", table, n)
		}
	}
	if after := wsSnapshot(t, e, keep.ID); after != keepBefore {
		t.Errorf("another workspace changed")
	}
	// The workspace is gone for everyone: 403 as for any unknown id.
	wantError(t, e.Get(wsPath(ws.ID, ""), ada.Token), http.StatusForbidden, "FORBIDDEN")
	wantError(t, e.Get(wsPath(ws.ID, ""), bob.Token), http.StatusForbidden, "FORBIDDEN")
	wantError(t, e.Do(apitest.Request{Method: http.MethodDelete, Path: wsPath(ws.ID, ""), Token: ada.Token}), http.StatusForbidden, "FORBIDDEN")
	// The users themselves remain.
	wantStatus(t, e.Get("/api/auth/me", bob.Token), http.StatusOK)
}

// wsRoutes is every workspace-scoped route of this suite, with a body that
// would be valid.
var wsRoutes = []struct {
	method, rest string
	body         any
}{
	{http.MethodGet, "", nil},
	{http.MethodPatch, "", map[string]any{"name": "X"}},
	{http.MethodDelete, "", nil},
	{http.MethodGet, "/settings", nil},
	{http.MethodPatch, "/settings", map[string]any{"morning_digest_enabled": true}},
	{http.MethodGet, "/members", nil},
	{http.MethodPatch, "/members/{user}", map[string]any{"role": "admin"}},
	{http.MethodDelete, "/members/{user}", nil},
}

func TestWorkspaceUnknownAndMalformedIDs(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	ada := signUp(t, e, "ada")
	outsider := signUp(t, e, "outsider")
	ws := wsCreate(t, e, ada.Token, map[string]any{"name": "Acme"})
	before := wsSnapshot(t, e, ws.ID)
	for _, rt := range wsRoutes {
		rest := strings.ReplaceAll(rt.rest, "{user}", ada.ID.String())
		t.Run(rt.method+rt.rest, func(t *testing.T) {
			// An outsider on a real workspace and a member of nothing on an
			// unknown one get the same answer: existence is not revealed.
			out := wantError(t, e.Do(apitest.Request{Method: rt.method, Path: wsPath(ws.ID, rest), Token: outsider.Token,
				Body: rt.body}), http.StatusForbidden, "FORBIDDEN")
			unknown := wantError(t, e.Do(apitest.Request{Method: rt.method, Path: wsPath(uuid.New(), rest), Token: ada.Token,
				Body: rt.body}), http.StatusForbidden, "FORBIDDEN")
			if out.Error.Message != unknown.Error.Message || len(out.Error.Fields) != 0 || len(unknown.Error.Fields) != 0 {
				t.Errorf("outsider %+v vs unknown %+v", out.Error, unknown.Error)
			}
			for _, bad := range []string{"not-a-uuid", "123", strings.ToUpper(ws.ID.String())[:35], ws.ID.String() + "0",
				"{" + ws.ID.String() + "}", "urn:uuid:" + ws.ID.String()} {
				r := e.Do(apitest.Request{Method: rt.method, Path: "/api/workspaces/" + bad + rest, Token: ada.Token, Body: rt.body})
				wantError(t, r, http.StatusBadRequest, "BAD_REQUEST")
			}
			// The malformed-id check comes before membership.
			wantError(t, e.Do(apitest.Request{Method: rt.method, Path: "/api/workspaces/nope" + rest, Token: outsider.Token,
				Body: rt.body}), http.StatusBadRequest, "BAD_REQUEST")
			// No token at all: 401 before anything else.
			r := e.Do(apitest.Request{Method: rt.method, Path: wsPath(ws.ID, rest), Body: rt.body})
			wantError(t, r, http.StatusUnauthorized, "UNAUTHORIZED")
		})
	}
	if after := wsSnapshot(t, e, ws.ID); after != before {
		t.Errorf("refused requests changed the workspace")
	}
	// Member routes with a user id that is not a UUID.
	for _, m := range []string{http.MethodPatch, http.MethodDelete} {
		var body any
		if m == http.MethodPatch {
			body = map[string]any{"role": "admin"}
		}
		for _, bad := range []string{"nope", "1", ada.ID.String() + "x"} {
			wantError(t, e.Do(apitest.Request{Method: m, Path: wsPath(ws.ID, "/members/"+bad), Token: ada.Token, Body: body}), http.StatusBadRequest, "BAD_REQUEST")
		}
	}
	if after := wsSnapshot(t, e, ws.ID); after != before {
		t.Errorf("refused requests changed the workspace")
	}
}
