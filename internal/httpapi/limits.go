package httpapi

import (
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/ratelimit"
)

// RateLimits configures the limits of contract §9. A nil Limiter turns
// them off (RATE_LIMIT_ENABLED=false).
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
}

// DefaultPerPlan are the per-user limits of contract §9 by plan.
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

// limitUser applies the caller's plan limit, keyed by user id. It sits
// right behind authenticate, so every authenticated response carries the
// X-RateLimit-* headers.
func (s *Server) limitUser(next http.Handler) http.Handler {
	if s.limits.Limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u := currentUser(r)
		if s.applyLimit(w, r, "user:"+u.ID.String(), s.limits.planLimit(u.Plan), "user") {
			next.ServeHTTP(w, r)
		}
	})
}

// limitIP applies the per-IP limit on routes without a user.
func (s *Server) limitIP(next http.Handler) http.Handler {
	if s.limits.Limiter == nil {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.applyLimit(w, r, "ip:"+clientIP(r, s.limits.TrustedProxies), s.limits.ipLimit(), "ip") {
			next.ServeHTTP(w, r)
		}
	})
}

// applyLimit counts the request, sets the headers, and answers 429
// RATE_LIMITED with Retry-After when over. It reports whether to go on. A
// limiter failure lets the request through (the Redis limiter already falls
// back to local limits; this is the last resort).
func (s *Server) applyLimit(w http.ResponseWriter, r *http.Request, key string, limit int, scope string) bool {
	res, err := s.limits.Limiter.Allow(r.Context(), key, limit)
	if err != nil {
		logger(r).Warn("rate limiter failed; request allowed", "error", err.Error())
		return true
	}
	h := w.Header()
	h.Set("X-RateLimit-Limit", strconv.Itoa(res.Limit))
	h.Set("X-RateLimit-Remaining", strconv.Itoa(res.Remaining))
	// Unix seconds, rounded up: never a second that has already begun.
	reset := res.Reset.Unix()
	if res.Reset.After(time.Unix(reset, 0)) {
		reset++
	}
	h.Set("X-RateLimit-Reset", strconv.FormatInt(reset, 10))
	if res.Allowed {
		return true
	}
	retry := max(1, int(math.Ceil(res.RetryAfter.Seconds())))
	h.Set("Retry-After", strconv.Itoa(retry))
	if s.metrics != nil {
		s.metrics.RateLimited(scope)
	}
	writeError(w, r, apperr.New(apperr.RateLimited, "Too many requests; retry after "+
		(time.Duration(retry)*time.Second).String()+"."))
	return false
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
