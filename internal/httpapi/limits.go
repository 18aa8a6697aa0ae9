package httpapi

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"slices"
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

// limitValue is a per-minute limit with its header values, built once and
// shared by every response under that limit: X-RateLimit-Limit, and for a
// limit above the shared small counts the X-RateLimit-Remaining of a client
// that has used less than sharedCounts of it. Nothing may modify them:
// handlers only set or delete header keys (Header().Set and Del replace a
// value slice, and Add appends to a slice whose capacity is its length, so
// it copies).
type limitValue struct {
	n   int
	hdr []string
	// top[k] is the value of n-1-k.
	top []string
}

func newLimitValue(n int) *limitValue {
	v := &limitValue{n: n, hdr: []string{strconv.Itoa(n)}}
	if n > sharedCounts {
		v.top = decimals(max(sharedCounts, n-sharedCounts), n-1)
		slices.Reverse(v.top)
	}
	return v
}

// remaining is the X-RateLimit-Remaining value of n under this limit.
func (v *limitValue) remaining(n int) []string {
	if uint(n) < uint(len(smallCounts)) {
		return smallCounts[n : n+1 : n+1]
	}
	if k := v.n - 1 - n; uint(k) < uint(len(v.top)) {
		return v.top[k : k+1 : k+1]
	}
	return []string{strconv.Itoa(n)}
}

// limitValues are the limits of RateLimits, resolved once when the server
// is built: per plan (every plan PerPlan or DefaultPerPlan names), for any
// other plan (trial's), and per client IP. Equal limits share one value.
type limitValues struct {
	perPlan   map[string]*limitValue
	otherPlan *limitValue
	perIP     *limitValue
}

func (l RateLimits) resolve() limitValues {
	byLimit := map[int]*limitValue{}
	value := func(n int) *limitValue {
		if byLimit[n] == nil {
			byLimit[n] = newLimitValue(n)
		}
		return byLimit[n]
	}
	v := limitValues{perPlan: map[string]*limitValue{}, otherPlan: value(l.planLimit("")), perIP: value(l.ipLimit())}
	for _, plans := range []map[string]int{DefaultPerPlan, l.PerPlan} {
		for plan := range plans {
			v.perPlan[plan] = value(l.planLimit(plan))
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

// sharedCounts is how many X-RateLimit-Remaining values are shared: 0 to
// 1023 for every limit (all of them under the default plans), and the 1,024
// highest of a larger limit.
const sharedCounts = 1024

// smallCounts are the header values of 0 to sharedCounts-1.
var smallCounts = decimals(0, sharedCounts-1)

// decimals are the decimal strings of from to to, sharing one backing
// array.
func decimals(from, to int) []string {
	var b []byte
	ends := make([]int, 0, to-from+1)
	for i := from; i <= to; i++ {
		b = strconv.AppendInt(b, int64(i), 10)
		ends = append(ends, len(b))
	}
	all, v, start := string(b), make([]string, len(ends)), 0
	for i, end := range ends {
		v[i], start = all[start:end], end
	}
	return v
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
	hdr["X-Ratelimit-Remaining"] = limit.remaining(res.Remaining)
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
