package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// Issue #5, part 1: an authenticated request costs one database round trip.
// A pgx tracer on the server's pool sees every statement, prepare, batch and
// COPY the server sends; the routes below may send at most one per request.

// rtTracer counts what the pool sends to PostgreSQL. Statements, prepares
// (pgx's statement cache prepares a statement on its first use on a
// connection), batches and COPYs each count as a round trip.
type rtTracer struct {
	mu  sync.Mutex
	log []string
}

var (
	_ pgx.QueryTracer    = (*rtTracer)(nil)
	_ pgx.PrepareTracer  = (*rtTracer)(nil)
	_ pgx.BatchTracer    = (*rtTracer)(nil)
	_ pgx.CopyFromTracer = (*rtTracer)(nil)
)

func (t *rtTracer) add(kind, sql string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	sql = strings.Join(strings.Fields(sql), " ")
	if len(sql) > 160 {
		sql = sql[:160] + "…"
	}
	t.log = append(t.log, kind+": "+sql)
}

func (t *rtTracer) TraceQueryStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceQueryStartData) context.Context {
	t.add("query", d.SQL)
	return ctx
}

func (t *rtTracer) TraceQueryEnd(context.Context, *pgx.Conn, pgx.TraceQueryEndData) {}

func (t *rtTracer) TracePrepareStart(ctx context.Context, _ *pgx.Conn, d pgx.TracePrepareStartData) context.Context {
	t.add("prepare", d.SQL)
	return ctx
}

func (t *rtTracer) TracePrepareEnd(context.Context, *pgx.Conn, pgx.TracePrepareEndData) {}

func (t *rtTracer) TraceBatchStart(ctx context.Context, _ *pgx.Conn, _ pgx.TraceBatchStartData) context.Context {
	t.add("batch", "")
	return ctx
}

func (t *rtTracer) TraceBatchQuery(context.Context, *pgx.Conn, pgx.TraceBatchQueryData) {}

func (t *rtTracer) TraceBatchEnd(context.Context, *pgx.Conn, pgx.TraceBatchEndData) {}

func (t *rtTracer) TraceCopyFromStart(ctx context.Context, _ *pgx.Conn, d pgx.TraceCopyFromStartData) context.Context {
	t.add("copy", d.TableName.Sanitize())
	return ctx
}

func (t *rtTracer) TraceCopyFromEnd(context.Context, *pgx.Conn, pgx.TraceCopyFromEndData) {}

// take returns and forgets what was recorded since the last call.
func (t *rtTracer) take() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.log
	t.log = nil
	return out
}

// storeOptions is a pool of one connection traced by tr: the statement
// cache is warm after the first request of each route, so what is counted
// afterwards is the steady state.
func storeOptions(tr *rtTracer) store.Options { return store.Options{MaxConns: 1, Tracer: tr} }

func TestRoundTripsPerAuthenticatedRequest(t *testing.T) {
	tr := &rtTracer{}
	e := apitest.New(t, apitest.Options{PLGGatingOff: true, Store: storeOptions(tr)})

	owner := signUp(t, e, "rt-owner")
	ws := wsCreate(t, e, owner.Token, map[string]any{"name": "Round trips"})
	outsider := signUp(t, e, "rt-outsider")
	key := keyCreate(t, e, owner.Token, ws.ID, map[string]any{"name": "RT", "role": "member"}).Key
	elsewhere := wsCreate(t, e, outsider.Token, map[string]any{"name": "Elsewhere"})

	cases := []struct {
		name, path, token string
		status            int
	}{
		{"GET /api/auth/me", "/api/auth/me", owner.Token, http.StatusOK},
		{"GET /api/workspaces/{id} as a member", "/api/workspaces/" + ws.ID.String(), owner.Token, http.StatusOK},
		// An outsider is refused from the same single query.
		{"GET /api/workspaces/{id} as an outsider", "/api/workspaces/" + ws.ID.String(), outsider.Token, http.StatusForbidden},
		// An API key costs what a session costs.
		{"GET /api/workspaces/{id} with an API key", "/api/workspaces/" + ws.ID.String(), key, http.StatusOK},
		{"GET /api/workspaces with an API key", "/api/workspaces", key, http.StatusOK},
		{"GET /api/workspaces/{id} of another workspace with an API key", "/api/workspaces/" + elsewhere.ID.String(), key, http.StatusForbidden},
	}
	const rounds = 5
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Warm-up: pgx prepares each statement once per connection.
			for range 2 {
				if r := e.Get(c.path, c.token); r.Status != c.status {
					t.Fatalf("warm-up: status %d, want %d: %s", r.Status, c.status, r.Body)
				}
			}
			tr.take()
			for i := range rounds {
				r := e.Get(c.path, c.token)
				if r.Status != c.status {
					t.Fatalf("request %d: status %d, want %d: %s", i, r.Status, c.status, r.Body)
				}
				if got := tr.take(); len(got) > 1 {
					t.Errorf("request %d made %d database round trips, want at most 1:\n  %s",
						i, len(got), strings.Join(got, "\n  "))
				} else if len(got) == 0 && c.status == http.StatusOK {
					t.Errorf("request %d made no database round trip: the user's state must be read on every request", i)
				}
			}
		})
	}
	if t.Failed() {
		t.Log("issue #5 asks for one query per authenticated request: user, suspension, " +
			"membership and role (and, for GET /api/workspaces/{id}, the workspace) in one statement")
	}
}
