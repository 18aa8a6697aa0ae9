package store_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// raceRounds is how often each race is run; one round proves little.
const raceRounds = 20

// wsNewUser creates an active user with product access.
func wsNewUser(tb testing.TB, st *store.Store, name string) store.User {
	tb.Helper()
	return apitest.NewUser(tb, st, name+"@example.com", store.NewUserPolicy{Active: true})
}

// wsCodes returns the apperr code of each error, "" for nil.
func wsCodes(errs []error) []apperr.Code {
	codes := make([]apperr.Code, len(errs))
	for i, err := range errs {
		if err != nil {
			codes[i] = apperr.CodeOf(err)
		}
	}
	return codes
}

// wsTwoOwners creates a workspace whose only members are two owners.
func wsTwoOwners(tb testing.TB, st *store.Store, a, b store.User) uuid.UUID {
	tb.Helper()
	ws, err := st.CreateWorkspace(context.Background(), as(a.ID), store.NewWorkspace{Name: "Race"}, 14)
	if err != nil {
		tb.Fatalf("create workspace: %v", err)
	}
	apitest.AddMember(tb, st, ws.ID, b.ID, store.RoleOwner)
	return ws.ID
}

func TestStoreCreateWorkspaceProvisionsEverything(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{})
	ctx := context.Background()
	owner := wsNewUser(t, st, "owner")
	pn := "Acme Analytics"
	before := time.Now()
	ws, err := st.CreateWorkspace(ctx, as(owner.ID), store.NewWorkspace{Name: "Acme", ProductName: &pn}, 14)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if ws.Name != "Acme" || ws.ProductName == nil || *ws.ProductName != pn || ws.Role != store.RoleOwner ||
		ws.Plan != "trial" || ws.SubscriptionStatus != "trialing" || ws.TrialEndsAt == nil {
		t.Fatalf("workspace = %+v", ws)
	}
	if d := ws.TrialEndsAt.Sub(before); d < 14*24*time.Hour-time.Minute || d > 14*24*time.Hour+time.Minute {
		t.Errorf("trial ends %v after creation, want 14 days", d)
	}
	if roles := apitest.MemberRoles(t, st, ws.ID); len(roles) != 1 || roles[owner.ID] != store.RoleOwner {
		t.Errorf("members = %v", roles)
	}
	set, err := st.GetSettings(ctx, ws.ID)
	if err != nil || set != (store.Settings{DigestTimezone: "UTC"}) {
		t.Errorf("settings = %+v, %v", set, err)
	}
	var n int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM workspace_settings WHERE workspace_id = $1`, ws.ID).Scan(&n); err != nil || n != 1 {
		t.Errorf("settings rows = %d, %v", n, err)
	}
}

func TestStoreCreateWorkspaceIsOneTransaction(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{})
	ctx := context.Background()
	// An owner that does not exist fails the membership insert after the
	// workspace row was written: nothing may remain.
	_, err := st.CreateWorkspace(ctx, as(uuid.New()), store.NewWorkspace{Name: "Ghost"}, 14)
	if err == nil {
		t.Fatal("create with an unknown owner succeeded")
	}
	var n int
	if err := st.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM workspaces) + (SELECT count(*) FROM subscriptions)
		+ (SELECT count(*) FROM workspace_settings)`).Scan(&n); err != nil || n != 0 {
		t.Errorf("rows left behind = %d, %v", n, err)
	}
}

func TestStoreActorRoleIsReadUnderTheLock(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{})
	ctx := context.Background()
	owner, admin, gone := wsNewUser(t, st, "owner"), wsNewUser(t, st, "admin"), wsNewUser(t, st, "gone")
	ws, err := st.CreateWorkspace(ctx, as(owner.ID), store.NewWorkspace{Name: "Lock"}, 14)
	if err != nil {
		t.Fatal(err)
	}
	apitest.AddMember(t, st, ws.ID, admin.ID, store.RoleAdmin)
	key, _, err := st.CreateAPIKey(ctx, as(admin.ID), ws.ID, store.NewAPIKey{Name: "Before", Role: store.RoleMember})
	if err != nil {
		t.Fatal(err)
	}
	inv, err := st.CreateInvitation(ctx, as(admin.ID), ws.ID, store.NewInvitation{Email: "lock@example.com", Role: store.RoleMember})
	if err != nil {
		t.Fatal(err)
	}
	// The middleware saw "admin", but the row now says member: refused.
	if _, err := st.Pool().Exec(ctx, `UPDATE workspace_members SET role = 'member' WHERE user_id = $1`, admin.ID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := st.CreateAPIKey(ctx, as(admin.ID), ws.ID, store.NewAPIKey{Name: "After", Role: store.RoleMember}); apperr.CodeOf(err) != apperr.Forbidden {
		t.Errorf("API key creation by demoted admin: %v", err)
	}
	if err := st.RevokeAPIKey(ctx, as(admin.ID), ws.ID, key.ID); apperr.CodeOf(err) != apperr.Forbidden {
		t.Errorf("API key revocation by demoted admin: %v", err)
	}
	if _, err := st.CreateInvitation(ctx, as(admin.ID), ws.ID, store.NewInvitation{Email: "after@example.com", Role: store.RoleMember}); apperr.CodeOf(err) != apperr.Forbidden {
		t.Errorf("invitation by demoted admin: %v", err)
	}
	if err := st.RevokeInvitation(ctx, as(admin.ID), ws.ID, inv.ID); apperr.CodeOf(err) != apperr.Forbidden {
		t.Errorf("invitation revocation by demoted admin: %v", err)
	}
	var keys, invs int
	if err := st.Pool().QueryRow(ctx, `SELECT (SELECT count(*) FROM api_keys WHERE workspace_id = $1 AND revoked_at IS NULL),
		(SELECT count(*) FROM invitations WHERE workspace_id = $1 AND status = 'pending')`, ws.ID).Scan(&keys, &invs); err != nil || keys != 1 || invs != 1 {
		t.Errorf("live keys %d, pending invitations %d after refusals, want 1 and 1 (%v)", keys, invs, err)
	}
	if err := st.RemoveMember(ctx, as(admin.ID), ws.ID, owner.ID); apperr.CodeOf(err) != apperr.Forbidden {
		t.Errorf("remove by demoted admin: %v", err)
	}
	if _, err := st.ChangeMemberRole(ctx, as(admin.ID), ws.ID, admin.ID, store.RoleAdmin); apperr.CodeOf(err) != apperr.Forbidden {
		t.Errorf("role change by demoted admin: %v", err)
	}
	if _, err := st.UpdateWorkspace(ctx, as(admin.ID), ws.ID, store.WorkspacePatch{}); apperr.CodeOf(err) != apperr.Forbidden {
		t.Errorf("update by demoted admin: %v", err)
	}
	// An actor who is not a member at all.
	if err := st.RemoveMember(ctx, as(gone.ID), ws.ID, gone.ID); apperr.CodeOf(err) != apperr.Forbidden {
		t.Errorf("leave by a non-member: %v", err)
	}
	if err := st.DeleteWorkspace(ctx, as(gone.ID), ws.ID); apperr.CodeOf(err) != apperr.Forbidden {
		t.Errorf("delete by a non-member: %v", err)
	}
	if err := st.DeleteWorkspace(ctx, as(admin.ID), ws.ID); apperr.CodeOf(err) != apperr.Forbidden {
		t.Errorf("delete by a member: %v", err)
	}
	if roles := apitest.MemberRoles(t, st, ws.ID); len(roles) != 2 || roles[owner.ID] != store.RoleOwner {
		t.Errorf("members = %v", roles)
	}
}

// TestStoreActorRoleChangedWhileWaitingForTheLock: a change to the actor's
// membership committed by the transaction that held the workspace lock is
// seen once the lock is granted (a join in the locking statement would
// return the membership as it was before the wait).
func TestStoreActorRoleChangedWhileWaitingForTheLock(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{})
	ctx := context.Background()
	owner, admin, other := wsNewUser(t, st, "owner"), wsNewUser(t, st, "admin"), wsNewUser(t, st, "other")
	for _, change := range []string{
		`UPDATE workspace_members SET role = 'member' WHERE workspace_id = $1 AND user_id = $2`,
		`DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2`,
	} {
		ws, err := st.CreateWorkspace(ctx, as(owner.ID), store.NewWorkspace{Name: "Wait"}, 14)
		if err != nil {
			t.Fatal(err)
		}
		apitest.AddMember(t, st, ws.ID, admin.ID, store.RoleAdmin)
		apitest.AddMember(t, st, ws.ID, other.ID, store.RoleMember)

		tx, err := st.Pool().Begin(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, `SELECT 1 FROM workspaces WHERE id = $1 FOR UPDATE`, ws.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := tx.Exec(ctx, change, ws.ID, admin.ID); err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() { done <- st.RemoveMember(ctx, as(admin.ID), ws.ID, other.ID) }()
		wsWaitForLockWaiter(t, st)
		if err := tx.Commit(ctx); err != nil {
			t.Fatal(err)
		}
		if err := <-done; apperr.CodeOf(err) != apperr.Forbidden {
			t.Errorf("%s: remove by the changed admin = %v, want FORBIDDEN", change, err)
		}
		if roles := apitest.MemberRoles(t, st, ws.ID); roles[other.ID] != store.RoleMember {
			t.Errorf("%s: the member was removed: %v", change, roles)
		}
	}
}

// wsWaitForLockWaiter waits until a session of this database waits for a lock.
func wsWaitForLockWaiter(tb testing.TB, st *store.Store) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		var n int
		if err := st.Pool().QueryRow(context.Background(), `SELECT count(*) FROM pg_stat_activity
			WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&n); err != nil {
			tb.Fatal(err)
		}
		if n > 0 {
			return
		}
		time.Sleep(5 * time.Millisecond)
	}
	tb.Fatal("no session waited for the workspace lock")
}

// wsRaceTwoOwners runs raceRounds races on fresh workspaces whose only
// members are two owners, a and b: a calls call as the actor with b as the
// other member while b calls it the other way round. Exactly one call must
// succeed and the other fail with loser, leaving one owner among members
// members.
func wsRaceTwoOwners(t *testing.T, st *store.Store, loser apperr.Code, members int, call func(wsID, actor, other uuid.UUID) error) {
	t.Helper()
	a, b := wsNewUser(t, st, "a"), wsNewUser(t, st, "b")
	for round := range raceRounds {
		wsID := wsTwoOwners(t, st, a, b)
		codes := wsCodes(apitest.Race(2, func(i int) error {
			if i == 0 {
				return call(wsID, a.ID, b.ID)
			}
			return call(wsID, b.ID, a.ID)
		}))
		wsAssertOneWinner(t, round, codes, loser)
		if roles := apitest.MemberRoles(t, st, wsID); roles.Owners() != 1 || len(roles) != members {
			t.Fatalf("round %d: roles = %v", round, roles)
		}
	}
}

// TestStoreRaceMutualDemotion: the only two owners demote each other at
// once. Whichever takes the lock first wins; the other, its role re-read
// under the lock, is no longer an owner (not even an admin) and is refused
// with FORBIDDEN, as it would be in either serial order (LAST_OWNER is not
// a serial outcome here). Exactly one owner remains.
func TestStoreRaceMutualDemotion(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{})
	wsRaceTwoOwners(t, st, apperr.Forbidden, 2, func(wsID, actor, other uuid.UUID) error {
		_, err := st.ChangeMemberRole(context.Background(), as(actor), wsID, other, store.RoleMember)
		return err
	})
}

// TestStoreRaceSelfDemotion: the only two owners each step down to admin at
// once: one 200, the other is the last owner (LAST_OWNER).
func TestStoreRaceSelfDemotion(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{})
	wsRaceTwoOwners(t, st, apperr.LastOwner, 2, func(wsID, actor, _ uuid.UUID) error {
		_, err := st.ChangeMemberRole(context.Background(), as(actor), wsID, actor, store.RoleAdmin)
		return err
	})
}

// TestStoreRaceMutualRemoval: the only two owners remove each other at
// once. The second, under the lock, is no longer a member: FORBIDDEN.
func TestStoreRaceMutualRemoval(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{})
	wsRaceTwoOwners(t, st, apperr.Forbidden, 1, func(wsID, actor, other uuid.UUID) error {
		return st.RemoveMember(context.Background(), as(actor), wsID, other)
	})
}

// TestStoreRaceBothLeave: the only two owners leave at once: one leaves,
// the other is the last owner (LAST_OWNER).
func TestStoreRaceBothLeave(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{})
	wsRaceTwoOwners(t, st, apperr.LastOwner, 1, func(wsID, actor, _ uuid.UUID) error {
		return st.RemoveMember(context.Background(), as(actor), wsID, actor)
	})
}

// TestStoreRaceMixedOwnerRemovals: three owners; every path that can remove
// an owner runs at once (two leave, one demotes the third). Whatever the
// order, at least one owner remains and every refusal is LAST_OWNER,
// FORBIDDEN or NOT_FOUND.
func TestStoreRaceMixedOwnerRemovals(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{})
	ctx := context.Background()
	a, b, c := wsNewUser(t, st, "a"), wsNewUser(t, st, "b"), wsNewUser(t, st, "c")
	for round := range raceRounds {
		wsID := wsTwoOwners(t, st, a, b)
		apitest.AddMember(t, st, wsID, c.ID, store.RoleOwner)
		calls := []func() error{
			func() error { return st.RemoveMember(ctx, as(a.ID), wsID, a.ID) },
			func() error { return st.RemoveMember(ctx, as(b.ID), wsID, b.ID) },
			func() error { _, err := st.ChangeMemberRole(ctx, as(c.ID), wsID, c.ID, store.RoleMember); return err },
			func() error { return st.RemoveMember(ctx, as(c.ID), wsID, a.ID) },
		}
		codes := wsCodes(apitest.Race(len(calls), func(i int) error { return calls[i]() }))
		for i, code := range codes {
			switch code {
			case "", apperr.LastOwner, apperr.Forbidden, apperr.NotFound:
			default:
				t.Fatalf("round %d: call %d answered %s", round, i, code)
			}
		}
		if roles := apitest.MemberRoles(t, st, wsID); roles.Owners() < 1 {
			t.Fatalf("round %d: no owner left: %v (codes %v)", round, roles, codes)
		}
	}
}

// wsAssertOneWinner checks that exactly one of two calls succeeded and the
// other failed with loser.
func wsAssertOneWinner(tb testing.TB, round int, codes []apperr.Code, loser apperr.Code) {
	tb.Helper()
	ok, lost := 0, 0
	for _, c := range codes {
		switch c {
		case "":
			ok++
		case loser:
			lost++
		}
	}
	if ok != 1 || lost != 1 {
		tb.Fatalf("round %d: codes = %v, want one success and one %s", round, codes, loser)
	}
}

func TestStoreListsCountPastTheEnd(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{})
	ctx := context.Background()
	owner := wsNewUser(t, st, "owner")
	var wsID uuid.UUID
	for i := range 3 {
		ws, err := st.CreateWorkspace(ctx, as(owner.ID), store.NewWorkspace{Name: fmt.Sprint("W", i)}, 14)
		if err != nil {
			t.Fatal(err)
		}
		wsID = ws.ID
	}
	list, total, err := st.ListWorkspaces(ctx, owner.ID, 2, 10)
	if err != nil || len(list) != 0 || total != 3 {
		t.Errorf("workspaces past the end: %d items, total %d, %v", len(list), total, err)
	}
	apitest.AddMember(t, st, wsID, wsNewUser(t, st, "m").ID, store.RoleMember)
	members, total, err := st.ListMembers(ctx, wsID, 1, 5)
	if err != nil || len(members) != 0 || total != 2 {
		t.Errorf("members past the end: %d items, total %d, %v", len(members), total, err)
	}
	members, total, err = st.ListMembers(ctx, wsID, 1, 1)
	if err != nil || len(members) != 1 || total != 2 {
		t.Errorf("members page 2: %d items, total %d, %v", len(members), total, err)
	}
}
