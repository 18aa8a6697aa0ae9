package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// TestIdempotentClaimTakenOverMakesNoChange: a request whose lease passed
// (its instance looked dead) while it still ran loses its claim to a retry;
// the first request's change is then refused in its own transaction, so
// only the retry's change is made.
func TestIdempotentClaimTakenOverMakesNoChange(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{})
	ctx := context.Background()
	owner := wsNewUser(t, st, "takeover")
	claim := func() *store.IdempotentRequest {
		t.Helper()
		req := &store.IdempotentRequest{Principal: "user:" + owner.ID.String(), Key: "k", Method: "POST", Path: "/api/workspaces"}
		out, _, err := st.BeginIdempotent(ctx, req, time.Minute)
		if err != nil || out != store.IdempotencyClaimed {
			t.Fatalf("claim: %v, %v", out, err)
		}
		return req
	}
	first := claim()
	if _, err := st.Pool().Exec(ctx, `UPDATE idempotency_keys SET locked_until = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	retry := claim()
	if _, err := st.CreateWorkspace(store.WithIdempotentRequest(ctx, first), as(owner.ID), store.NewWorkspace{Name: "First"}, 14); apperr.CodeOf(err) != apperr.IdempotencyKeyInUse {
		t.Fatalf("the overtaken request's change: %v, want IDEMPOTENCY_KEY_IN_USE", err)
	}
	if _, err := st.CreateWorkspace(store.WithIdempotentRequest(ctx, retry), as(owner.ID), store.NewWorkspace{Name: "Retry"}, 14); err != nil {
		t.Fatal(err)
	}
	// Committed: released or overtaken, it stays.
	if err := st.ReleaseIdempotent(ctx, retry); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `UPDATE idempotency_keys SET locked_until = now() - interval '1 second'`); err != nil {
		t.Fatal(err)
	}
	req := &store.IdempotentRequest{Principal: "user:" + owner.ID.String(), Key: "k", Method: "POST", Path: "/api/workspaces"}
	if out, _, err := st.BeginIdempotent(ctx, req, time.Minute); err != nil || out != store.IdempotencyInFlight {
		t.Fatalf("after a committed change: %v, %v; want in flight", out, err)
	}
	rows, _ := st.Pool().Query(ctx, `SELECT name FROM workspaces`)
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil || len(names) != 1 || names[0] != "Retry" {
		t.Fatalf("workspaces %v (%v), want only Retry", names, err)
	}
}
