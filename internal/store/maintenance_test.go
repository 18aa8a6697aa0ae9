package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// The plan on the user row (migration 00003) follows memberships and
// subscriptions through triggers: the best plan, canceled ones not counted.
func TestUserPlanFollowsMembershipsAndSubscriptions(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{})
	ctx := context.Background()
	owner := apitest.NewUser(t, st, "owner-plan@example.com", store.NewUserPolicy{Active: true})
	u := apitest.NewUser(t, st, "plan@example.com", store.NewUserPolicy{Active: true})
	plan := func() string {
		t.Helper()
		got, err := st.UserByClerkID(ctx, u.ClerkID)
		if err != nil {
			t.Fatal(err)
		}
		return got.Plan
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := st.Pool().Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	setPlan := func(ws uuid.UUID, p, status string) {
		exec(`UPDATE subscriptions SET plan = $2, status = $3 WHERE workspace_id = $1`, ws, p, status)
	}
	if got := plan(); got != "trial" {
		t.Fatalf("no workspace: plan %q, want trial", got)
	}
	w1 := apitest.InsertWorkspace(t, st, "W1", owner.ID)
	w2 := apitest.InsertWorkspace(t, st, "W2", owner.ID)
	setPlan(w1, "pro", "active")
	setPlan(w2, "power", "active")
	apitest.AddMember(t, st, w1, u.ID, store.RoleMember)
	if got := plan(); got != "pro" {
		t.Fatalf("member of a pro workspace: plan %q", got)
	}
	apitest.AddMember(t, st, w2, u.ID, store.RoleMember)
	if got := plan(); got != "power" {
		t.Fatalf("best of pro and power: plan %q", got)
	}
	setPlan(w2, "power", "canceled")
	if got := plan(); got != "pro" {
		t.Fatalf("canceled power must not count: plan %q", got)
	}
	setPlan(w2, "growth", "past_due")
	if got := plan(); got != "growth" {
		t.Fatalf("past_due growth counts: plan %q", got)
	}
	exec(`DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2`, w2, u.ID)
	if got := plan(); got != "pro" {
		t.Fatalf("after leaving the growth workspace: plan %q", got)
	}
	exec(`DELETE FROM workspaces WHERE id = $1`, w1)
	if got := plan(); got != "trial" {
		t.Fatalf("after the last workspace was deleted: plan %q", got)
	}
	o, err := st.UserByClerkID(ctx, owner.ClerkID)
	if err != nil {
		t.Fatal(err)
	}
	if o.Plan != "growth" {
		t.Fatalf("owner of the remaining growth workspace: plan %q", o.Plan)
	}
}

func TestPruneWebhookEvents(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{})
	ctx := context.Background()
	if _, err := st.Pool().Exec(ctx, `INSERT INTO webhook_events (svix_id, event_type, processed_at)
		SELECT 'old_' || i, 'user.updated', now() - interval '8 days' FROM generate_series(1, 5003) i`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `INSERT INTO webhook_events (svix_id, event_type) VALUES ('fresh', 'user.updated')`); err != nil {
		t.Fatal(err)
	}
	n, err := st.PruneWebhookEvents(ctx, 7*24*time.Hour)
	if err != nil || n != 5003 {
		t.Fatalf("pruned %d, %v; want 5003 (two batches)", n, err)
	}
	var left []string
	rows, _ := st.Pool().Query(ctx, `SELECT svix_id FROM webhook_events`)
	for rows.Next() {
		var id string
		_ = rows.Scan(&id)
		left = append(left, id)
	}
	if len(left) != 1 || left[0] != "fresh" {
		t.Fatalf("left %v, want only the fresh record", left)
	}
}
