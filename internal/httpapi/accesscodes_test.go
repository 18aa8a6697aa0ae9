package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/httpapi"
	"github.com/praxiom/praxiom-api/internal/ratelimit"
	"github.com/praxiom/praxiom-api/internal/redistest"
	"github.com/praxiom/praxiom-api/internal/store"
)

var acPattern = regexp.MustCompile(`^PRAXIOM-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6}$`)

type acCode struct {
	ID              uuid.UUID       `json:"id"`
	Code            string          `json:"code"`
	MaxRedemptions  int             `json:"max_redemptions"`
	RedemptionCount int             `json:"redemption_count"`
	ExpiresAt       *time.Time      `json:"expires_at"`
	RevokedAt       *time.Time      `json:"revoked_at"`
	Metadata        json.RawMessage `json:"metadata"`
	CreatedAt       time.Time       `json:"created_at"`
}

// acAdmin provisions an admin and returns its token.
func acAdmin(t *testing.T, e *apitest.Env, email string) string {
	t.Helper()
	tok := signUp(t, e, email).Token
	if _, err := e.Store.AdministerUser(context.Background(), store.GrantAdmin, store.ByEmail(email)); err != nil {
		t.Fatal(err)
	}
	return tok
}

func acCreate(t *testing.T, e *apitest.Env, adminTok string, body map[string]any) []acCode {
	t.Helper()
	r := e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/admin/access-codes", Token: adminTok, Body: body})
	wantStatus(t, r, http.StatusCreated)
	var out struct {
		Codes []acCode `json:"codes"`
		Count int      `json:"count"`
	}
	r.JSON(t, &out)
	if out.Count != len(out.Codes) {
		t.Fatalf("count %d with %d codes", out.Count, len(out.Codes))
	}
	return out.Codes
}

func acRedeem(e *apitest.Env, tok string, code any) *apitest.Response {
	return e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/access-codes/redeem", Token: tok,
		Body: map[string]any{"code": code}})
}

func acCount(t *testing.T, e *apitest.Env, id uuid.UUID) int {
	t.Helper()
	return scalar[int](t, e, `SELECT redemption_count FROM access_codes WHERE id = $1`, id)
}

// TestAccessCodeAdminRoutesForbidden: non-admins get 403 FORBIDDEN on the
// three admin routes (a suspended admin 403 ACCOUNT_SUSPENDED, nobody 401)
// and change nothing.
func TestAccessCodeAdminRoutesForbidden(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	adminTok := acAdmin(t, e, "root@example.com")
	code := acCreate(t, e, adminTok, map[string]any{"count": 1})[0]
	user := signUp(t, e, "user@example.com")
	founder := signUp(t, e, "founder@example.com")
	if _, err := e.Store.AdministerUser(context.Background(), store.GrantFounder, store.ByEmail("founder@example.com")); err != nil {
		t.Fatal(err)
	}
	suspendedTok := acAdmin(t, e, "suspended@example.com")
	if _, err := e.Store.AdministerUser(context.Background(), store.Suspend, store.ByEmail("suspended@example.com")); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		who, tok string
		status   int
		code     string
	}{
		{"user", user.Token, http.StatusForbidden, "FORBIDDEN"},
		{"founder", founder.Token, http.StatusForbidden, "FORBIDDEN"},
		{"suspended admin", suspendedTok, http.StatusForbidden, "ACCOUNT_SUSPENDED"},
		{"anonymous", "", http.StatusUnauthorized, "UNAUTHORIZED"},
	} {
		t.Run(tc.who, func(t *testing.T) {
			wantError(t, e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/admin/access-codes", Token: tc.tok,
				Body: map[string]any{"count": 5}}), tc.status, tc.code)
			wantError(t, e.Get("/api/admin/access-codes", tc.tok), tc.status, tc.code)
			wantError(t, e.Do(apitest.Request{Method: http.MethodDelete, Path: "/api/admin/access-codes/" + code.ID.String(),
				Token: tc.tok}), tc.status, tc.code)
			// Even a malformed id or body: the admin check comes first.
			wantError(t, e.Do(apitest.Request{Method: http.MethodDelete, Path: "/api/admin/access-codes/xyz",
				Token: tc.tok}), tc.status, tc.code)
			if n := scalar[int](t, e, `SELECT count(*) FROM access_codes`); n != 1 {
				t.Errorf("%d codes, want 1", n)
			}
			if revoked := scalar[bool](t, e, `SELECT revoked_at IS NOT NULL FROM access_codes WHERE id = $1`, code.ID); revoked {
				t.Error("a refused request revoked the code")
			}
		})
	}
}

// TestAccessCodeCreateValidation: 422 naming every bad field.
func TestAccessCodeCreateValidation(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	adminTok := acAdmin(t, e, "root@example.com")
	past := time.Now().Add(-time.Minute).UTC().Format(time.RFC3339)
	big := map[string]any{"k": strings.Repeat("x", 4097)}
	for _, tc := range []struct {
		name string
		body any
		want []string
	}{
		{"no count", map[string]any{}, []string{"count"}},
		{"null count", map[string]any{"count": nil}, []string{"count"}},
		{"count 0", map[string]any{"count": 0}, []string{"count"}},
		{"count 1001", map[string]any{"count": 1001}, []string{"count"}},
		{"count string", map[string]any{"count": "5"}, []string{"count"}},
		{"count fraction", map[string]any{"count": 1.5}, []string{"count"}},
		{"max 0", map[string]any{"count": 1, "max_redemptions": 0}, []string{"max_redemptions"}},
		{"max 10001", map[string]any{"count": 1, "max_redemptions": 10001}, []string{"max_redemptions"}},
		{"max null", map[string]any{"count": 1, "max_redemptions": nil}, []string{"max_redemptions"}},
		{"expires in the past", map[string]any{"count": 1, "expires_at": past}, []string{"expires_at"}},
		{"expires not a time", map[string]any{"count": 1, "expires_at": "tomorrow"}, []string{"expires_at"}},
		{"expires a number", map[string]any{"count": 1, "expires_at": 5}, []string{"expires_at"}},
		{"metadata string", map[string]any{"count": 1, "metadata": "x"}, []string{"metadata"}},
		{"metadata array", map[string]any{"count": 1, "metadata": []int{1}}, []string{"metadata"}},
		{"metadata null", map[string]any{"count": 1, "metadata": nil}, []string{"metadata"}},
		{"metadata over 4 KiB", map[string]any{"count": 1, "metadata": big}, []string{"metadata"}},
		{"unknown field", map[string]any{"count": 1, "prefix": "X"}, []string{"prefix"}},
		{"everything", map[string]any{"count": 0, "max_redemptions": 0, "expires_at": past, "metadata": []int{}},
			[]string{"count", "expires_at", "max_redemptions", "metadata"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/admin/access-codes", Token: adminTok, Body: tc.body})
			wantFields(t, r, tc.want...)
		})
	}
	wantError(t, e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/admin/access-codes", Token: adminTok, Body: `{"count":`}),
		http.StatusBadRequest, "BAD_REQUEST")
	wantError(t, e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/admin/access-codes", Token: adminTok, Body: `[1]`}),
		http.StatusBadRequest, "BAD_REQUEST")
	if n := scalar[int](t, e, `SELECT count(*) FROM access_codes`); n != 0 {
		t.Fatalf("%d codes after refused creations", n)
	}
	// Exactly 4 KiB of metadata is fine.
	meta := map[string]any{"k": strings.Repeat("x", 4096-len(`{"k":""}`))}
	acCreate(t, e, adminTok, map[string]any{"count": 1, "metadata": meta})
}

// TestAccessCodeCreateAndList: the code format, the defaults, newest first
// with a total, pagination.
func TestAccessCodeCreateAndList(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	adminTok := acAdmin(t, e, "root@example.com")
	expires := time.Now().Add(48 * time.Hour).UTC().Truncate(time.Second)
	first := acCreate(t, e, adminTok, map[string]any{"count": 3, "max_redemptions": 5,
		"expires_at": expires.Format(time.RFC3339), "metadata": map[string]any{"batch": "spring", "n": 1}})
	second := acCreate(t, e, adminTok, map[string]any{"count": 2, "expires_at": nil})
	if len(first) != 3 || len(second) != 2 {
		t.Fatalf("%d and %d codes", len(first), len(second))
	}
	seen := map[string]bool{}
	for _, c := range append(slices.Clone(first), second...) {
		if !acPattern.MatchString(c.Code) || seen[c.Code] {
			t.Errorf("code %q: bad format or repeated", c.Code)
		}
		seen[c.Code] = true
		if c.RedemptionCount != 0 || c.RevokedAt != nil {
			t.Errorf("new code %+v", c)
		}
	}
	for _, c := range first {
		var meta map[string]any
		_ = json.Unmarshal(c.Metadata, &meta)
		if c.MaxRedemptions != 5 || c.ExpiresAt == nil || !c.ExpiresAt.Equal(expires) || meta["batch"] != "spring" {
			t.Errorf("first batch code %+v (metadata %s)", c, c.Metadata)
		}
	}
	for _, c := range second {
		if c.MaxRedemptions != 1 || c.ExpiresAt != nil || string(c.Metadata) != "{}" {
			t.Errorf("second batch code %+v (metadata %s)", c, c.Metadata)
		}
	}

	var list struct {
		Codes []acCode `json:"codes"`
		Total int      `json:"total"`
	}
	r := e.Get("/api/admin/access-codes", adminTok)
	wantStatus(t, r, http.StatusOK)
	r.JSON(t, &list)
	if list.Total != 5 || len(list.Codes) != 5 {
		t.Fatalf("list: %d of %d", len(list.Codes), list.Total)
	}
	newest := map[string]bool{second[0].Code: true, second[1].Code: true}
	if !newest[list.Codes[0].Code] || !newest[list.Codes[1].Code] {
		t.Errorf("the newest batch is not listed first: %s, %s", list.Codes[0].Code, list.Codes[1].Code)
	}
	for i := 1; i < len(list.Codes); i++ {
		if list.Codes[i].CreatedAt.After(list.Codes[i-1].CreatedAt) {
			t.Errorf("not newest first at %d", i)
		}
	}
	r = e.Get("/api/admin/access-codes?limit=2&offset=4", adminTok)
	wantStatus(t, r, http.StatusOK)
	r.JSON(t, &list)
	if list.Total != 5 || len(list.Codes) != 1 {
		t.Errorf("page: %d of %d", len(list.Codes), list.Total)
	}
	for _, q := range []string{"?limit=0", "?limit=201", "?offset=-1", "?limit=a"} {
		wantError(t, e.Get("/api/admin/access-codes"+q, adminTok), http.StatusBadRequest, "BAD_REQUEST")
	}
}

// TestAccessCodeRedeem: case-insensitive and trimmed; already-has-access is
// not consumed; exhausted, revoked, expired and unknown codes.
func TestAccessCodeRedeem(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	adminTok := acAdmin(t, e, "root@example.com")
	codes := acCreate(t, e, adminTok, map[string]any{"count": 4})
	single, spare, revoked, expired := codes[0], codes[1], codes[2], codes[3]

	ada := signUp(t, e, "ada@example.com")
	u := decodeMe(t, acRedeem(e, ada.Token, "  "+strings.ToLower(single.Code)+"\n\t"))
	if !u.HasProductAccess || u.AccessStatus != "active" || u.ActivatedAt == nil {
		t.Errorf("after redeeming: %+v", u)
	}
	if n := acCount(t, e, single.ID); n != 1 {
		t.Errorf("redemption_count = %d, want 1", n)
	}
	if n := scalar[int](t, e, `SELECT count(*) FROM access_code_redemptions WHERE access_code_id = $1 AND user_id = $2`,
		single.ID, u.ID); n != 1 {
		t.Errorf("%d redemption rows", n)
	}

	// Already has access (by a code, or as a founder): 200, not consumed.
	wantStatus(t, acRedeem(e, ada.Token, spare.Code), http.StatusOK)
	founder := signUp(t, e, "founder@example.com")
	if _, err := e.Store.AdministerUser(context.Background(), store.GrantFounder, store.ByEmail("founder@example.com")); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, acRedeem(e, founder.Token, spare.Code), http.StatusOK)
	if n := acCount(t, e, spare.ID); n != 0 {
		t.Errorf("spare redemption_count = %d, want 0", n)
	}

	bob := signUp(t, e, "bob@example.com")
	wantError(t, acRedeem(e, bob.Token, single.Code), http.StatusConflict, "ACCESS_CODE_EXHAUSTED")

	r := e.Do(apitest.Request{Method: http.MethodDelete, Path: "/api/admin/access-codes/" + revoked.ID.String(), Token: adminTok})
	wantStatus(t, r, http.StatusNoContent)
	if len(r.Body) != 0 {
		t.Errorf("204 with a body %s", r.Body)
	}
	wantStatus(t, e.Do(apitest.Request{Method: http.MethodDelete, Path: "/api/admin/access-codes/" + revoked.ID.String(), Token: adminTok}),
		http.StatusNoContent)
	wantError(t, acRedeem(e, bob.Token, revoked.Code), http.StatusNotFound, "ACCESS_CODE_INVALID")
	// Revoked and exhausted: invalid wins.
	wantStatus(t, e.Do(apitest.Request{Method: http.MethodDelete, Path: "/api/admin/access-codes/" + single.ID.String(), Token: adminTok}),
		http.StatusNoContent)
	wantError(t, acRedeem(e, bob.Token, single.Code), http.StatusNotFound, "ACCESS_CODE_INVALID")

	execSQL(t, e, `UPDATE access_codes SET expires_at = now() - interval '1 second' WHERE id = $1`, expired.ID)
	wantError(t, acRedeem(e, bob.Token, expired.Code), http.StatusNotFound, "ACCESS_CODE_INVALID")
	wantError(t, acRedeem(e, bob.Token, "PRAXIOM-ZZZZZZ"), http.StatusNotFound, "ACCESS_CODE_INVALID")
	wantError(t, acRedeem(e, bob.Token, strings.Repeat("A", 5000)), http.StatusNotFound, "ACCESS_CODE_INVALID")
	if n := acCount(t, e, revoked.ID) + acCount(t, e, expired.ID); n != 0 {
		t.Errorf("refused redemptions consumed %d", n)
	}
	if has := scalar[bool](t, e, `SELECT has_product_access FROM users WHERE id = $1`, bob.ID); has {
		t.Error("refused redemptions granted access")
	}

	// Missing or blank: 422 naming code.
	for _, body := range []any{map[string]any{}, map[string]any{"code": ""}, map[string]any{"code": "  "},
		map[string]any{"code": nil}, map[string]any{"code": 5}} {
		r := e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/access-codes/redeem", Token: bob.Token, Body: body})
		wantFields(t, r, "code")
	}
	r = e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/access-codes/redeem", Token: bob.Token,
		Body: map[string]any{"code": spare.Code, "extra": 1}})
	wantError(t, r, http.StatusUnprocessableEntity, "VALIDATION_ERROR")

	// Admin revoke: unknown id 404, malformed 400.
	wantError(t, e.Do(apitest.Request{Method: http.MethodDelete, Path: "/api/admin/access-codes/" + uuid.NewString(), Token: adminTok}),
		http.StatusNotFound, "NOT_FOUND")
	wantError(t, e.Do(apitest.Request{Method: http.MethodDelete, Path: "/api/admin/access-codes/xyz", Token: adminTok}),
		http.StatusBadRequest, "BAD_REQUEST")

	// A suspended user cannot redeem; nobody without a token either.
	carol := signUp(t, e, "carol@example.com")
	if _, err := e.Store.AdministerUser(context.Background(), store.Suspend, store.ByEmail("carol@example.com")); err != nil {
		t.Fatal(err)
	}
	wantError(t, acRedeem(e, carol.Token, spare.Code), http.StatusForbidden, "ACCOUNT_SUSPENDED")
	wantError(t, acRedeem(e, "", spare.Code), http.StatusUnauthorized, "UNAUTHORIZED")
	if n := acCount(t, e, spare.ID); n != 0 {
		t.Errorf("spare redemption_count = %d, want 0", n)
	}
	wantStatus(t, acRedeem(e, bob.Token, spare.Code), http.StatusOK)
}

// TestAccessCodeLastRedemptionRace: ten users race for the last redemption:
// exactly one 200, nine 409 ACCESS_CODE_EXHAUSTED.
func TestAccessCodeLastRedemptionRace(t *testing.T) {
	e := apitest.New(t, apitest.Options{Store: store.Options{MaxConns: 16}})
	adminTok := acAdmin(t, e, "root@example.com")
	for round := range 3 {
		code := acCreate(t, e, adminTok, map[string]any{"count": 1, "max_redemptions": 5})[0]
		execSQL(t, e, `UPDATE access_codes SET redemption_count = 4 WHERE id = $1`, code.ID)
		toks := make([]string, 10)
		for i := range toks {
			toks[i] = signUp(t, e, fmt.Sprintf("racer%d-%d@example.com", round, i)).Token
		}
		answers := apitest.Race(len(toks), func(i int) *apitest.Response { return acRedeem(e, toks[i], code.Code) })
		byOutcome := map[string]int{}
		for _, a := range answers {
			byOutcome[fmt.Sprintf("%d %s", a.Status, a.Code())]++
		}
		if !maps.Equal(byOutcome, map[string]int{"200 ": 1, "409 ACCESS_CODE_EXHAUSTED": 9}) {
			t.Fatalf("round %d: outcomes %v", round, byOutcome)
		}
		if n := acCount(t, e, code.ID); n != 5 {
			t.Fatalf("round %d: redemption_count %d, want 5", round, n)
		}
		if n := scalar[int](t, e, `SELECT count(*) FROM users WHERE email LIKE $1 AND has_product_access`,
			fmt.Sprintf("racer%d-%%", round)); n != 1 {
			t.Fatalf("round %d: %d users gained access", round, n)
		}
	}
}

// TestAccessCodeGuessingIsBounded: at most 10 failed redemptions per user
// and 30 per client address an hour (429 with Retry-After, even for a good
// code), shared by the instances through Redis; successes spend nothing.
func TestAccessCodeGuessingIsBounded(t *testing.T) {
	srv := redistest.Start(t)
	failures := func() ratelimit.Budget { return ratelimit.NewRedis(srv.Client(t), nil) }
	a := apitest.New(t, apitest.Options{RateLimits: httpapi.RateLimits{Failures: failures()}})
	b := apitest.NewOn(t, a, apitest.Options{RateLimits: httpapi.RateLimits{Failures: failures()}})
	codes, err := a.Store.CreateAccessCodes(context.Background(), store.CLIActor, store.NewAccessCodes{Count: 2, MaxRedemptions: 100})
	if err != nil {
		t.Fatal(err)
	}
	redeem := func(e *apitest.Env, tok, code, addr string) *apitest.Response {
		return e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/access-codes/redeem", Token: tok,
			Body: map[string]any{"code": code}, RemoteAddr: addr})
	}
	guesser := signUp(t, a, "guesser")
	for i := range 10 { // through both instances
		e := []*apitest.Env{a, b}[i%2]
		wantError(t, redeem(e, guesser.Token, fmt.Sprintf("PRAXIOM-ZZZZ%02d", i), "198.51.100.1:1"), http.StatusNotFound, "ACCESS_CODE_INVALID")
	}
	r := redeem(b, guesser.Token, codes[0].Code, "198.51.100.2:1") // a good code, another address
	wantError(t, r, http.StatusTooManyRequests, "RATE_LIMITED")
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 60 || ra > 3600 {
		t.Fatalf("Retry-After = %q, want minutes", r.Header.Get("Retry-After"))
	}
	if scalar[bool](t, a, `SELECT has_product_access FROM users WHERE id = $1`, guesser.ID) {
		t.Fatal("the refused redemption granted access")
	}

	// Per address: 30 failures from one address across many users.
	for i := range 30 {
		u := signUp(t, a, fmt.Sprintf("crowd%d", i))
		wantError(t, redeem(a, u.Token, "PRAXIOM-YYYYYY", "[2001:db8:7::1]:1"), http.StatusNotFound, "ACCESS_CODE_INVALID")
	}
	fresh := signUp(t, a, "fresh")
	wantError(t, redeem(b, fresh.Token, codes[1].Code, "[2001:db8:7::ffff]:2"), http.StatusTooManyRequests, "RATE_LIMITED") // same /64
	wantStatus(t, redeem(b, fresh.Token, codes[1].Code, "203.0.113.9:1"), http.StatusOK)

	// Successes spend nothing: one user redeeming (or already holding
	// access) as often as they like.
	for range 12 {
		wantStatus(t, redeem(a, fresh.Token, codes[1].Code, "203.0.113.10:1"), http.StatusOK)
	}
}
