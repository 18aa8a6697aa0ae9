package httpapi

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/ratelimit"
)

// RateLimits configures the rate limits (api/openapi.yaml, "Conventions"
// and the RateLimited response). A nil Limiter turns them off
// (RATE_LIMIT_ENABLED=false).
type RateLimits struct {
	Limiter ratelimit.Limiter
	// PerPlan is requests per user per minute by plan name; a plan left
	// out (or not positive) keeps its default (DefaultPerPlan), and a plan
	// the map and the defaults do not know gets trial's limit.
	PerPlan map[string]int
	// PerIP is requests per client IP per minute on routes without a user
	// (DefaultPerIP when not positive).
	PerIP int
	// TrustedProxies may set X-Forwarded-For; nobody else is believed.
	TrustedProxies []netip.Prefix
	// Failures counts failed guesses (access-code redemptions) against
	// per-hour budgets, across instances when it is the Redis limiter; nil
	// turns the budgets off.
	Failures ratelimit.Budget
}

// The failure budgets of access-code redemption (README, "Operations"):
// failed redemptions per user and per client an hour.
var (
	redeemFailuresPerUser = ratelimit.PerHour(10)
	redeemFailuresPerIP   = ratelimit.PerHour(30)
)

// DefaultPerPlan are the per-user limits by plan.
var DefaultPerPlan = map[string]int{"trial": 30, "pro": 120, "growth": 300, "power": 600}

// DefaultPerIP is the per-IP limit on routes without a user.
const DefaultPerIP = 60

// planLimit is the per-minute limit of plan.
func (l RateLimits) planLimit(plan string) int {
	if n := l.PerPlan[plan]; n > 0 {
		return n
	}
	if n, ok := DefaultPerPlan[plan]; ok {
		return n
	}
	if n := l.PerPlan["trial"]; n > 0 {
		return n
	}
	return DefaultPerPlan["trial"]
}

// ipLimit is the per-minute limit per client IP.
func (l RateLimits) ipLimit() int {
	if l.PerIP > 0 {
		return l.PerIP
	}
	return DefaultPerIP
}

// limitValue is a per-minute limit with its X-RateLimit-Limit value, built
// once and shared by every response under that limit. Nothing may modify
// hdr: handlers only set or delete header keys (Header().Set and Del
// replace a value slice, and Add appends to a slice whose capacity is its
// length, so it copies).
type limitValue struct {
	n   int
	hdr []string
}

func newLimitValue(n int) *limitValue {
	return &limitValue{n: n, hdr: []string{strconv.Itoa(n)}}
}

// limitValues are the limits of RateLimits, resolved once when the server
// is built: per plan (every plan PerPlan or DefaultPerPlan names), for any
// other plan (trial's), and per client IP.
type limitValues struct {
	perPlan   map[string]*limitValue
	otherPlan *limitValue
	perIP     *limitValue
}

func (l RateLimits) resolve() limitValues {
	v := limitValues{perPlan: map[string]*limitValue{}, otherPlan: newLimitValue(l.planLimit("")),
		perIP: newLimitValue(l.ipLimit())}
	for _, plans := range []map[string]int{DefaultPerPlan, l.PerPlan} {
		for plan := range plans {
			v.perPlan[plan] = newLimitValue(l.planLimit(plan))
		}
	}
	return v
}

// plan is plan's limit (planLimit's).
func (v limitValues) plan(plan string) *limitValue {
	if lv := v.perPlan[plan]; lv != nil {
		return lv
	}
	return v.otherPlan
}

// smallCounts are the header values of 0 to 1023, shared by every
// response: X-RateLimit-Remaining under the default plans is one of them.
var smallCounts = func() []string {
	v := make([]string, 1024)
	for i := range v {
		v[i] = strconv.Itoa(i)
	}
	return v
}()

// countValue is the header value of n: a shared one (capacity 1, never
// modified) for 0 to 1023, else n's decimal in own, the request's slot for
// it.
func countValue(n int, own *[1]string) []string {
	if uint(n) < uint(len(smallCounts)) {
		return smallCounts[n : n+1 : n+1]
	}
	own[0] = strconv.Itoa(n)
	return own[:]
}

// resetValue is an X-RateLimit-Reset value: the in-memory limiter gives
// every request of a minute the same one, so the server keeps the last one
// it built and shares it while it lasts.
type resetValue struct {
	unix int64
	hdr  [1]string
}

// resetHeader is the header value of unix (seconds).
func (s *Server) resetHeader(unix int64) []string {
	if v := s.lastReset.Load(); v != nil && v.unix == unix {
		return v.hdr[:]
	}
	v := &resetValue{unix: unix, hdr: [1]string{strconv.FormatInt(unix, 10)}}
	s.lastReset.Store(v)
	return v.hdr[:]
}

// limitPrincipal applies the principal's limit: a user's by the best plan
// of their workspaces, an API key's (counted per key) by its workspace's
// plan. It sits right behind the principal's loading, so every
// authenticated response carries the X-RateLimit-* headers.
func (s *Server) limitPrincipal(next http.Handler) http.Handler {
	if s.limits.Limiter == nil {
		return next
	}
	return h(func(w http.ResponseWriter, r *http.Request) error {
		st := state(r)
		var plan string
		if st.key != nil {
			plan = st.keyWS.LimitPlan()
		} else {
			plan = st.caller.Plan
		}
		if err := s.applyLimit(w, r, principalKey(st), s.limitValues.plan(plan), "user"); err != nil {
			return err
		}
		next.ServeHTTP(w, r)
		return nil
	})
}

// limitIP applies the per-IP limit on routes without a credential.
func (s *Server) limitIP(next http.Handler) http.Handler {
	if s.limits.Limiter == nil {
		return next
	}
	return h(func(w http.ResponseWriter, r *http.Request) error {
		if err := s.applyLimit(w, r, "ip:"+clientKey(r, s.limits.TrustedProxies), s.limitValues.perIP, "ip"); err != nil {
			return err
		}
		next.ServeHTTP(w, r)
		return nil
	})
}

// applyLimit counts the request under limit and sets the headers; over the
// limit it sets Retry-After and returns RATE_LIMITED. A limiter failure
// lets the request through (the Redis limiter already falls back to local
// limits; this is the last resort).
func (s *Server) applyLimit(w http.ResponseWriter, r *http.Request, key string, limit *limitValue, scope string) error {
	res, err := s.limits.Limiter.Allow(r.Context(), key, limit.n)
	if err != nil {
		logger(r).Warn("rate limiter failed; request allowed", "error", err.Error())
		return nil
	}
	// Canonical keys, set directly: no canonicalizing copy per request.
	// The values are shared between responses where they can be.
	hdr := w.Header()
	if res.Limit == limit.n {
		hdr["X-Ratelimit-Limit"] = limit.hdr
	} else {
		hdr["X-Ratelimit-Limit"] = []string{strconv.Itoa(res.Limit)}
	}
	hdr["X-Ratelimit-Remaining"] = countValue(res.Remaining, &state(r).remaining)
	// Unix seconds, rounded up: never a second that has already begun.
	reset := res.Reset.Unix()
	if res.Reset.Nanosecond() != 0 {
		reset++
	}
	hdr["X-Ratelimit-Reset"] = s.resetHeader(reset)
	if res.Allowed {
		return nil
	}
	if s.metrics != nil {
		s.metrics.RateLimited(scope)
	}
	return apperr.RetryLater(apperr.RateLimited, "Too many requests", res.RetryAfter)
}

// failureBudgets are the failure budgets a request draws on: its user's
// and its client's.
func (s *Server) failureBudgets(r *http.Request) []failureBudget {
	return []failureBudget{
		{"fail:redeem:user:" + currentUser(r).ID.String(), redeemFailuresPerUser},
		{"fail:redeem:ip:" + clientKey(r, s.limits.TrustedProxies), redeemFailuresPerIP},
	}
}

type failureBudget struct {
	key   string
	limit ratelimit.Limit
}

// checkFailures returns RATE_LIMITED, with Retry-After, when any of the
// budgets is spent. A limiter failure lets the request through.
func (s *Server) checkFailures(w http.ResponseWriter, r *http.Request, budgets []failureBudget) error {
	if s.limits.Failures == nil {
		return nil
	}
	for _, b := range budgets {
		res, err := s.limits.Failures.Peek(r.Context(), b.key, b.limit)
		if err != nil {
			logger(r).Warn("failure budget: peek failed; request allowed", "error", err.Error())
			continue
		}
		if !res.Allowed {
			if s.metrics != nil {
				s.metrics.RateLimited("failures")
			}
			return apperr.RetryLater(apperr.RateLimited, "Too many failed attempts", res.RetryAfter)
		}
	}
	return nil
}

// spendFailure counts a failed attempt against every budget.
func (s *Server) spendFailure(r *http.Request, budgets []failureBudget) {
	if s.limits.Failures == nil {
		return
	}
	for _, b := range budgets {
		if _, err := s.limits.Failures.Consume(context.WithoutCancel(r.Context()), b.key, b.limit); err != nil {
			logger(r).Warn("failure budget: consume failed", "error", err.Error())
		}
	}
}

// clientKey is the client's address as rate limits count it: an IPv4
// address, or the /64 an IPv6 address belongs to (one subscriber usually
// holds a whole /64).
func clientKey(r *http.Request, trusted []netip.Prefix) string {
	ip := clientIP(r, trusted)
	a, err := netip.ParseAddr(ip)
	if err != nil || !a.Is6() {
		return ip
	}
	p, _ := a.Prefix(64)
	return p.String()
}

// clientIP is the connection's peer address, unless that peer is a trusted
// proxy: then X-Forwarded-For is read from the right, skipping trusted
// proxies, and the first address that is not one is the client.
func clientIP(r *http.Request, trusted []netip.Prefix) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	peer, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	peer = peer.Unmap()
	if !isTrusted(peer, trusted) {
		return peer.String()
	}
	hops := r.Header.Values("X-Forwarded-For")
	var all []string
	for _, h := range hops {
		all = append(all, strings.Split(h, ",")...)
	}
	for i := len(all) - 1; i >= 0; i-- {
		a, err := netip.ParseAddr(strings.TrimSpace(all[i]))
		if err != nil {
			break // a malformed hop: stop believing the header here
		}
		a = a.Unmap()
		if !isTrusted(a, trusted) {
			return a.String()
		}
		peer = a
	}
	return peer.String()
}

func isTrusted(a netip.Addr, trusted []netip.Prefix) bool {
	for _, p := range trusted {
		if p.Contains(a) {
			return true
		}
	}
	return false
}
