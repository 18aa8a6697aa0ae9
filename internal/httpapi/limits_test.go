package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/clocktest"
	"github.com/praxiom/praxiom-api/internal/httpapi"
	"github.com/praxiom/praxiom-api/internal/ratelimit"
	"github.com/praxiom/praxiom-api/internal/redistest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// Rate limits (api/openapi.yaml, "Conventions" and the RateLimited response;
// README, "Operations"): per user per minute by the best plan of the
// user's workspaces, per client IP on the invitation look-up, shared through
// Redis across instances.

// newRLClock returns a frozen clock the test moves by hand, so that a
// budget never straddles a real minute. It starts 80 s ahead of the real
// time, in the middle of a minute, so X-RateLimit-Reset is in the future by
// either clock.
func newRLClock() *clocktest.Clock {
	return clocktest.New(time.Now().Truncate(time.Minute).Add(time.Minute + 20*time.Second))
}

// rlEnv starts the API with the local limiter on clk and limits.
func rlEnv(t *testing.T, clk *clocktest.Clock, limits httpapi.RateLimits) *apitest.Env {
	t.Helper()
	if limits.Limiter == nil {
		limits.Limiter = ratelimit.NewLocal(clk.Now)
	}
	return apitest.New(t, apitest.Options{PLGGatingOff: true, RateLimits: limits})
}

// rlUser creates the user of email in the store directly, so that no request
// touches its budget, and returns its token and id.
func rlUser(t *testing.T, e *apitest.Env, email string) (string, uuid.UUID) {
	t.Helper()
	return e.Token(email), apitest.NewUser(t, e.Store, email, store.NewUserPolicy{Active: true}).ID
}

// rlJoin makes userID a member of a new workspace whose subscription has
// plan and status (set with UPDATE subscriptions, as billing would).
func rlJoin(t *testing.T, e *apitest.Env, userID uuid.UUID, plan, status string) uuid.UUID {
	t.Helper()
	ws := apitest.InsertWorkspace(t, e.Store, "RL "+plan, userID)
	execSQL(t, e, `UPDATE subscriptions SET plan = $2, status = $3 WHERE workspace_id = $1`, ws, plan, status)
	return ws
}

// rlHeaders are the X-RateLimit-* headers of one response.
type rlHeaders struct {
	Limit, Remaining int
	Reset            int64
}

// rlParse reads the X-RateLimit-* headers, failing when one is missing or
// not a non-negative integer.
func rlParse(t *testing.T, r *apitest.Response) rlHeaders {
	t.Helper()
	num := func(name string) int64 {
		t.Helper()
		vs := r.Header.Values(name)
		if len(vs) != 1 {
			t.Fatalf("%s = %q on a %d response, want exactly one value", name, vs, r.Status)
		}
		n, err := strconv.ParseInt(vs[0], 10, 64)
		if err != nil || n < 0 {
			t.Fatalf("%s = %q, want a non-negative integer", name, vs[0])
		}
		return n
	}
	return rlHeaders{Limit: int(num("X-RateLimit-Limit")), Remaining: int(num("X-RateLimit-Remaining")), Reset: num("X-RateLimit-Reset")}
}

// rlNoHeaders fails when r carries any rate-limit header.
func rlNoHeaders(t *testing.T, r *apitest.Response) {
	t.Helper()
	for _, h := range []string{"X-RateLimit-Limit", "X-RateLimit-Remaining", "X-RateLimit-Reset", "Retry-After"} {
		if v := r.Header.Values(h); len(v) > 0 {
			t.Errorf("%d response carries %s: %q; want none", r.Status, h, v)
		}
	}
}

// rlRetryAfter checks a 429 RATE_LIMITED envelope and returns Retry-After
// (whole seconds, at least 1).
func rlRetryAfter(t *testing.T, r *apitest.Response) int {
	t.Helper()
	wantError(t, r, http.StatusTooManyRequests, "RATE_LIMITED")
	vs := r.Header.Values("Retry-After")
	if len(vs) != 1 {
		t.Fatalf("Retry-After = %q, want one value", vs)
	}
	n, err := strconv.Atoi(vs[0])
	if err != nil || n < 1 {
		t.Fatalf("Retry-After = %q, want an integer number of seconds >= 1", vs[0])
	}
	return n
}

// rlExpectBudget sends limit requests that must all succeed, with
// X-RateLimit-Limit = limit and X-RateLimit-Remaining counting down to 0,
// then one more that must be refused. It returns Retry-After.
func rlExpectBudget(t *testing.T, e *apitest.Env, clk *clocktest.Clock, tok string, limit int) int {
	t.Helper()
	for i := 1; i <= limit; i++ {
		r := e.Get("/api/auth/me", tok)
		if r.Status != http.StatusOK {
			t.Fatalf("request %d of %d: status %d, want 200: %s", i, limit, r.Status, r.Body)
		}
		h := rlParse(t, r)
		if h.Limit != limit || h.Remaining != limit-i {
			t.Fatalf("request %d: X-RateLimit-Limit %d, -Remaining %d; want %d, %d", i, h.Limit, h.Remaining, limit, limit-i)
		}
		rlResetInFuture(t, h, clk)
	}
	r := e.Get("/api/auth/me", tok)
	retry := rlRetryAfter(t, r)
	h := rlParse(t, r)
	if h.Limit != limit || h.Remaining != 0 {
		t.Fatalf("refused request: X-RateLimit-Limit %d, -Remaining %d; want %d, 0", h.Limit, h.Remaining, limit)
	}
	rlResetInFuture(t, h, clk)
	if clk != nil && h.Reset < clk.Now().Unix()+int64(retry) {
		t.Fatalf("refused request: X-RateLimit-Reset %d is before Retry-After (%d s from %d)", h.Reset, retry, clk.Now().Unix())
	}
	if retry > 2*60 {
		t.Fatalf("Retry-After = %d s, more than the two minutes a sliding minute can need", retry)
	}
	return retry
}

// rlResetInFuture: X-RateLimit-Reset is unix seconds after now (by the
// limiter's clock and the real one) and within two minutes.
func rlResetInFuture(t *testing.T, h rlHeaders, clk *clocktest.Clock) {
	t.Helper()
	now := time.Now()
	if clk != nil {
		now = clk.Now()
	}
	if h.Reset <= now.Unix() || h.Reset <= time.Now().Unix() || h.Reset > now.Add(2*time.Minute).Unix() {
		t.Fatalf("X-RateLimit-Reset = %d, want unix seconds in (%d, %d]", h.Reset, now.Unix(), now.Add(2*time.Minute).Unix())
	}
}

func TestRateLimitPlanBoundaries(t *testing.T) {
	clk := newRLClock()
	e := rlEnv(t, clk, httpapi.RateLimits{PerPlan: map[string]int{"trial": 30, "pro": 120, "growth": 300, "power": 600}})
	for _, tc := range []struct {
		plan  string
		limit int
	}{{"trial", 30}, {"pro", 120}, {"growth", 300}, {"power", 600}} {
		t.Run(tc.plan, func(t *testing.T) {
			tok, id := rlUser(t, e, tc.plan+"-boundary@example.com")
			rlJoin(t, e, id, tc.plan, "active")
			retry := rlExpectBudget(t, e, clk, tok, tc.limit)
			// Refused again while over, and another user is unaffected.
			rlRetryAfter(t, e.Get("/api/auth/me", tok))
			other, _ := rlUser(t, e, tc.plan+"-bystander@example.com")
			if r := e.Get("/api/auth/me", other); r.Status != http.StatusOK || rlParse(t, r).Remaining != 29 {
				t.Fatalf("another (trial) user: %d %v; want 200 with 29 left", r.Status, r.Header)
			}
			// Retry-After is honest: a second earlier is still too early,
			// at Retry-After one more request fits.
			clk.Advance(time.Duration(retry-1) * time.Second)
			rlRetryAfter(t, e.Get("/api/auth/me", tok))
			clk.Advance(time.Second)
			if r := e.Get("/api/auth/me", tok); r.Status != http.StatusOK {
				t.Fatalf("after waiting Retry-After (%d s): status %d: %s", retry, r.Status, r.Body)
			}
			// Two minutes on, the whole budget is back.
			clk.Advance(2 * time.Minute)
			if r := e.Get("/api/auth/me", tok); r.Status != http.StatusOK || rlParse(t, r).Remaining != tc.limit-1 {
				t.Fatalf("two minutes later: %d, headers %v; want 200 with %d left", r.Status, r.Header, tc.limit-1)
			}
		})
	}
	t.Run("no workspace is trial", func(t *testing.T) {
		tok, _ := rlUser(t, e, "loner@example.com")
		rlExpectBudget(t, e, clk, tok, 30)
	})
	t.Run("provisioned on first request", func(t *testing.T) {
		// A user created by its first request (no plan read yet) is trial,
		// and that first request counts.
		tok := e.Token("fresh-rl@example.com")
		r := e.Get("/api/auth/me", tok)
		if r.Status != http.StatusOK {
			t.Fatalf("first request: %d %s", r.Status, r.Body)
		}
		if h := rlParse(t, r); h.Limit != 30 || h.Remaining != 29 {
			t.Fatalf("first request: %+v, want limit 30, 29 left", h)
		}
	})
}

func TestRateLimitPlanResolution(t *testing.T) {
	clk := newRLClock()
	e := rlEnv(t, clk, httpapi.RateLimits{PerPlan: map[string]int{"trial": 30, "pro": 120, "growth": 300, "power": 600}})
	limitOf := func(t *testing.T, tok string) int {
		t.Helper()
		r := e.Get("/api/auth/me", tok)
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		return rlParse(t, r).Limit
	}
	cases := []struct {
		name  string
		subs  [][2]string // plan, status of each workspace the user is in
		limit int
	}{
		{"no workspace", nil, 30},
		{"trial workspace", [][2]string{{"trial", "trialing"}}, 30},
		{"best of two", [][2]string{{"pro", "active"}, {"power", "active"}}, 600},
		{"best of three, in any order", [][2]string{{"growth", "active"}, {"trial", "trialing"}, {"pro", "active"}}, 300},
		{"canceled does not count", [][2]string{{"pro", "active"}, {"power", "canceled"}}, 120},
		{"only canceled is trial", [][2]string{{"growth", "canceled"}}, 30},
		{"past due still counts", [][2]string{{"growth", "past_due"}}, 300},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tok, id := rlUser(t, e, fmt.Sprintf("resolve%d@example.com", i))
			for _, s := range tc.subs {
				rlJoin(t, e, id, s[0], s[1])
			}
			if got := limitOf(t, tok); got != tc.limit {
				t.Fatalf("X-RateLimit-Limit = %d, want %d", got, tc.limit)
			}
		})
	}
	t.Run("plan changes apply on the next request", func(t *testing.T) {
		tok, id := rlUser(t, e, "upgrade@example.com")
		ws := rlJoin(t, e, id, "trial", "trialing")
		if got := limitOf(t, tok); got != 30 {
			t.Fatalf("trial: limit %d", got)
		}
		execSQL(t, e, `UPDATE subscriptions SET plan = 'growth', status = 'active' WHERE workspace_id = $1`, ws)
		if got := limitOf(t, tok); got != 300 {
			t.Fatalf("after the upgrade: limit %d, want 300", got)
		}
		// The workspace routes read the plan with the membership (another
		// query): the same limit.
		r := e.Get("/api/workspaces/"+ws.String(), tok)
		if r.Status != http.StatusOK || rlParse(t, r).Limit != 300 {
			t.Fatalf("GET workspace: %d, headers %v; want 200 with limit 300", r.Status, r.Header)
		}
		execSQL(t, e, `UPDATE subscriptions SET status = 'canceled' WHERE workspace_id = $1`, ws)
		if got := limitOf(t, tok); got != 30 {
			t.Fatalf("after cancellation: limit %d, want 30", got)
		}
		execSQL(t, e, `UPDATE subscriptions SET status = 'active' WHERE workspace_id = $1`, ws)
		execSQL(t, e, `DELETE FROM workspace_members WHERE user_id = $1`, id)
		if got := limitOf(t, tok); got != 30 {
			t.Fatalf("after leaving: limit %d, want 30", got)
		}
	})
}

func TestRateLimitOverrides(t *testing.T) {
	t.Run("every plan", func(t *testing.T) {
		clk := newRLClock()
		e := rlEnv(t, clk, httpapi.RateLimits{PerPlan: map[string]int{"trial": 3, "pro": 5, "growth": 7, "power": 9}})
		for _, tc := range []struct {
			plan  string
			limit int
		}{{"trial", 3}, {"pro", 5}, {"growth", 7}, {"power", 9}} {
			tok, id := rlUser(t, e, "override-"+tc.plan+"@example.com")
			rlJoin(t, e, id, tc.plan, "active")
			rlExpectBudget(t, e, clk, tok, tc.limit)
		}
	})
	t.Run("one plan keeps the others at their defaults", func(t *testing.T) {
		clk := newRLClock()
		e := rlEnv(t, clk, httpapi.RateLimits{PerPlan: map[string]int{"pro": 4}})
		tok, id := rlUser(t, e, "partial-pro@example.com")
		rlJoin(t, e, id, "pro", "active")
		rlExpectBudget(t, e, clk, tok, 4)
		for plan, want := range httpapi.DefaultPerPlan {
			if plan == "pro" {
				continue
			}
			tok, id := rlUser(t, e, "partial-"+plan+"@example.com")
			rlJoin(t, e, id, plan, "active")
			r := e.Get("/api/auth/me", tok)
			if r.Status != http.StatusOK || rlParse(t, r).Limit != want {
				t.Fatalf("%s: %d, headers %v; want 200 with the default limit %d", plan, r.Status, r.Header, want)
			}
		}
		if httpapi.DefaultPerPlan["trial"] != 30 || httpapi.DefaultPerPlan["pro"] != 120 ||
			httpapi.DefaultPerPlan["growth"] != 300 || httpapi.DefaultPerPlan["power"] != 600 || httpapi.DefaultPerIP <= 0 {
			t.Fatalf("defaults %v / %d differ from api/openapi.yaml's RateLimited response", httpapi.DefaultPerPlan, httpapi.DefaultPerIP)
		}
	})
}

// TestRateLimitHeadersOnEveryAuthenticatedResponse: whatever the status,
// an authenticated response carries the headers and counts against the
// budget; responses without a user carry none.
func TestRateLimitHeadersOnEveryAuthenticatedResponse(t *testing.T) {
	clk := newRLClock()
	e := rlEnv(t, clk, httpapi.RateLimits{PerPlan: map[string]int{"trial": 100}})
	tok, id := rlUser(t, e, "headers@example.com")
	ws := rlJoin(t, e, id, "trial", "trialing")
	suspTok, _ := rlUser(t, e, "headers-suspended@example.com")
	if _, err := e.Store.AdministerUser(context.Background(), store.Suspend, store.ByEmail("headers-suspended@example.com")); err != nil {
		t.Fatal(err)
	}
	requests := []struct {
		req    apitest.Request
		status int
	}{
		{apitest.Request{Method: http.MethodGet, Path: "/api/auth/me"}, 200},
		{apitest.Request{Method: http.MethodGet, Path: "/api/workspaces"}, 200},
		{apitest.Request{Method: http.MethodGet, Path: "/api/workspaces/" + ws.String()}, 200},
		{apitest.Request{Method: http.MethodPost, Path: "/api/workspaces", Body: map[string]any{"name": "RL"}}, 201},
		{apitest.Request{Method: http.MethodGet, Path: "/api/workspaces/" + uuid.NewString()}, 403},
		{apitest.Request{Method: http.MethodGet, Path: "/api/workspaces/not-a-uuid"}, 400},
		{apitest.Request{Method: http.MethodGet, Path: "/api/admin/access-codes"}, 403},
		{apitest.Request{Method: http.MethodGet, Path: "/api/no-such-route"}, 404},
		{apitest.Request{Method: http.MethodPut, Path: "/api/auth/me"}, 405},
		{apitest.Request{Method: http.MethodPost, Path: "/api/workspaces", Body: "name=x", Header: http.Header{"Content-Type": {"text/plain"}}}, 415},
		{apitest.Request{Method: http.MethodPost, Path: "/api/workspaces", Body: map[string]any{"name": ""}}, 422},
		{apitest.Request{Method: http.MethodPost, Path: "/api/invitations/" + uuid.NewString() + "/accept"}, 404},
	}
	remaining := 100
	for _, tc := range requests {
		req := tc.req
		req.Token = tok
		r := e.Do(req)
		if r.Status != tc.status {
			t.Fatalf("%s %s: status %d, want %d: %s", req.Method, req.Path, r.Status, tc.status, r.Body)
		}
		remaining--
		if h := rlParse(t, r); h.Limit != 100 || h.Remaining != remaining {
			t.Fatalf("%s %s (%d): headers %+v, want limit 100 and %d left", req.Method, req.Path, r.Status, h, remaining)
		}
	}
	// A suspended user: 200 on /api/auth/me, 403 ACCOUNT_SUSPENDED elsewhere,
	// both limited.
	r := e.Get("/api/auth/me", suspTok)
	if r.Status != http.StatusOK || rlParse(t, r).Remaining != 99 {
		t.Fatalf("suspended /api/auth/me: %d %v", r.Status, r.Header)
	}
	r = e.Get("/api/workspaces", suspTok)
	wantError(t, r, http.StatusForbidden, "ACCOUNT_SUSPENDED")
	if h := rlParse(t, r); h.Remaining != 98 {
		t.Fatalf("suspended 403: %+v, want 98 left", h)
	}
	// No user, no per-user headers.
	for _, req := range []apitest.Request{
		{Method: http.MethodGet, Path: "/api/auth/me"},
		{Method: http.MethodGet, Path: "/api/auth/me", Token: "not.a.token"},
		{Method: http.MethodGet, Path: "/healthz"},
		{Method: http.MethodGet, Path: "/readyz"},
		{Method: http.MethodGet, Path: "/no-such-route"},
	} {
		rlNoHeaders(t, e.Do(req))
	}
}

// TestRateLimitEveryAuthenticatedRouteIsLimited: with a budget of one, the
// second request answers 429 on every authenticated route (the limit sits
// before routing, membership and the handlers).
func TestRateLimitEveryAuthenticatedRouteIsLimited(t *testing.T) {
	clk := newRLClock()
	e := rlEnv(t, clk, httpapi.RateLimits{PerPlan: map[string]int{"trial": 1}})
	tok, id := rlUser(t, e, "everyroute@example.com")
	execSQL(t, e, `UPDATE users SET is_admin = true WHERE id = $1`, id)
	ws := rlJoin(t, e, id, "trial", "trialing").String()
	if r := e.Get("/api/auth/me", tok); r.Status != http.StatusOK {
		t.Fatalf("first request: %d %s", r.Status, r.Body)
	}
	some := uuid.NewString()
	routes := []apitest.Request{
		{Method: http.MethodGet, Path: "/api/auth/me"},
		{Method: http.MethodPost, Path: "/api/access-codes/redeem", Body: map[string]any{"code": "PRAXIOM-AAAAAA"}},
		{Method: http.MethodPost, Path: "/api/invitations/" + some + "/accept"},
		{Method: http.MethodPost, Path: "/api/admin/access-codes", Body: map[string]any{"count": 1}},
		{Method: http.MethodGet, Path: "/api/admin/access-codes"},
		{Method: http.MethodDelete, Path: "/api/admin/access-codes/" + some},
		{Method: http.MethodGet, Path: "/api/admin/waitlist"},
		{Method: http.MethodPost, Path: "/api/admin/waitlist/approve", Body: map[string]any{"waitlist_entry_ids": []string{some}}},
		{Method: http.MethodPost, Path: "/api/workspaces", Body: map[string]any{"name": "X"}},
		{Method: http.MethodGet, Path: "/api/workspaces"},
		{Method: http.MethodGet, Path: "/api/workspaces/" + ws},
		{Method: http.MethodPatch, Path: "/api/workspaces/" + ws, Body: map[string]any{"name": "Y"}},
		{Method: http.MethodDelete, Path: "/api/workspaces/" + ws},
		{Method: http.MethodGet, Path: "/api/workspaces/" + ws + "/settings"},
		{Method: http.MethodPatch, Path: "/api/workspaces/" + ws + "/settings", Body: map[string]any{"morning_digest_enabled": true}},
		{Method: http.MethodGet, Path: "/api/workspaces/" + ws + "/members"},
		{Method: http.MethodPatch, Path: "/api/workspaces/" + ws + "/members/" + id.String(), Body: map[string]any{"role": "admin"}},
		{Method: http.MethodDelete, Path: "/api/workspaces/" + ws + "/members/" + id.String()},
		{Method: http.MethodPost, Path: "/api/workspaces/" + ws + "/invitations", Body: map[string]any{"email": "x@example.com", "role": "member"}},
		{Method: http.MethodGet, Path: "/api/workspaces/" + ws + "/invitations"},
		{Method: http.MethodDelete, Path: "/api/workspaces/" + ws + "/invitations/" + some},
		{Method: http.MethodPost, Path: "/api/workspaces/" + ws + "/invitations/" + some + "/resend"},
		{Method: http.MethodGet, Path: "/api/no-such-route"},
	}
	for _, req := range routes {
		req.Token = tok
		r := e.Do(req)
		rlRetryAfter(t, r)
		if h := rlParse(t, r); h.Limit != 1 || h.Remaining != 0 {
			t.Errorf("%s %s: headers %+v", req.Method, req.Path, h)
		}
	}
	// Nothing happened behind the limit: the workspace is still there.
	if n := scalar[int](t, e, `SELECT count(*) FROM workspaces WHERE id = $1`, ws); n != 1 {
		t.Fatal("a refused DELETE went through")
	}
}

// TestRateLimitHeadersFollowTheWindow: the header values the server shares
// between responses (the plan's limit, small counts, the minute's reset)
// are never stale: X-RateLimit-Reset moves on with the window, Remaining
// counts down across the values shared and those built per response, and a
// plan change changes the limit.
func TestRateLimitHeadersFollowTheWindow(t *testing.T) {
	clk := newRLClock() // 20 s into a minute
	e := rlEnv(t, clk, httpapi.RateLimits{PerPlan: map[string]int{"trial": 1025, "pro": 120}})
	tok, id := rlUser(t, e, "window@example.com")
	other, _ := rlUser(t, e, "window-other@example.com")
	end := clk.Now().Truncate(time.Minute).Add(time.Minute).Unix()
	expect := func(t *testing.T, tok string, want rlHeaders) {
		t.Helper()
		r := e.Get("/api/auth/me", tok)
		if r.Status != http.StatusOK {
			t.Fatalf("status %d: %s", r.Status, r.Body)
		}
		if h := rlParse(t, r); h != want {
			t.Fatalf("headers %+v, want %+v", h, want)
		}
	}
	expect(t, tok, rlHeaders{Limit: 1025, Remaining: 1024, Reset: end})
	expect(t, tok, rlHeaders{Limit: 1025, Remaining: 1023, Reset: end})
	expect(t, other, rlHeaders{Limit: 1025, Remaining: 1024, Reset: end})
	// The next minute, 20 s in: two thirds of the last minute's two
	// requests still count (rounded up: 2).
	clk.Advance(time.Minute)
	expect(t, tok, rlHeaders{Limit: 1025, Remaining: 1022, Reset: end + 60})
	rlJoin(t, e, id, "pro", "active")
	expect(t, tok, rlHeaders{Limit: 120, Remaining: 116, Reset: end + 60})
	expect(t, other, rlHeaders{Limit: 1025, Remaining: 1023, Reset: end + 60})
	clk.Advance(2 * time.Minute)
	expect(t, tok, rlHeaders{Limit: 120, Remaining: 119, Reset: end + 180})
}

func TestRateLimitOffWithoutLimiter(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	tok := e.Token("unlimited@example.com")
	for i := 0; i < 40; i++ {
		r := e.Get("/api/auth/me", tok)
		if r.Status != http.StatusOK {
			t.Fatalf("request %d: %d %s", i+1, r.Status, r.Body)
		}
		rlNoHeaders(t, r)
	}
	for i := 0; i < 70; i++ {
		r := e.Do(apitest.Request{Method: http.MethodGet, Path: "/api/invitations/" + uuid.NewString()})
		if r.Status != http.StatusNotFound {
			t.Fatalf("look-up %d: %d %s", i+1, r.Status, r.Body)
		}
		rlNoHeaders(t, r)
	}
}

// rlFakeLimiter answers what the test says.
type rlFakeLimiter struct {
	res   ratelimit.Result
	err   error
	calls atomic.Int64
}

func (f *rlFakeLimiter) Allow(_ context.Context, _ string, limit int) (ratelimit.Result, error) {
	f.calls.Add(1)
	r := f.res
	r.Limit = limit
	return r, f.err
}

// TestRateLimitHeaderArithmetic: the headers round toward the caller's
// safety (Reset up to the next whole second, Retry-After at least 1), and a
// failing limiter lets requests through.
func TestRateLimitHeaderArithmetic(t *testing.T) {
	fake := &rlFakeLimiter{}
	e := apitest.New(t, apitest.Options{RateLimits: httpapi.RateLimits{Limiter: fake, PerPlan: map[string]int{"trial": 10}}})
	tok, _ := rlUser(t, e, "arith@example.com")

	reset := time.Now().Add(1500 * time.Millisecond).Truncate(time.Second).Add(300 * time.Millisecond)
	fake.res = ratelimit.Result{Allowed: true, Remaining: 7, Reset: reset}
	r := e.Get("/api/auth/me", tok)
	if h := rlParse(t, r); r.Status != 200 || h.Limit != 10 || h.Remaining != 7 || h.Reset != reset.Unix()+1 {
		t.Fatalf("%d %+v; want 200, limit 10, 7 left, reset %d (rounded up)", r.Status, h, reset.Unix()+1)
	}
	whole := reset.Truncate(time.Second)
	fake.res = ratelimit.Result{Allowed: true, Remaining: 7, Reset: whole}
	if h := rlParse(t, e.Get("/api/auth/me", tok)); h.Reset != whole.Unix() {
		t.Fatalf("reset on a whole second: %d, want %d", h.Reset, whole.Unix())
	}

	for _, ra := range []struct {
		d    time.Duration
		want int
	}{{0, 1}, {10 * time.Millisecond, 1}, {time.Second, 1}, {1001 * time.Millisecond, 2}, {59500 * time.Millisecond, 60}} {
		fake.res = ratelimit.Result{Reset: reset, RetryAfter: ra.d}
		r := e.Get("/api/auth/me", tok)
		if got := rlRetryAfter(t, r); got != ra.want {
			t.Errorf("RetryAfter %v: Retry-After %d, want %d", ra.d, got, ra.want)
		}
	}

	// A limiter failure fails open, without headers, and is logged.
	fake.err = errors.New("limiter broke")
	r = e.Get("/api/auth/me", tok)
	if r.Status != http.StatusOK {
		t.Fatalf("limiter failure: %d %s, want 200", r.Status, r.Body)
	}
	rlNoHeaders(t, r)
	if calls := fake.calls.Load(); calls != 8 {
		t.Errorf("limiter asked %d times, want 8 (once per request)", calls)
	}
}

func TestRateLimitPerIP(t *testing.T) {
	clk := newRLClock()
	e := rlEnv(t, clk, httpapi.RateLimits{PerIP: 5, TrustedProxies: []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("fd00::/8")}})
	_, owner := rlUser(t, e, "ip-owner@example.com")
	ws := apitest.InsertWorkspace(t, e.Store, "IP", owner)
	token := uniq("ipinvitetoken") + "-0123456789abcdefghijklmnopqrstuvwxyz"
	execSQL(t, e, `INSERT INTO invitations (workspace_id, invited_email, role, token, expires_at, invited_by, invited_by_name)
		VALUES ($1, 'guest@example.com', 'member', $2, now() + interval '7 days', $3, 'Owner')`, ws, token, owner)

	lookup := func(remote string, xff ...string) *apitest.Response {
		t.Helper()
		req := apitest.Request{Method: http.MethodGet, Path: "/api/invitations/" + token, RemoteAddr: remote}
		if len(xff) > 0 {
			req.Header = http.Header{"X-Forwarded-For": xff}
		}
		return e.Do(req)
	}
	// spend uses the whole budget of one client: 5 answers (200 for the
	// invitation, 404 for unknown tokens: both count), then 429.
	spend := func(t *testing.T, remote string, xff ...string) {
		t.Helper()
		for i := 1; i <= 5; i++ {
			var r *apitest.Response
			if i%2 == 0 {
				req := apitest.Request{Method: http.MethodGet, Path: "/api/invitations/unknown-" + uuid.NewString(), RemoteAddr: remote}
				if len(xff) > 0 {
					req.Header = http.Header{"X-Forwarded-For": xff}
				}
				if r = e.Do(req); r.Status != http.StatusNotFound {
					t.Fatalf("%s %v: unknown token: %d %s", remote, xff, r.Status, r.Body)
				}
			} else if r = lookup(remote, xff...); r.Status != http.StatusOK {
				t.Fatalf("%s %v: look-up %d: %d %s", remote, xff, i, r.Status, r.Body)
			}
			if h := rlParse(t, r); h.Limit != 5 || h.Remaining != 5-i {
				t.Fatalf("%s %v: look-up %d: %+v", remote, xff, i, h)
			}
			rlResetInFuture(t, rlParse(t, r), clk)
		}
		rlRetryAfter(t, lookup(remote, xff...))
	}
	refused := func(t *testing.T, r *apitest.Response) {
		t.Helper()
		rlRetryAfter(t, r)
	}
	fresh := func(t *testing.T, r *apitest.Response) {
		t.Helper()
		if r.Status != http.StatusOK || rlParse(t, r).Remaining != 4 {
			t.Fatalf("a fresh client: %d, headers %v; want 200 with 4 left", r.Status, r.Header)
		}
	}

	t.Run("direct clients", func(t *testing.T) {
		spend(t, "203.0.113.7:1111")
		refused(t, lookup("203.0.113.7:2222"))                  // another connection, same IP
		refused(t, lookup("203.0.113.7:3333", "198.51.100.99")) // XFF from an untrusted peer is ignored
		refused(t, lookup("[::ffff:203.0.113.7]:4444"))         // the same IPv4 client over a v4-mapped address
		fresh(t, lookup("203.0.113.8:1111"))                    // another IP
		fresh(t, lookup("203.0.113.9:1111", "203.0.113.7"))     // naming a limited client does not burn its budget elsewhere
		fresh(t, lookup("[2001:db8::1]:1111"))                  // IPv6
		refused(t, lookup("203.0.113.7:5555", "10.0.0.1"))      // nor can an untrusted client pose as a proxy's client
		spend(t, "[2001:db8:0:2::2]:1")                         // IPv6 budgets are per /64:
		refused(t, lookup("[2001:db8:0:2::3]:1"))               // another address of the same /64
		refused(t, lookup("[2001:db8:0:2:ffff::1]:1"))          //
		fresh(t, lookup("[2001:db8:0:3::2]:1"))                 // the next /64
	})
	t.Run("behind a trusted proxy", func(t *testing.T) {
		spend(t, "10.0.0.1:40000", "198.51.100.10")
		refused(t, lookup("10.0.0.2:40000", "198.51.100.10"))              // any trusted proxy, same client
		refused(t, lookup("10.0.0.1:40001", "1.2.3.4, 198.51.100.10"))     // a spoofed left-most hop
		refused(t, lookup("10.0.0.1:40002", "1.2.3.4", "198.51.100.10"))   // spoofed hop in its own header line
		refused(t, lookup("10.0.0.1:40003", "garbage, 198.51.100.10"))     // a malformed spoofed hop
		refused(t, lookup("10.0.0.1:40004", "198.51.100.10, 10.0.0.9"))    // two trusted hops
		refused(t, lookup("[fd00::1]:40005", "::ffff:198.51.100.10"))      // an IPv6 proxy, a v4-mapped client
		fresh(t, lookup("10.0.0.1:40006", "198.51.100.11"))                // another client of the same proxy
		fresh(t, lookup("10.0.0.1:40007", "198.51.100.10, 198.51.100.12")) // the right-most untrusted hop is the client
		fresh(t, lookup("10.0.0.1:40008"))                                 // the proxy itself, without XFF
	})
	t.Run("per-IP and per-user budgets are separate", func(t *testing.T) {
		tok, _ := rlUser(t, e, "ip-user@example.com")
		r := e.Do(apitest.Request{Method: http.MethodGet, Path: "/api/auth/me", Token: tok, RemoteAddr: "203.0.113.7:1"})
		if r.Status != http.StatusOK || rlParse(t, r).Limit != 30 {
			t.Fatalf("an authenticated request from a limited IP: %d %v", r.Status, r.Header)
		}
	})
}

// TestRateLimitSharedThroughRedis: two instances over one Redis share one
// budget; with Redis gone each falls back to its own local budget and keeps
// answering.
func TestRateLimitSharedThroughRedis(t *testing.T) {
	srv := redistest.Start(t)
	const limit = 10
	per := map[string]int{"trial": limit}
	quiet := slog.New(slog.DiscardHandler)
	l1, l2 := ratelimit.NewRedis(srv.Client(t), quiet), ratelimit.NewRedis(srv.Client(t), quiet)
	e1 := apitest.New(t, apitest.Options{RateLimits: httpapi.RateLimits{Limiter: l1, PerPlan: per}})
	e2 := apitest.NewOn(t, e1, apitest.Options{RateLimits: httpapi.RateLimits{Limiter: l2, PerPlan: per}})
	instances := []*apitest.Env{e1, e2}

	// GCRA refills one request every minute/limit: allow for that when the
	// machine is slow.
	refill := func(since time.Time) int { return int(time.Since(since) / (time.Minute / limit)) }

	t.Run("alternating", func(t *testing.T) {
		tok, _ := rlUser(t, e1, "shared@example.com")
		start := time.Now()
		ok, prev := 0, limit
		for i := 0; i < 2*limit+4; i++ {
			r := instances[i%2].Get("/api/auth/me", tok)
			h := rlParse(t, r)
			switch r.Status {
			case http.StatusOK:
				ok++
				if h.Remaining >= prev && refill(start) == 0 {
					t.Errorf("request %d (instance %d): %d left after %d; the count is not shared", i+1, i%2+1, h.Remaining, prev)
				}
				prev = h.Remaining
				rlResetInFuture(t, h, nil)
			case http.StatusTooManyRequests:
				rlRetryAfter(t, r)
			default:
				t.Fatalf("request %d: %d %s", i+1, r.Status, r.Body)
			}
		}
		if extra := refill(start); ok < limit || ok > limit+extra {
			t.Fatalf("%d requests succeeded across two instances, want %d (+%d refilled)", ok, limit, extra)
		}
		if l1.Fallbacks.Load()+l2.Fallbacks.Load() != 0 {
			t.Fatal("the limiters fell back while Redis was up")
		}
	})

	t.Run("concurrent", func(t *testing.T) {
		tok, _ := rlUser(t, e1, "shared-concurrent@example.com")
		start := time.Now()
		var ok, refused atomic.Int64
		var wg sync.WaitGroup
		for g := 0; g < 6; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := 0; i < 5; i++ {
					switch r := instances[(g+i)%2].Get("/api/auth/me", tok); r.Status {
					case http.StatusOK:
						ok.Add(1)
					case http.StatusTooManyRequests:
						refused.Add(1)
					default:
						t.Errorf("status %d: %s", r.Status, r.Body)
					}
				}
			}()
		}
		wg.Wait()
		if n, extra := int(ok.Load()), refill(start); n < limit || n > limit+extra {
			t.Fatalf("%d of 30 concurrent requests succeeded, want %d (+%d refilled)", n, limit, extra)
		}
	})

	t.Run("Redis down falls back to per-instance limits", func(t *testing.T) {
		tok, _ := rlUser(t, e1, "shared-down@example.com")
		// Spend the shared budget first: the fallback starts afresh.
		for i := 0; i < limit; i++ {
			if r := instances[i%2].Get("/api/auth/me", tok); r.Status != http.StatusOK {
				t.Fatalf("before the outage: %d %s", r.Status, r.Body)
			}
		}
		rlRetryAfter(t, e1.Get("/api/auth/me", tok))
		srv.Stop()
		for n, e := range instances {
			start := time.Now()
			ok := 0
			for i := 0; i < limit+3; i++ {
				r := e.Get("/api/auth/me", tok)
				switch r.Status {
				case http.StatusOK:
					ok++
					if h := rlParse(t, r); h.Limit != limit {
						t.Fatalf("instance %d: %+v", n+1, h)
					}
				case http.StatusTooManyRequests:
					rlRetryAfter(t, r)
					rlParse(t, r)
				default:
					t.Fatalf("instance %d, request %d with Redis down: %d %s; want 200 or 429", n+1, i+1, r.Status, r.Body)
				}
			}
			if ok != limit {
				t.Errorf("instance %d: %d requests succeeded with Redis down, want its own local %d", n+1, ok, limit)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("instance %d: %d requests took %v with Redis down; the breaker should keep them fast", n+1, limit+3, d)
			}
		}
		if l1.Fallbacks.Load() == 0 || l2.Fallbacks.Load() == 0 {
			t.Fatalf("fallbacks %d, %d; want both instances to have fallen back", l1.Fallbacks.Load(), l2.Fallbacks.Load())
		}
	})
}
