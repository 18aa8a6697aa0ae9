package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/localpg"
	"github.com/praxiom/praxiom-api/internal/store"
)

// fltResult is one answer seen by the traffic.
type fltResult struct {
	phase   int32 // when the request ended (it began in this phase or earlier)
	start   time.Time
	status  int
	code    string
	latency time.Duration
	err     error
}

// fltFastConfig turns durability off (the cluster is thrown away) without
// Ephemeral, which would delete the data directory on Stop.
var fltFastConfig = map[string]string{"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}

// TestFaultDatabaseOutageAndRecovery stops PostgreSQL under steady traffic:
// every answer is 200 or 503 SERVICE_UNAVAILABLE, none hangs, /readyz says
// 503; PostgreSQL comes back on the same directory and port and the same
// server (its pool) recovers to 200 without a restart.
func TestFaultDatabaseOutageAndRecovery(t *testing.T) {
	ctx := context.Background()
	began := time.Now()
	cl, err := localpg.Start(ctx, localpg.Options{ExtraConfig: fltFastConfig})
	if err != nil {
		t.Fatalf("start PostgreSQL: %v", err)
	}
	dir, port := cl.Dir, cl.Port
	var mu sync.Mutex
	current := cl
	t.Cleanup(func() {
		mu.Lock()
		defer mu.Unlock()
		_ = current.Stop()
		_ = os.RemoveAll(dir) // not Ephemeral: Stop keeps the directory
	})
	m, err := store.NewMigrator(cl.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { m.Close() })
	if _, err := m.Up(ctx); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	e := apitest.New(t, apitest.Options{DatabaseURL: cl.URL, Readiness: m,
		Store: store.Options{MaxConns: 8, ConnectTimeout: 500 * time.Millisecond, StatementTimeout: 2 * time.Second}})
	srv := httptest.NewServer(e.Handler) // 127.0.0.1
	t.Cleanup(srv.Close)
	t.Logf("cluster on 127.0.0.1:%d ready in %v", port, time.Since(began).Round(time.Millisecond))

	client := &http.Client{Timeout: 5 * time.Second}
	call := func(path, token string) fltResult {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		start := time.Now()
		resp, err := client.Do(req)
		res := fltResult{start: start, latency: time.Since(start), err: err}
		if err != nil {
			return res
		}
		defer resp.Body.Close()
		res.status = resp.StatusCode
		var env errEnvelope
		body, _ := io.ReadAll(resp.Body)
		_ = json.Unmarshal(body, &env)
		res.code = env.Error.Code
		return res
	}

	const workers, perWorker = 4, 1500
	tokens := make([]string, workers)
	for i := range tokens {
		tokens[i] = e.Token(fmt.Sprintf("fault%d@example.com", i))
		if r := call("/api/auth/me", tokens[i]); r.err != nil || r.status != http.StatusOK {
			t.Fatalf("provision user %d: %d %v", i, r.status, r.err)
		}
	}

	// Open the pool's connections first, so that the phase before the
	// outage does not depend on how fast a busy machine connects.
	var warm sync.WaitGroup
	for i := 0; i < 8; i++ {
		warm.Add(1)
		go func() { defer warm.Done(); call("/api/auth/me", tokens[i%workers]) }()
	}
	warm.Wait()

	// Phases: 0 up, 1 stopping/down, 2 restarted.
	var phase atomic.Int32
	var resMu sync.Mutex
	var results []fltResult
	var lastOK [3]atomic.Int64 // unix nanoseconds of the last 200 per phase
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < perWorker; i++ {
				select {
				case <-stop:
					return
				default:
				}
				r := call("/api/auth/me", tokens[w])
				r.phase = phase.Load()
				if r.status == http.StatusOK {
					lastOK[r.phase].Store(time.Now().UnixNano())
				}
				resMu.Lock()
				results = append(results, r)
				resMu.Unlock()
				time.Sleep(5 * time.Millisecond)
			}
		}()
	}
	stopTraffic := sync.OnceFunc(func() { close(stop); wg.Wait() })
	t.Cleanup(stopTraffic)

	time.Sleep(300 * time.Millisecond)
	phase.Store(1)
	t0 := time.Now()
	if err := cl.Stop(); err != nil {
		t.Fatalf("stop PostgreSQL: %v", err)
	}
	t.Logf("PostgreSQL stopped in %v", time.Since(t0).Round(time.Millisecond))
	time.Sleep(1500 * time.Millisecond) // traffic against a dead database

	rz := call("/readyz", "")
	if rz.err != nil || rz.status != http.StatusServiceUnavailable || rz.code != "SERVICE_UNAVAILABLE" {
		t.Errorf("/readyz with PostgreSQL down: %d %q %v; want 503 SERVICE_UNAVAILABLE", rz.status, rz.code, rz.err)
	}
	if rz.latency > 3*time.Second {
		t.Errorf("/readyz took %v with PostgreSQL down", rz.latency)
	}

	// Same directory, same port: the server's DATABASE_URL is valid again.
	t1 := time.Now()
	cl2, err := localpg.Start(ctx, localpg.Options{Dir: dir, Port: port, ExtraConfig: fltFastConfig})
	if err != nil {
		t.Fatalf("restart PostgreSQL on %s, port %d: %v", dir, port, err)
	}
	mu.Lock()
	current = cl2
	mu.Unlock()
	phase.Store(2)
	t.Logf("PostgreSQL restarted in %v", time.Since(t1).Round(time.Millisecond))

	// Recovery: a 200 within a few seconds, then only 200s.
	deadline := time.Now().Add(15 * time.Second)
	for lastOK[2].Load() == 0 {
		if time.Now().After(deadline) {
			stopTraffic()
			t.Fatalf("no 200 within 15 s of the restart; last answers: %v", fltTail(results, 8))
		}
		time.Sleep(20 * time.Millisecond)
	}
	recovered := time.Now()
	t.Logf("first 200 %v after the restart", recovered.Sub(t1).Round(time.Millisecond))
	time.Sleep(300 * time.Millisecond) // connections broken by the outage are discarded by now
	steadyFrom := time.Now()           // requests begun from here on find connections that work
	time.Sleep(700 * time.Millisecond)
	stopTraffic()

	if rz := call("/readyz", ""); rz.status != http.StatusOK {
		t.Errorf("/readyz after recovery: %d %q %v", rz.status, rz.code, rz.err)
	}

	counts := map[int32]map[string]int{0: {}, 1: {}, 2: {}}
	var worst time.Duration
	steady := 0
	for _, r := range results {
		key := fmt.Sprint(r.status)
		if r.code != "" {
			key += " " + r.code
		}
		if r.err != nil {
			key = "error"
		}
		counts[r.phase][key]++
		worst = max(worst, r.latency)
		switch {
		case r.err != nil:
			t.Errorf("phase %d: request failed (hang or cut connection) after %v: %v", r.phase, r.latency, r.err)
		case r.status == http.StatusOK:
		case r.status == http.StatusServiceUnavailable && r.code == "SERVICE_UNAVAILABLE":
		default:
			t.Errorf("phase %d: %d %q; want 200 or 503 SERVICE_UNAVAILABLE", r.phase, r.status, r.code)
		}
		if r.latency > 4*time.Second {
			t.Errorf("phase %d: a request took %v", r.phase, r.latency)
		}
		if r.phase == 0 && r.status != http.StatusOK {
			t.Errorf("before the outage: %d %q", r.status, r.code)
		}
		if r.start.After(steadyFrom) {
			steady++
			if r.status != http.StatusOK {
				t.Errorf("after recovery: %d %q; want only 200", r.status, r.code)
			}
		}
	}
	t.Logf("%d requests; by phase: up %v, down %v, back %v; slowest %v", len(results), counts[0], counts[1], counts[2], worst.Round(time.Millisecond))
	if counts[1]["503 SERVICE_UNAVAILABLE"] == 0 {
		t.Error("no 503 while PostgreSQL was down: the outage was not observed")
	}
	if counts[0]["200"] == 0 || steady < 10 {
		t.Errorf("too little traffic to judge: %d before, %d after recovery", counts[0]["200"], steady)
	}
}

// fltTail describes the last n results.
func fltTail(rs []fltResult, n int) []string {
	var out []string
	for _, r := range rs[max(0, len(rs)-n):] {
		out = append(out, fmt.Sprintf("%d/%d %s %v", r.phase, r.status, r.code, r.err))
	}
	sort.Strings(out)
	return out
}
