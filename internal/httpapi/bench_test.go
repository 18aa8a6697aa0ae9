package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/app"
	"github.com/praxiom/praxiom-api/internal/devtoken"
	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// BenchmarkAuthChain runs the real router in-process against a real
// PostgreSQL (make bench) and reports the cost of the middleware chain per
// request: ns/op, allocs/op and queries/op (database round trips, counted by
// a pgx tracer). The server is wired as cmd/praxiom wires it for the load
// benchmark (app.NewAPI): PEM-key verifier, with or without the
// verified-token cache, metrics on, rate limits off, logs at warn (nothing
// is logged on success).
// Requests rotate over benchTokens distinct tokens of one user, as a client
// population whose tokens are all in the cache would.
//
//	go run ./cmd/withpg -- go test -run='^$' -bench=AuthChain -benchmem ./internal/httpapi/
func BenchmarkAuthChain(b *testing.B) {
	const benchTokens = 100
	ctx := context.Background()
	tr := &rtTracer{}
	st, url := pgtest.NewStore(b, store.Options{MaxConns: 4, Tracer: tr})
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
	newHandler := func(cacheSize int) http.Handler {
		cfg := apitest.Config(b, url, apitest.Options{PLGGatingOff: true})
		cfg.TokenCacheSize = cacheSize
		api, err := app.NewAPI(cfg, st, benchReady{}, app.NewLogger(io.Discard, "warn"))
		if err != nil {
			b.Fatal(err)
		}
		return api
	}
	run := func(b *testing.B, h http.Handler, path string, withToken bool) {
		// Warm the statement cache of every pooled connection and the token cache.
		for i := range 2 * benchTokens {
			benchServe(b, h, path, withToken, tokens[i%benchTokens])
		}
		tr.take()
		b.ReportAllocs()
		b.ResetTimer()
		n := 0
		for b.Loop() {
			benchServe(b, h, path, withToken, tokens[n%benchTokens])
			n++
		}
		b.StopTimer()
		b.ReportMetric(float64(len(tr.take()))/float64(n), "queries/op")
	}

	on, off := newHandler(10000), newHandler(0)
	wsPath := "/api/workspaces/" + ws.ID.String()
	b.Run("healthz", func(b *testing.B) { run(b, on, "/healthz", false) })
	for _, c := range []struct {
		name string
		h    http.Handler
	}{{"cache=on", on}, {"cache=off", off}} {
		b.Run(fmt.Sprintf("me/%s", c.name), func(b *testing.B) { run(b, c.h, "/api/auth/me", true) })
		b.Run(fmt.Sprintf("workspace/%s", c.name), func(b *testing.B) { run(b, c.h, wsPath, true) })
	}
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

// benchReady reports no pending migration (readyz is not benchmarked).
type benchReady struct{}

func (benchReady) Pending(context.Context) (bool, error) { return false, nil }
