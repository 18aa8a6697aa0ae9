package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/devtoken"
	"github.com/praxiom/praxiom-api/internal/store"
)

// The hostile cases of api/openapi.yaml's "Session tokens only" and
// "Authentication", through the real router: each must be 401 with the
// invalid_token challenge, and none may provision a user.
func TestHostileTokensHTTP(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	key := apitest.Key(t)
	seg := func(v string) string { return base64.RawURLEncoding.EncodeToString([]byte(v)) }
	now := time.Now()
	// claims returns a valid session token's payload for a fresh subject,
	// with extra members written as given (so names may repeat).
	claims := func(sub string, extra string) string {
		return fmt.Sprintf(`{"sub":%q,"sid":"sess_h","iat":%d,"nbf":%d,"exp":%d,"email":"h@example.com"%s}`,
			sub, now.Unix(), now.Add(-5*time.Second).Unix(), now.Add(time.Minute).Unix(), extra)
	}
	header := `{"alg":"RS256","kid":"` + key.KID + `","typ":"JWT"}`
	sign := func(h, p string) string {
		tok, err := key.SignCompact(seg(h), seg(p))
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	kind := func(k devtoken.Kind) string {
		o, err := k.Apply(devtoken.Options{Subject: "user_kind" + strings.ReplaceAll(uniq(""), "_", "x"),
			Email: "k@example.com", TTL: time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		return e.Mint(o)
	}
	valid := sign(header, claims("user_hostileok", ""))
	flipLast := func(tok string) string {
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		i := strings.IndexByte(alphabet, tok[len(tok)-1])
		return tok[:len(tok)-1] + string(alphabet[i^1]) // a bit the decoder drops
	}

	for _, c := range []struct {
		name, token, message string
	}{
		{name: "signature with set trailing bits", token: flipLast(valid)},
		{name: "duplicate sub", token: sign(header, claims("user_a", `,"sub":"user_b"`))},
		{name: "sub next to SUB", token: sign(header, claims("user_a", `,"SUB":"user_b"`))},
		{name: "Exp instead of exp", token: sign(header, strings.Replace(claims("user_a", ""), `"exp"`, `"Exp"`, 1))},
		{name: "duplicate kid in the header", token: sign(`{"alg":"RS256","kid":"x","kid":"`+key.KID+`"}`, claims("user_a", ""))},
		{name: "Alg next to alg", token: sign(`{"alg":"RS256","Alg":"none","kid":"`+key.KID+`"}`, claims("user_a", ""))},
		{name: "sub with a path", token: sign(header, claims("user_2abc/../sessions", ""))},
		{name: "sub with an underscore", token: sign(header, claims("user_a_b", ""))},
		{name: "sub of 65 characters", token: sign(header, claims("user_"+strings.Repeat("a", 65), ""))},
		{name: "NUL in sub", token: sign(header, claims("user_a\u0000b", ""))},
		{name: "NUL in name", token: sign(header, claims("user_nulname", `,"name":"a\u0000b"`))},
		{name: "NUL in email", token: sign(header, strings.Replace(claims("user_nulmail", ""), `"h@example.com"`, `"h\u0000@example.com"`, 1))},
		{name: "JWT template", token: kind(devtoken.KindTemplate)},
		{name: "M2M token", token: kind(devtoken.KindM2M)},
		{name: "OAuth access token", token: kind(devtoken.KindOAuth)},
		{name: "no sid", token: sign(header, strings.Replace(claims("user_nosid", ""), `"sid":"sess_h",`, ``, 1))},
		{name: "pending session", token: kind(devtoken.KindPending), message: "pending"},
		{name: "act that is not an object", token: sign(header, claims("user_badact", `,"act":"user_admin"`))},
	} {
		t.Run(c.name, func(t *testing.T) {
			before := scalar[int](t, e, `SELECT count(*) FROM users`)
			r := e.Get("/api/auth/me", c.token)
			assertUnauthorized(t, r, true)
			if c.message != "" {
				if msg := wantError(t, r, 401, "UNAUTHORIZED").Error.Message; !strings.Contains(msg, c.message) {
					t.Errorf("message %q does not say %q", msg, c.message)
				}
			}
			if n := scalar[int](t, e, `SELECT count(*) FROM users`); n != before {
				t.Error("a refused token provisioned a user")
			}
		})
	}
	// The unmodified token is accepted: the cases above are refused for
	// what they change.
	wantStatus(t, e.Get("/api/auth/me", valid), http.StatusOK)
}

// TestImpersonation: an impersonated session runs as the user; /me and the
// request log name the impersonator, and the irreversible actions are
// refused.
func TestImpersonation(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	owner := signUp(t, e, "imp-owner")
	coOwner := signUp(t, e, "imp-coowner")
	member := signUp(t, e, "imp-member")
	if _, err := e.Store.AdministerUser(context.Background(), store.GrantAdmin, store.ByEmail(owner.Email)); err != nil {
		t.Fatal(err)
	}
	ws := wsCreate(t, e, owner.Token, map[string]any{"name": "Impersonated"})
	apitest.AddMember(t, e.Store, ws.ID, coOwner.ID, "owner")
	apitest.AddMember(t, e.Store, ws.ID, member.ID, "member")
	inv := invCreate(t, e, owner.Token, ws.ID, "imp-"+owner.ID.String()[:8]+"@example.com", "member")
	sub := scalar[string](t, e, `SELECT clerk_id FROM users WHERE id = $1`, owner.ID)
	o, err := devtoken.KindImpersonated.Apply(devtoken.Options{Subject: sub, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	imp := e.Mint(o)

	me := wantJSON[map[string]any](t, e.Get("/api/auth/me", imp), http.StatusOK)
	if me["impersonator"] != o.Actor || me["id"] != owner.ID.String() {
		t.Fatalf("me = %v, want the owner with impersonator %s", me, o.Actor)
	}
	if own := wantJSON[map[string]any](t, e.Get("/api/auth/me", owner.Token), http.StatusOK); own["impersonator"] != nil {
		t.Fatalf("an ordinary session shows an impersonator: %v", own)
	}
	var line map[string]any
	for _, l := range strings.Split(e.Logs(), "\n") {
		if strings.Contains(l, `"msg":"request"`) && strings.Contains(l, o.Actor) {
			_ = json.Unmarshal([]byte(l), &line)
		}
	}
	if line["impersonator"] != o.Actor {
		t.Fatalf("no request log line names the impersonator %s", o.Actor)
	}

	refused := []struct {
		name, method, path string
		body               any
	}{
		{"delete the workspace", "DELETE", wsPath(ws.ID, ""), nil},
		{"grant owner", "PATCH", wsPath(ws.ID, "/members/"+member.ID.String()), map[string]any{"role": "owner"}},
		{"demote an owner", "PATCH", wsPath(ws.ID, "/members/"+coOwner.ID.String()), map[string]any{"role": "admin"}},
		{"remove an owner", "DELETE", wsPath(ws.ID, "/members/"+coOwner.ID.String()), nil},
		{"leave as an owner", "DELETE", wsPath(ws.ID, "/members/"+owner.ID.String()), nil},
		{"create an API key", "POST", wsPath(ws.ID, "/api-keys"), map[string]any{"name": "K", "role": "member"}},
		{"accept an invitation", "POST", "/api/invitations/" + inv.Token + "/accept", nil},
		{"redeem an access code", "POST", "/api/access-codes/redeem", map[string]any{"code": "PRAXIOM-AAAAAA"}},
		{"admin: list access codes", "GET", "/api/admin/access-codes", nil},
		{"admin: create access codes", "POST", "/api/admin/access-codes", map[string]any{"count": 1}},
		{"admin: audit log", "GET", "/api/admin/audit-log", nil},
	}
	for _, c := range refused {
		t.Run("refused: "+c.name, func(t *testing.T) {
			before := wsSnapshot(t, e, ws.ID)
			r := e.Do(apitest.Request{Method: c.method, Path: c.path, Token: imp, Body: c.body})
			if msg := wantError(t, r, http.StatusForbidden, "FORBIDDEN").Error.Message; msg != "Not allowed while impersonating." {
				t.Errorf("message %q", msg)
			}
			if wsSnapshot(t, e, ws.ID) != before {
				t.Error("the refused request changed the workspace")
			}
		})
	}
	// An impersonated admin, who could not touch the owner role anyway, is
	// told the impersonation is why.
	admin := signUp(t, e, "imp-admin")
	apitest.AddMember(t, e.Store, ws.ID, admin.ID, "admin")
	ao, err := devtoken.KindImpersonated.Apply(devtoken.Options{
		Subject: scalar[string](t, e, `SELECT clerk_id FROM users WHERE id = $1`, admin.ID), TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	impAdmin := e.Mint(ao)
	for _, c := range refused[1:4] {
		r := e.Do(apitest.Request{Method: c.method, Path: c.path, Token: impAdmin, Body: c.body})
		if msg := wantError(t, r, http.StatusForbidden, "FORBIDDEN").Error.Message; msg != "Not allowed while impersonating." {
			t.Errorf("impersonated admin, %s: message %q", c.name, msg)
		}
	}
	// What is not on the list is allowed.
	ws2 := wsCreate(t, e, owner.Token, map[string]any{"name": "Allowed"})
	apitest.AddMember(t, e.Store, ws2.ID, member.ID, "member")
	wantStatus(t, e.Do(apitest.Request{Method: http.MethodPatch, Path: wsPath(ws2.ID, ""), Token: imp, Body: map[string]any{"name": "Renamed"}}), http.StatusOK)
	wantStatus(t, e.Do(apitest.Request{Method: http.MethodPatch, Path: wsPath(ws2.ID, "/members/"+member.ID.String()), Token: imp,
		Body: map[string]any{"role": "admin"}}), http.StatusOK)
	wantStatus(t, e.Do(apitest.Request{Method: http.MethodPost, Path: wsPath(ws2.ID, "/invitations"), Token: imp,
		Body: map[string]any{"email": "new@example.com", "role": "member"}}), http.StatusCreated)
}
