package httpapi_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/clerktest"
	"github.com/praxiom/praxiom-api/internal/config"
	"github.com/praxiom/praxiom-api/internal/devtoken"
	"github.com/praxiom/praxiom-api/internal/httpapi"
	"github.com/praxiom/praxiom-api/internal/metrics"
	"github.com/praxiom/praxiom-api/internal/ratelimit"
	"github.com/praxiom/praxiom-api/internal/store"
)

// metScrape fetches /metrics from m's handler (what the metrics listener,
// METRICS_ADDR, serves) and parses the text format.
func metScrape(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	if w.Code != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", w.Code, w.Body)
	}
	if ct := w.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("GET /metrics: Content-Type %q, want the Prometheus text format", ct)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

func metLabels(m *dto.Metric) map[string]string {
	out := map[string]string{}
	for _, l := range m.GetLabel() {
		out[l.GetName()] = l.GetValue()
	}
	return out
}

// metFind returns the series of family name whose labels include want.
func metFind(fams map[string]*dto.MetricFamily, name string, want map[string]string) *dto.Metric {
	f := fams[name]
	if f == nil {
		return nil
	}
next:
	for _, m := range f.GetMetric() {
		got := metLabels(m)
		for k, v := range want {
			if got[k] != v {
				continue next
			}
		}
		return m
	}
	return nil
}

// metValue is the value of a counter or gauge series (-1 when absent).
func metValue(fams map[string]*dto.MetricFamily, name string, labels map[string]string) float64 {
	m := metFind(fams, name, labels)
	switch {
	case m == nil:
		return -1
	case m.Counter != nil:
		return m.Counter.GetValue()
	case m.Gauge != nil:
		return m.Gauge.GetValue()
	case m.Untyped != nil:
		return m.Untyped.GetValue()
	}
	return -1
}

func TestMetrics(t *testing.T) {
	// The production chain: metrics on the server's pool, and tokens
	// verified with the JWKS of (fake) Clerk behind the verified-token
	// cache, both observed.
	key := apitest.Key(t)
	fake := clerktest.New(t, key)
	e := apitest.New(t, apitest.Options{Store: store.Options{MaxConns: 7}, ClerkAPIURL: fake.URL(),
		RateLimits: httpapi.RateLimits{Limiter: ratelimit.NewLocal(newRLClock().Now), PerPlan: map[string]int{"trial": 5}, PerIP: 2},
		Config:     func(c *config.Config) { c.ClerkJWTKey, c.TokenCacheSize = "", 100 }})
	m, st := e.Metrics, e.Store

	// CLERK_SECRET_KEY is set, as in production: the user is provisioned
	// from Clerk.
	sub := "user_" + uniq("met")
	fake.AddUser(clerktest.User{ID: sub, Emails: clerktest.Emails("metrics@example.com")})
	tok, err := key.Mint(devtoken.Options{Subject: sub, Email: "metrics@example.com", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	wsID, invToken, unknown := uuid.NewString(), "tok-"+uuid.NewString(), "nope-"+uuid.NewString()
	want := func(r *apitest.Response, status int) {
		t.Helper()
		if r.Status != status {
			t.Fatalf("status %d, want %d: %s", r.Status, status, r.Body)
		}
	}
	want(e.Get("/api/auth/me", tok), 200) // JWKS fetch, cache miss
	r := e.Get("/api/auth/me", tok)       // cache hit
	want(r, 200)
	own := apitest.InsertWorkspace(t, st, "Metrics", uuid.MustParse(decodeMe(t, r).ID))
	want(e.Get("/api/workspaces/"+own.String(), tok), 200)
	want(e.Get("/api/workspaces/"+wsID, tok), 403)            // not a member
	want(e.Get("/api/workspaces/"+wsID+"/members", tok), 403) //
	want(e.Get("/api/workspaces/"+wsID+"/members", tok), 429) // over the user limit
	want(e.Get("/api/invitations/"+invToken, ""), 404)        //
	want(e.Get("/api/invitations/"+invToken, ""), 404)        //
	want(e.Get("/api/invitations/"+invToken, ""), 429)        // over the IP limit
	want(e.Do(apitest.Request{Method: http.MethodGet, Path: "/" + unknown}), 404)

	clerkID := "user_" + uniq("metwh")
	created := apitest.UserEvent("user.created", clerkID, "wh-metrics@example.com", "Met", "Rics", time.Now())
	msg := uniq("msg_")
	want(e.Deliver(msg, created), 200)
	want(e.Deliver(msg, created), 200) // already processed
	want(e.Deliver(uniq("msg_"), []byte(`{"type":"session.created","object":"event","data":{"id":"sess_1"}}`)), 200)
	want(e.Deliver(uniq("msg_"), []byte(`{"type":"evil.`+uuid.NewString()+`","object":"event","data":{}}`)), 200)

	fams := metScrape(t, m)

	// Requests by method, route pattern and status, counted exactly.
	for _, c := range []struct {
		method, route, status string
		n                     float64
	}{
		{"GET", "/api/auth/me", "200", 2},
		{"GET", "/api/workspaces/{workspace_id}", "200", 1}, // the same label whoever answers:
		{"GET", "/api/workspaces/{workspace_id}", "403", 1}, // the handler or a middleware
		{"GET", "/api/workspaces/{workspace_id}/members", "403", 1},
		{"GET", "/api/workspaces/{workspace_id}/members", "429", 1},
		{"GET", "/api/invitations/{token}", "404", 2},
		{"GET", "/api/invitations/{token}", "429", 1},
		{"POST", "/api/webhooks/clerk", "200", 4},
	} {
		labels := map[string]string{"method": c.method, "route": c.route, "status": c.status}
		if got := metValue(fams, "praxiom_http_requests_total", labels); got != c.n {
			t.Errorf("praxiom_http_requests_total%v = %v, want %v", labels, got, c.n)
		}
	}
	// Never a raw id, token or unknown path in a label.
	for _, name := range []string{"praxiom_http_requests_total", "praxiom_http_request_duration_seconds"} {
		if fams[name] == nil {
			t.Fatalf("%s is missing", name)
		}
		for _, s := range fams[name].GetMetric() {
			for _, l := range s.GetLabel() {
				for _, secret := range []string{wsID, invToken, unknown, tok} {
					if strings.Contains(l.GetValue(), secret) {
						t.Errorf("%s label %s=%q carries a raw path value", name, l.GetName(), l.GetValue())
					}
				}
			}
		}
	}
	// Latency histogram per route.
	if h := metFind(fams, "praxiom_http_request_duration_seconds", map[string]string{"method": "GET", "route": "/api/auth/me"}); h == nil || h.Histogram == nil {
		t.Error("no latency histogram for GET /api/auth/me")
	} else if h.Histogram.GetSampleCount() != 2 || len(h.Histogram.GetBucket()) < 5 || h.Histogram.GetSampleSum() <= 0 {
		t.Errorf("latency histogram: count %d, %d buckets, sum %v", h.Histogram.GetSampleCount(), len(h.Histogram.GetBucket()), h.Histogram.GetSampleSum())
	}
	// Webhook events by type and outcome; unknown types folded into "other".
	for _, c := range []struct {
		typ, outcome string
		n            float64
	}{
		{"user.created", "ok", 1},
		{"user.created", "already_processed", 1},
		{"other", "ignored", 2},
	} {
		labels := map[string]string{"type": c.typ, "outcome": c.outcome}
		if got := metValue(fams, "praxiom_webhook_events_total", labels); got != c.n {
			t.Errorf("praxiom_webhook_events_total%v = %v, want %v", labels, got, c.n)
		}
	}
	if f := fams["praxiom_webhook_events_total"]; f != nil && len(f.GetMetric()) != 3 {
		t.Errorf("praxiom_webhook_events_total has %d series, want 3 (event types are bounded)", len(f.GetMetric()))
	}
	// Token cache and JWKS.
	if got := metValue(fams, "praxiom_token_cache_total", map[string]string{"result": "miss"}); got < 1 {
		t.Errorf("token cache misses = %v", got)
	}
	if got := metValue(fams, "praxiom_token_cache_total", map[string]string{"result": "hit"}); got < 1 {
		t.Errorf("token cache hits = %v", got)
	}
	if got := metValue(fams, "praxiom_jwks_fetches_total", map[string]string{"outcome": "ok"}); got != 1 {
		t.Errorf("JWKS fetches ok = %v, want 1", got)
	}
	// Rate-limit refusals by scope.
	for _, scope := range []string{"user", "ip"} {
		if got := metValue(fams, "praxiom_rate_limited_total", map[string]string{"scope": scope}); got != 1 {
			t.Errorf("praxiom_rate_limited_total{scope=%q} = %v, want 1", scope, got)
		}
	}
	// Pool statistics of the server's own pool.
	if got := metValue(fams, "praxiom_db_pool_max_conns", nil); got != 7 {
		t.Errorf("praxiom_db_pool_max_conns = %v, want 7", got)
	}
	for _, name := range []string{"praxiom_db_pool_total_conns", "praxiom_db_pool_idle_conns", "praxiom_db_pool_acquired_conns",
		"praxiom_db_pool_empty_acquire_total", "praxiom_db_pool_acquire_wait_seconds_total"} {
		if metValue(fams, name, nil) < 0 {
			t.Errorf("%s is missing", name)
		}
	}
	if got := metValue(fams, "praxiom_db_pool_total_conns", nil); got < 1 {
		t.Errorf("praxiom_db_pool_total_conns = %v after queries, want >= 1", got)
	}
	// The Go runtime collector.
	if metValue(fams, "go_goroutines", nil) <= 0 {
		t.Error("go_goroutines is missing")
	}

	// The public router does not serve /metrics: it has a listener of its
	// own (METRICS_ADDR).
	wantError(t, e.Get("/metrics", ""), http.StatusNotFound, "NOT_FOUND")
}
