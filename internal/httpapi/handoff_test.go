package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/devtoken"
	"github.com/praxiom/praxiom-api/internal/testenv"
)

// hoJoin puts userID into wsID with role, joined `ago` before now.
func hoJoin(t *testing.T, e *testenv.Env, wsID, userID uuid.UUID, role string, ago time.Duration) {
	t.Helper()
	if _, err := e.Store.Pool().Exec(context.Background(),
		`INSERT INTO workspace_members (workspace_id, user_id, role, joined_at) VALUES ($1, $2, $3, now() - $4::interval)
		 ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role, joined_at = excluded.joined_at`,
		wsID, userID, role, fmt.Sprintf("%d seconds", int(ago.Seconds()))); err != nil {
		t.Fatal(err)
	}
}

// hoRoles returns user → role of a workspace (nil when it no longer exists).
func hoRoles(t *testing.T, e *testenv.Env, wsID uuid.UUID) map[uuid.UUID]string {
	t.Helper()
	if wsCount(t, e, "workspaces", wsID) == 0 {
		return nil
	}
	rows, err := e.Store.Pool().Query(context.Background(), `SELECT user_id, role FROM workspace_members WHERE workspace_id = $1`, wsID)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[uuid.UUID]string{}
	for rows.Next() {
		var id uuid.UUID
		var role string
		if err := rows.Scan(&id, &role); err != nil {
			t.Fatal(err)
		}
		out[id] = role
	}
	return out
}

func hoDelete(t *testing.T, e *testenv.Env, p wsPerson) *testenv.Response {
	t.Helper()
	return e.Deliver("msg_"+uuid.NewString(), testenv.DeletedEvent(devtoken.SubjectForEmail(p.Email), time.Now()))
}

func TestUserDeletedHandsOffWorkspaces(t *testing.T) {
	e := wsNewEnv(t, testenv.Options{PLGGatingOff: true})

	t.Run("longest-standing admin is promoted, before any member", func(t *testing.T) {
		owner, oldMember, oldAdmin, newAdmin := wsSignUp(t, e, "o"), wsSignUp(t, e, "m"), wsSignUp(t, e, "a1"), wsSignUp(t, e, "a2")
		ws := wsCreate(t, e, owner.Token, map[string]any{"name": "Acme"})
		hoJoin(t, e, ws.ID, oldMember.ID, "member", 3*time.Hour)
		hoJoin(t, e, ws.ID, oldAdmin.ID, "admin", 2*time.Hour)
		hoJoin(t, e, ws.ID, newAdmin.ID, "admin", time.Hour)
		wsWant(t, hoDelete(t, e, owner), http.StatusOK, "")
		got := hoRoles(t, e, ws.ID)
		want := map[uuid.UUID]string{oldMember.ID: "member", oldAdmin.ID: "owner", newAdmin.ID: "admin"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("roles = %v, want %v", got, want)
		}
		// The deleted owner is gone for good, and the promoted admin acts as owner.
		wsWant(t, e.Get("/api/auth/me", owner.Token), http.StatusUnauthorized, "UNAUTHORIZED")
		wsWant(t, wsCall(t, e, http.MethodDelete, wsPath(ws.ID, ""), oldAdmin.Token, nil), http.StatusNoContent, "")
	})

	t.Run("longest-standing member is promoted when there is no admin", func(t *testing.T) {
		owner, m1, m2 := wsSignUp(t, e, "o"), wsSignUp(t, e, "m1"), wsSignUp(t, e, "m2")
		ws := wsCreate(t, e, owner.Token, map[string]any{"name": "Acme"})
		hoJoin(t, e, ws.ID, m2.ID, "member", time.Hour)
		hoJoin(t, e, ws.ID, m1.ID, "member", 2*time.Hour)
		wsWant(t, hoDelete(t, e, owner), http.StatusOK, "")
		got := hoRoles(t, e, ws.ID)
		if got[m1.ID] != "owner" || got[m2.ID] != "member" || len(got) != 2 {
			t.Fatalf("roles = %v", got)
		}
	})

	t.Run("a workspace left with nobody is deleted with everything in it", func(t *testing.T) {
		owner := wsSignUp(t, e, "o")
		ws := wsCreate(t, e, owner.Token, map[string]any{"name": "Solo"})
		wsWant(t, wsCall(t, e, http.MethodPost, wsPath(ws.ID, "/invitations"), owner.Token,
			map[string]any{"email": "someone@example.com", "role": "member"}), http.StatusCreated, "")
		wsWant(t, hoDelete(t, e, owner), http.StatusOK, "")
		for _, table := range []string{"workspaces", "workspace_members", "subscriptions", "workspace_settings", "invitations"} {
			if n := wsCount(t, e, table, ws.ID); n != 0 {
				t.Fatalf("%s still has %d rows", table, n)
			}
		}
	})

	t.Run("another owner remains: nobody is promoted", func(t *testing.T) {
		o1, o2, a := wsSignUp(t, e, "o1"), wsSignUp(t, e, "o2"), wsSignUp(t, e, "a")
		ws := wsCreate(t, e, o1.Token, map[string]any{"name": "Two owners"})
		hoJoin(t, e, ws.ID, a.ID, "admin", 5*time.Hour)
		hoJoin(t, e, ws.ID, o2.ID, "owner", time.Hour)
		wsWant(t, hoDelete(t, e, o1), http.StatusOK, "")
		got := hoRoles(t, e, ws.ID)
		if got[o2.ID] != "owner" || got[a.ID] != "admin" || len(got) != 2 {
			t.Fatalf("roles = %v", got)
		}
	})

	t.Run("every workspace of the user is handed off", func(t *testing.T) {
		owner, m := wsSignUp(t, e, "o"), wsSignUp(t, e, "m")
		var ids []uuid.UUID
		for i := 0; i < 3; i++ {
			ws := wsCreate(t, e, owner.Token, map[string]any{"name": fmt.Sprint("W", i)})
			hoJoin(t, e, ws.ID, m.ID, "member", time.Hour)
			ids = append(ids, ws.ID)
		}
		wsWant(t, hoDelete(t, e, owner), http.StatusOK, "")
		for _, id := range ids {
			if got := hoRoles(t, e, id); got[m.ID] != "owner" || len(got) != 1 {
				t.Fatalf("workspace %s roles = %v", id, got)
			}
		}
	})
}

// TestUserDeletedRacesOwnerLeaving: the webhook deleting one owner and the
// other owner leaving at the same moment never leave a workspace without an
// owner (both paths take the workspace lock before counting owners).
func TestUserDeletedRacesOwnerLeaving(t *testing.T) {
	e := wsNewEnv(t, testenv.Options{PLGGatingOff: true})
	for round := 0; round < 20; round++ {
		a, b, m := wsSignUp(t, e, "a"), wsSignUp(t, e, "b"), wsSignUp(t, e, "m")
		ws := wsCreate(t, e, a.Token, map[string]any{"name": "Race"})
		hoJoin(t, e, ws.ID, b.ID, "owner", time.Hour)
		hoJoin(t, e, ws.ID, m.ID, "member", 2*time.Hour)
		start := make(chan struct{})
		var wg sync.WaitGroup
		var leave *testenv.Response
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			hoDelete(t, e, a)
		}()
		go func() {
			defer wg.Done()
			<-start
			leave = wsCall(t, e, http.MethodDelete, wsPath(ws.ID, "/members/"+b.ID.String()), b.Token, nil)
		}()
		close(start)
		wg.Wait()
		roles := hoRoles(t, e, ws.ID)
		owners := 0
		for _, r := range roles {
			if r == "owner" {
				owners++
			}
		}
		if roles != nil && owners == 0 {
			t.Fatalf("round %d: workspace left without an owner: %v (leave answered %d)", round, roles, leave.Status)
		}
		if leave.Status != http.StatusNoContent && leave.Status != http.StatusConflict {
			t.Fatalf("round %d: leave answered %d: %s", round, leave.Status, leave.Body)
		}
	}
}
