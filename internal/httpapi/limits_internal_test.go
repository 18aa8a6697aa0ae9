package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/clocktest"
	"github.com/praxiom/praxiom-api/internal/ratelimit"
	"github.com/praxiom/praxiom-api/internal/store"
)

// headerWriter is a ResponseWriter that keeps only its header map.
type headerWriter struct{ hdr http.Header }

func (w *headerWriter) Header() http.Header         { return w.hdr }
func (w *headerWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *headerWriter) WriteHeader(int)             {}

// BenchmarkLimitPrincipal is limitPrincipal's cost per request, with the
// in-memory limiter, for 1,000 users in turn; each request gets a fresh
// header map holding X-Request-Id, as served leaves it. limit=1000000 is the
// load benchmark's setting (no run reaches it); limit=600 is the power
// plan's, with a fake clock moved a minute on every 100,000 requests, so
// that nobody is refused and X-RateLimit-Remaining stays in the hundreds.
//
//	go test -run='^$' -bench=LimitPrincipal -benchmem ./internal/httpapi/
func BenchmarkLimitPrincipal(b *testing.B) {
	for _, tc := range []struct {
		name  string
		limit int
	}{{"limit=1000000", 1_000_000}, {"limit=600", 600}} {
		b.Run(tc.name, func(b *testing.B) {
			clk := clocktest.New(time.Now())
			now := time.Now
			if tc.limit < 1000 {
				now = clk.Now
			}
			s := New(Deps{RateLimits: RateLimits{Limiter: ratelimit.NewLocal(now),
				PerPlan: map[string]int{"trial": tc.limit, "pro": tc.limit, "growth": tc.limit, "power": tc.limit}}})
			h := s.limitPrincipal(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
			reqs := make([]*http.Request, 1000)
			for i := range reqs {
				st := &reqState{caller: &store.Caller{ID: uuid.New(), Plan: "trial"}}
				reqs[i] = httptest.NewRequest(http.MethodGet, "/api/auth/me", nil).
					WithContext(context.WithValue(context.Background(), ctxKey{}, st))
			}
			reqID := []string{"bench"}
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if i%100_000 == 0 {
					clk.Advance(time.Minute)
				}
				w := &headerWriter{hdr: http.Header{"X-Request-Id": reqID}}
				h.ServeHTTP(w, reqs[i%len(reqs)])
				if len(w.hdr["X-Ratelimit-Remaining"]) != 1 || len(w.hdr["Retry-After"]) != 0 {
					b.Fatalf("headers %v", w.hdr)
				}
				i++
			}
		})
	}
}

// TestPrincipalKey: the key a principal is counted and its Idempotency-Keys
// kept under is "user:" or "key:" and the id, as it always was.
func TestPrincipalKey(t *testing.T) {
	for range 100 {
		id := uuid.New()
		if got, want := principalKey(&reqState{caller: &store.Caller{ID: id}}), "user:"+id.String(); got != want {
			t.Fatalf("user: %q, want %q", got, want)
		}
		if got, want := principalKey(&reqState{caller: &store.Caller{ID: uuid.New()}, key: &store.KeyCaller{ID: id}}), "key:"+id.String(); got != want {
			t.Fatalf("key: %q, want %q", got, want)
		}
	}
}

// TestSharedHeaderValuesAreNeverWritten: the header values shared between
// responses have no room to append into, so Header().Add copies them and
// neither they nor their neighbours change; each is the decimal of its
// number.
func TestSharedHeaderValuesAreNeverWritten(t *testing.T) {
	s := New(Deps{RateLimits: RateLimits{PerPlan: map[string]int{"pro": 5}}})
	shared := map[string][]string{
		"count 0": countValue(0, nil), "count 7": countValue(7, nil), "count 1023": countValue(1023, nil),
		"limit pro": s.limitValues.plan("pro").hdr, "limit trial": s.limitValues.plan("trial").hdr,
		"limit per IP": s.limitValues.perIP.hdr, "reset": s.resetHeader(1_800_000_000),
	}
	want := map[string]string{"count 0": "0", "count 7": "7", "count 1023": "1023", "limit pro": "5",
		"limit trial": "30", "limit per IP": strconv.Itoa(DefaultPerIP), "reset": "1800000000"}
	for name, v := range shared {
		if len(v) != 1 || cap(v) != 1 || v[0] != want[name] {
			t.Fatalf("%s: %q (cap %d), want [%s] with capacity 1", name, v, cap(v), want[name])
		}
		hdr := http.Header{"X-Ratelimit-Remaining": v}
		hdr.Add("X-Ratelimit-Remaining", "appended")
		if v[0] != want[name] || hdr.Values("X-Ratelimit-Remaining")[0] != want[name] {
			t.Fatalf("%s: Add changed the shared value: %q", name, v)
		}
	}
	for i, v := range smallCounts {
		if v != strconv.Itoa(i) {
			t.Fatalf("smallCounts[%d] = %q", i, v)
		}
	}
	// Past the shared ones, each value is the request's own, in its slot.
	var own [1]string
	if v := countValue(1024, &own); len(v) != 1 || cap(v) != 1 || v[0] != "1024" || own[0] != "1024" {
		t.Fatalf("countValue(1024) = %q (cap %d), slot %q", v, cap(v), own[0])
	}
}

// TestLimitValuesFollowPlanLimit: the resolved limits are planLimit's and
// ipLimit's for every plan, overridden or not, known or not.
func TestLimitValuesFollowPlanLimit(t *testing.T) {
	for _, l := range []RateLimits{
		{},
		{PerPlan: map[string]int{"pro": 4, "growth": -1, "enterprise": 5000}, PerIP: 9},
		{PerPlan: map[string]int{"trial": 3, "power": 1_000_000}},
	} {
		v := l.resolve()
		for _, plan := range []string{"trial", "pro", "growth", "power", "enterprise", "", "unknown"} {
			lv := v.plan(plan)
			if lv.n != l.planLimit(plan) || lv.hdr[0] != strconv.Itoa(l.planLimit(plan)) {
				t.Errorf("%+v: plan %q: %d %q, want %d", l.PerPlan, plan, lv.n, lv.hdr, l.planLimit(plan))
			}
		}
		if v.perIP.n != l.ipLimit() || v.perIP.hdr[0] != strconv.Itoa(l.ipLimit()) {
			t.Errorf("%+v: per IP %d %q, want %d", l, v.perIP.n, v.perIP.hdr, l.ipLimit())
		}
	}
}

// otherLimit answers with a limit other than the one asked for.
type otherLimit struct{ limit int }

func (o otherLimit) Allow(context.Context, string, int) (ratelimit.Result, error) {
	return ratelimit.Result{Allowed: true, Limit: o.limit, Remaining: 3, Reset: time.Unix(1_800_000_000, 0)}, nil
}

// TestLimitHeaderIsTheLimiters: X-RateLimit-Limit is the limit the limiter
// answers with, also when it is not the one asked for (the shared value is
// used only when they agree).
func TestLimitHeaderIsTheLimiters(t *testing.T) {
	s := New(Deps{RateLimits: RateLimits{Limiter: otherLimit{limit: 77}}})
	h := s.limitPrincipal(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	st := &reqState{caller: &store.Caller{ID: uuid.New(), Plan: "pro"}}
	w := &headerWriter{hdr: http.Header{}}
	h.ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/api/auth/me", nil).WithContext(context.WithValue(context.Background(), ctxKey{}, st)))
	if got := w.hdr["X-Ratelimit-Limit"]; len(got) != 1 || got[0] != "77" {
		t.Fatalf("X-RateLimit-Limit = %q, want [77] (the limiter's, not pro's 120)", got)
	}
	if got := s.limitValues.plan("pro").hdr[0]; got != "120" {
		t.Fatalf("pro's shared value became %q", got)
	}
}

// TestResetHeaderConcurrent: requests of several minutes at once (a
// window's last requests and the next one's first) each get their own
// Reset's value, whichever was built last.
func TestResetHeaderConcurrent(t *testing.T) {
	s := New(Deps{})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 2000 {
				unix := int64(1_800_000_000 + 60*((g+i)%3))
				if v := s.resetHeader(unix); len(v) != 1 || v[0] != strconv.FormatInt(unix, 10) {
					t.Errorf("resetHeader(%d) = %q", unix, v)
					return
				}
			}
		}()
	}
	wg.Wait()
}
