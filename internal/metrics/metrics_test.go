package metrics_test

import (
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/metrics"
)

func TestMethodIsBounded(t *testing.T) {
	for in, want := range map[string]string{
		"GET": "GET", "HEAD": "HEAD", "POST": "POST", "PUT": "PUT", "PATCH": "PATCH", "DELETE": "DELETE",
		"OPTIONS": "OPTIONS", "get": "OTHER", "Get": "OTHER", "CONNECT": "OTHER", "TRACE": "OTHER",
		"PROPFIND": "OTHER", "": "OTHER", strings.Repeat("X", 8192): "OTHER", "GET ": "OTHER",
	} {
		if got := metrics.Method(in); got != want {
			t.Errorf("Method(%.20q) = %q, want %q", in, got, want)
		}
	}
}

// scrape parses what m serves.
func scrape(t *testing.T, m *metrics.Metrics) map[string]*dto.MetricFamily {
	t.Helper()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(w.Body)
	if err != nil {
		t.Fatalf("parse /metrics: %v", err)
	}
	return fams
}

// seriesCounts is the number of series of every family.
func seriesCounts(fams map[string]*dto.MetricFamily) map[string]int {
	out := map[string]int{}
	for name, f := range fams {
		out[name] = len(f.GetMetric())
	}
	return out
}

// randomMethod is a valid HTTP token of n upper-case letters.
func randomMethod(n int) string {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('A' + rand.IntN(26))
	}
	return string(b)
}

// floodPaths are answered by different parts of the real router: a route,
// the authentication in front of /api, an unknown path, the webhook.
var floodPaths = []string{"/healthz", "/readyz", "/api/auth/me", "/api/workspaces", "/nowhere", "/api/webhooks/clerk"}

// TestMetricsSeriesBoundedUnderRandomMethods: 1,000 requests with distinct
// random methods through the real router add no series to any metric
// family once the first few have labelled each route OTHER, and neither
// the metrics nor the request log carry a raw method.
func TestMetricsSeriesBoundedUnderRandomMethods(t *testing.T) {
	m := metrics.New(nil)
	e := apitest.New(t, apitest.Options{Metrics: m, NoSpecCheck: true})
	send := func(method, path string) {
		t.Helper()
		e.Do(apitest.Request{Method: method, Path: path})
	}
	for _, p := range floodPaths {
		for i := 0; i < 3; i++ {
			send(randomMethod(12), p)
		}
	}
	before := seriesCounts(scrape(t, m))

	sent := map[string]bool{}
	for len(sent) < 1000 {
		method := randomMethod(16)
		if sent[method] {
			continue
		}
		sent[method] = true
		send(method, floodPaths[len(sent)%len(floodPaths)])
	}
	fams := scrape(t, m)
	after := seriesCounts(fams)
	for name, n := range after {
		if n != before[name] {
			t.Errorf("%s: %d series after 1,000 random methods, %d before", name, n, before[name])
		}
	}
	allowed := map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "PATCH": true,
		"DELETE": true, "OPTIONS": true, "OTHER": true}
	for name, f := range fams {
		for _, s := range f.GetMetric() {
			for _, l := range s.GetLabel() {
				if l.GetName() == "method" && !allowed[l.GetValue()] {
					t.Fatalf("%s has method label %q", name, l.GetValue())
				}
			}
		}
	}
	if got := before["praxiom_http_requests_total"]; got == 0 {
		t.Fatal("no request series: the flood did not reach the metrics")
	}
	logs := e.Logs()
	for method := range sent {
		if strings.Contains(logs, method) {
			t.Fatalf("the request log carries the raw method %q", method)
		}
	}
	if !strings.Contains(logs, `"method":"OTHER"`) {
		t.Error(`the request log has no "method":"OTHER" line`)
	}
}

// TestMetricsMemoryUnderLongMethods floods the router with 2,000 long
// random methods and reports the heap in use before and after and the size
// of /metrics (the figures of the hostile review: ~58 MB and a 697 MB
// /metrics before the fix).
func TestMetricsMemoryUnderLongMethods(t *testing.T) {
	m := metrics.New(nil)
	e := apitest.New(t, apitest.Options{Metrics: m, NoSpecCheck: true})
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	for _, p := range floodPaths {
		e.Do(apitest.Request{Method: randomMethod(16), Path: p})
	}
	h0 := heap()
	for i := 0; i < 2000; i++ {
		e.Do(apitest.Request{Method: randomMethod(8 << 10), Path: floodPaths[i%len(floodPaths)]})
	}
	h1 := heap()
	w := httptest.NewRecorder()
	m.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	t.Logf("heap in use %.1f MB before, %.1f MB after 2,000 methods of 8 KiB; /metrics %d bytes",
		float64(h0)/1e6, float64(h1)/1e6, w.Body.Len())
	if grown := int64(h1) - int64(h0); grown > 16<<20 {
		t.Errorf("the heap grew by %.1f MB", float64(grown)/1e6)
	}
	if w.Body.Len() > 1<<20 {
		t.Errorf("/metrics is %d bytes", w.Body.Len())
	}
}

// BenchmarkObserveRequest is what the metrics of one request cost: its
// series and the token-cache counter, on one goroutine and on as many as
// GOMAXPROCS (where the counters' cache lines move between cores: ns/op is
// wall time over all goroutines, so the CPU per request is ns/op times
// GOMAXPROCS).
func BenchmarkObserveRequest(b *testing.B) {
	observe := func(m *metrics.Metrics) {
		m.ObserveRequest("GET", "/api/workspaces/{workspace_id}", 200, 3*time.Millisecond)
		m.TokenCache(true)
	}
	b.Run("serial", func(b *testing.B) {
		m := metrics.New(nil)
		b.ReportAllocs()
		for b.Loop() {
			observe(m)
		}
	})
	b.Run("parallel", func(b *testing.B) {
		m := metrics.New(nil)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				observe(m)
			}
		})
	})
}
