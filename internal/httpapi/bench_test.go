package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/multitracer"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/app"
	"github.com/praxiom/praxiom-api/internal/config"
	"github.com/praxiom/praxiom-api/internal/devtoken"
	"github.com/praxiom/praxiom-api/internal/otlptest"
	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/store"
	"github.com/praxiom/praxiom-api/internal/tracing"
)

// BenchmarkAuthChain runs the real router in-process against a real
// PostgreSQL (make bench) and reports the cost of the middleware chain per
// request: ns/op, cpu-ns/op (this process's CPU time), allocs/op and
// queries/op (database round trips, counted by a pgx tracer). The server is
// wired as cmd/praxiom wires it (app.NewAPI) for the load benchmark: PEM-key
// verifier, with or without the verified-token cache, metrics on, rate
// limits off, logs at warn (nothing is logged on success).
// Requests rotate over benchTokens distinct tokens of one user, as a client
// population whose tokens are all in the cache would.
//
// The tracing= variants (cache on) build the tracing provider as
// internal/app does, from config.Load of an environment: "unset" has no
// OTEL_* variable (production's default: no provider, so the same chain and
// pool as the plain variant, which they must match), "on" exports every
// span to an in-process OTLP receiver that discards them (the pool traced
// too, each query a span; the export's encoding and HTTP are counted, the
// receiver's decoding is not).
//
//	go run ./cmd/withpg -- go test -run='^$' -bench=AuthChain -benchmem ./internal/httpapi/
func BenchmarkAuthChain(b *testing.B) {
	const benchTokens = 100
	ctx := context.Background()
	tr := &rtTracer{}
	st, dbURL := pgtest.NewStore(b, store.Options{MaxConns: 4, Tracer: tr})
	key := apitest.Key(b)

	u, _, err := st.UpsertUser(ctx, store.Profile{ClerkID: "user_benchchain", Email: "bench@example.com",
		Name: "Bench"}, store.NewUserPolicy{Active: true})
	if err != nil {
		b.Fatal(err)
	}
	ws, err := st.CreateWorkspace(ctx, store.UserActor(u), store.NewWorkspace{Name: "Bench"}, 14)
	if err != nil {
		b.Fatal(err)
	}
	tokens := make([]string, benchTokens)
	for i := range tokens {
		if tokens[i], err = key.Mint(devtoken.Options{Subject: u.ClerkID, TTL: time.Hour}); err != nil {
			b.Fatal(err)
		}
	}
	_, apiKey, err := st.CreateAPIKey(ctx, store.UserActor(u), ws.ID, store.NewAPIKey{Name: "Bench", Role: store.RoleMember})
	if err != nil {
		b.Fatal(err)
	}
	newHandler := func(cacheSize int) http.Handler { return newBenchHandler(b, st, dbURL, cacheSize, nil, false) }

	run := func(b *testing.B, h http.Handler, path string, withToken bool) {
		// Warm the statement cache of every pooled connection and the token cache.
		for i := range 2 * benchTokens {
			benchServe(b, h, path, withToken, tokens[i%len(tokens)])
		}
		tr.take()
		b.ReportAllocs()
		b.ResetTimer()
		n, cpu := 0, processCPU()
		for b.Loop() {
			benchServe(b, h, path, withToken, tokens[n%len(tokens)])
			n++
		}
		b.StopTimer()
		b.ReportMetric(float64(len(tr.take()))/float64(n), "queries/op")
		b.ReportMetric(float64(processCPU()-cpu)/float64(n), "cpu-ns/op")
	}

	// tracedHandler wires tracing from the environment env (plus the
	// database and key) as internal/app does: the provider, the pool's
	// tracer (composed with the round-trip counter) and the chain.
	recv := otlptest.NewSink(b)
	tracedHandler := func(env map[string]string) http.Handler {
		env["DATABASE_URL"], env["CLERK_JWT_KEY"] = dbURL, key.PublicPEM()
		cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
		if err != nil {
			b.Fatal(err)
		}
		tp, err := tracing.New(ctx, cfg.Tracing)
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
		var qt pgx.QueryTracer = tr
		if tp.QueryTracer() != nil {
			qt = multitracer.New(tr, tp.QueryTracer())
		}
		tst, err := store.Open(ctx, dbURL, store.Options{MaxConns: 4, Tracer: qt})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(tst.Close)
		return newBenchHandler(b, tst, dbURL, 10000, tp, false)
	}

	on, off := newHandler(10000), newHandler(0)
	wsPath := "/api/workspaces/" + ws.ID.String()
	b.Run("healthz", func(b *testing.B) { run(b, on, "/healthz", false) })
	// The tracing variants run next to the plain one they are compared
	// with, in an order that rotates from one run of the benchmark to the
	// next (-count): on a shared 2-core machine a variant's time drifts with
	// its place in the run (one run after cache=off is slower, whatever it
	// is), and the rotation gives each variant each place in turn.
	type variant struct {
		name string
		h    http.Handler
	}
	compared := []variant{
		{"cache=on", on},
		{"cache=on/tracing=unset", tracedHandler(map[string]string{})},
		{"cache=on/tracing=on", tracedHandler(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": recv.URL()})},
	}
	production := newBenchHandler(b, st, dbURL, 10000, nil, true)
	k := authChainRuns.Add(1)
	order := slices.Concat(compared[k%3:], compared[:k%3], []variant{{"cache=off", off}})
	for _, path := range []struct{ name, path string }{{"me", "/api/auth/me"}, {"workspace", wsPath}} {
		for _, c := range order {
			b.Run(fmt.Sprintf("%s/%s", path.name, c.name), func(b *testing.B) { run(b, c.h, path.path, true) })
		}
		b.Run(path.name+"/production", func(b *testing.B) { run(b, production, path.path, true) })
	}
	b.Run("workspace-key/production", func(b *testing.B) {
		keyTokens := tokens
		tokens = []string{apiKey}
		defer func() { tokens = keyTokens }()
		run(b, production, wsPath, true)
	})
}

// authChainRuns counts the runs of BenchmarkAuthChain in this process.
var authChainRuns atomic.Int64

// newBenchHandler is the server as the benchmark wires it (see
// BenchmarkAuthChain), traced by tp when it is not nil. With production,
// it is wired as production ships: the request log at info (through the
// binary's buffered LogWriter, to nowhere) and rate limits on, in memory,
// at a limit no run reaches.
func newBenchHandler(b *testing.B, st *store.Store, dbURL string, cacheSize int, tp *tracing.Provider, production bool) http.Handler {
	cfg := apitest.Config(b, dbURL, apitest.Options{PLGGatingOff: true})
	cfg.TokenCacheSize = cacheSize
	log := app.NewLogger(io.Discard, "warn")
	if production {
		cfg.RateLimitEnabled = true
		for plan := range cfg.RateLimits {
			cfg.RateLimits[plan] = 1_000_000
		}
		cfg.RateLimitIP = 1_000_000
		log = app.NewLogger(app.NewLogWriter(io.Discard), cfg.LogLevel)
	}
	api, err := app.NewAPI(cfg, st, benchReady{}, log, app.WithTracing(tp))
	if err != nil {
		b.Fatal(err)
	}
	return api
}

func benchServe(b *testing.B, h http.Handler, path string, withToken bool, token string) {
	r := httptest.NewRequest(http.MethodGet, path, nil)
	if withToken {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusOK {
		b.Fatalf("GET %s: %d %s", path, w.Code, w.Body)
	}
}

// processCPU is the CPU time (user and system) this process has used: on a
// machine shared with other work it varies less than the wall time ns/op
// reports, since waiting for a core is not counted. It includes the
// goroutines beside the requests (the span exporter's, the pool's).
func processCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// benchReady reports no pending migration (readyz is not benchmarked).
type benchReady struct{}

func (benchReady) Pending(context.Context) (bool, error) { return false, nil }
