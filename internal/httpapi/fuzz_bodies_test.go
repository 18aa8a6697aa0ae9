package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// FuzzRequestBodies sends arbitrary bodies to every route that reads one,
// through the real router and a real PostgreSQL, as a platform admin who
// owns the workspace: whatever the body, the answer is never a 5xx (a
// string PostgreSQL cannot store, a number beyond a column, must be a 422,
// not a database error) and every error is the envelope. Its seed corpus
// runs in `make test`; `make fuzz` mutates it.
func FuzzRequestBodies(f *testing.F) {
	e := apitest.New(f, apitest.Options{PLGGatingOff: true, NoSpecCheck: true})
	ctx := context.Background()
	admin := apitest.NewUser(f, e.Store, "fuzz-admin@example.com", store.NewUserPolicy{Active: true})
	if _, err := e.Store.AdministerUser(ctx, store.GrantAdmin, store.ByEmail(admin.Email)); err != nil {
		f.Fatal(err)
	}
	member := apitest.NewUser(f, e.Store, "fuzz-member@example.com", store.NewUserPolicy{Active: true})
	ws := apitest.InsertWorkspace(f, e.Store, "Fuzzed", admin.ID)
	apitest.AddMember(f, e.Store, ws, member.ID, "member")
	tok := e.Token(admin.Email)
	routes := []struct{ method, path string }{
		{http.MethodPost, "/api/workspaces"},
		{http.MethodPatch, wsPath(ws, "")},
		{http.MethodPatch, wsPath(ws, "/settings")},
		{http.MethodPatch, wsPath(ws, "/members/"+member.ID.String())},
		{http.MethodPost, wsPath(ws, "/invitations")},
		{http.MethodPost, wsPath(ws, "/api-keys")},
		{http.MethodPost, "/api/access-codes/redeem"},
		{http.MethodPost, "/api/admin/access-codes"},
	}
	for i, body := range []string{
		`{"name":"a\u0000b"}`, `{"name":"\ud800"}`, `{"product_name":"\udc00x"}`, "{\"name\":\"\xff\"}",
		`{"digest_timezone":"Europe/Paris\u0000"}`, `{"morning_digest_enabled":true}`,
		`{"role":"admin\u0000"}`, `{"role":"owner"}`,
		`{"email":"a\u0000@example.com","role":"member"}`, `{"email":"x@example.com","role":"member"}`,
		`{"name":"k\u0000","role":"member"}`, `{"name":"k","role":"member","expires_at":"9999-12-31T23:59:59Z"}`,
		`{"code":"PRAXIOM-\u0000"}`, `{"code":"praxiom-aaaaaa"}`,
		`{"count":1e20}`, `{"count":1,"max_redemptions":-1}`, `{"count":1,"metadata":{"k":"\u0000"}}`,
		`{"count":1,"metadata":{"\ud83d":1}}`, `{"count":1,"metadata":{"n":1e400}}`, `{"count":1,"metadata":{"n":1e308}}`,
		`{"count":1,"expires_at":"0000-01-01T00:00:00Z"}`, `{"name":"` + string(make([]byte, 200)) + `"}`,
	} {
		f.Add(uint8(i), []byte(body))
	}
	f.Fuzz(func(t *testing.T, route uint8, body []byte) {
		rt := routes[int(route)%len(routes)]
		et := *e // the harness reports to this iteration's t, not to f
		et.TB = t
		r := et.Do(apitest.Request{Method: rt.method, Path: rt.path, Token: tok, Body: body})
		if r.Status >= 500 {
			t.Fatalf("%s %s %q: %d %s", rt.method, rt.path, body, r.Status, r.Body)
		}
		if r.Status >= 400 {
			var env struct {
				Error struct {
					Code, Message string
				} `json:"error"`
			}
			if err := json.Unmarshal(r.Body, &env); err != nil || env.Error.Code == "" || env.Error.Message == "" {
				t.Fatalf("%s %s %q: %d without the error envelope: %s", rt.method, rt.path, body, r.Status, r.Body)
			}
		}
	})
}
