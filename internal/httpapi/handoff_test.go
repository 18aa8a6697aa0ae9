package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/devtoken"
)

// hoJoin puts userID into wsID with role, joined `ago` before now.
func hoJoin(t *testing.T, e *apitest.Env, wsID, userID uuid.UUID, role string, ago time.Duration) {
	t.Helper()
	if _, err := e.Store.Pool().Exec(context.Background(),
		`INSERT INTO workspace_members (workspace_id, user_id, role, joined_at) VALUES ($1, $2, $3, now() - $4::interval)
		 ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role, joined_at = excluded.joined_at`,
		wsID, userID, role, fmt.Sprintf("%d seconds", int(ago.Seconds()))); err != nil {
		t.Fatal(err)
	}
}

// hoRoles returns user → role of a workspace (nil when it no longer exists).
func hoRoles(t *testing.T, e *apitest.Env, wsID uuid.UUID) apitest.Roles {
	t.Helper()
	if wsCount(t, e, "workspaces", wsID) == 0 {
		return nil
	}
	return apitest.MemberRoles(t, e.Store, wsID)
}

func hoDelete(t *testing.T, e *apitest.Env, p person) *apitest.Response {
	t.Helper()
	return e.Deliver("msg_"+uuid.NewString(), apitest.DeletedEvent(devtoken.SubjectForEmail(p.Email), time.Now()))
}

func TestUserDeletedHandsOffWorkspaces(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})

	t.Run("longest-standing admin is promoted, before any member", func(t *testing.T) {
		owner, oldMember, oldAdmin, newAdmin := signUp(t, e, "o"), signUp(t, e, "m"), signUp(t, e, "a1"), signUp(t, e, "a2")
		ws := wsCreate(t, e, owner.Token, map[string]any{"name": "Acme"})
		hoJoin(t, e, ws.ID, oldMember.ID, "member", 3*time.Hour)
		hoJoin(t, e, ws.ID, oldAdmin.ID, "admin", 2*time.Hour)
		hoJoin(t, e, ws.ID, newAdmin.ID, "admin", time.Hour)
		wantStatus(t, hoDelete(t, e, owner), http.StatusOK)
		got := hoRoles(t, e, ws.ID)
		want := map[uuid.UUID]string{oldMember.ID: "member", oldAdmin.ID: "owner", newAdmin.ID: "admin"}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("roles = %v, want %v", got, want)
		}
		// The deleted owner is gone for good, and the promoted admin acts as owner.
		wantError(t, e.Get("/api/auth/me", owner.Token), http.StatusUnauthorized, "UNAUTHORIZED")
		wantStatus(t, e.Do(apitest.Request{Method: http.MethodDelete, Path: wsPath(ws.ID, ""), Token: oldAdmin.Token}), http.StatusNoContent)
	})

	t.Run("longest-standing member is promoted when there is no admin", func(t *testing.T) {
		owner, m1, m2 := signUp(t, e, "o"), signUp(t, e, "m1"), signUp(t, e, "m2")
		ws := wsCreate(t, e, owner.Token, map[string]any{"name": "Acme"})
		hoJoin(t, e, ws.ID, m2.ID, "member", time.Hour)
		hoJoin(t, e, ws.ID, m1.ID, "member", 2*time.Hour)
		wantStatus(t, hoDelete(t, e, owner), http.StatusOK)
		got := hoRoles(t, e, ws.ID)
		if got[m1.ID] != "owner" || got[m2.ID] != "member" || len(got) != 2 {
			t.Fatalf("roles = %v", got)
		}
	})

	t.Run("a workspace left with nobody is deleted with everything in it", func(t *testing.T) {
		owner := signUp(t, e, "o")
		ws := wsCreate(t, e, owner.Token, map[string]any{"name": "Solo"})
		wantStatus(t, e.Do(apitest.Request{Method: http.MethodPost, Path: wsPath(ws.ID, "/invitations"), Token: owner.Token,
			Body: map[string]any{"email": "someone@example.com", "role": "member"}}), http.StatusCreated)
		wantStatus(t, hoDelete(t, e, owner), http.StatusOK)
		for _, table := range []string{"workspaces", "workspace_members", "subscriptions", "workspace_settings", "invitations"} {
			if n := wsCount(t, e, table, ws.ID); n != 0 {
				t.Fatalf("%s still has %d rows", table, n)
			}
		}
	})

	t.Run("another owner remains: nobody is promoted", func(t *testing.T) {
		o1, o2, a := signUp(t, e, "o1"), signUp(t, e, "o2"), signUp(t, e, "a")
		ws := wsCreate(t, e, o1.Token, map[string]any{"name": "Two owners"})
		hoJoin(t, e, ws.ID, a.ID, "admin", 5*time.Hour)
		hoJoin(t, e, ws.ID, o2.ID, "owner", time.Hour)
		wantStatus(t, hoDelete(t, e, o1), http.StatusOK)
		got := hoRoles(t, e, ws.ID)
		if got[o2.ID] != "owner" || got[a.ID] != "admin" || len(got) != 2 {
			t.Fatalf("roles = %v", got)
		}
	})

	t.Run("every workspace of the user is handed off", func(t *testing.T) {
		owner, m := signUp(t, e, "o"), signUp(t, e, "m")
		var ids []uuid.UUID
		for i := 0; i < 3; i++ {
			ws := wsCreate(t, e, owner.Token, map[string]any{"name": fmt.Sprint("W", i)})
			hoJoin(t, e, ws.ID, m.ID, "member", time.Hour)
			ids = append(ids, ws.ID)
		}
		wantStatus(t, hoDelete(t, e, owner), http.StatusOK)
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
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	for round := 0; round < 20; round++ {
		a, b, m := signUp(t, e, "a"), signUp(t, e, "b"), signUp(t, e, "m")
		ws := wsCreate(t, e, a.Token, map[string]any{"name": "Race"})
		hoJoin(t, e, ws.ID, b.ID, "owner", time.Hour)
		hoJoin(t, e, ws.ID, m.ID, "member", 2*time.Hour)
		rs := apitest.Race(2, func(i int) *apitest.Response {
			if i == 0 {
				return hoDelete(t, e, a)
			}
			return e.Do(apitest.Request{Method: http.MethodDelete, Path: wsPath(ws.ID, "/members/"+b.ID.String()), Token: b.Token})
		})
		leave := rs[1]
		roles := hoRoles(t, e, ws.ID)
		if roles != nil && roles.Owners() == 0 {
			t.Fatalf("round %d: workspace left without an owner: %v (leave answered %d)", round, roles, leave.Status)
		}
		if leave.Status != http.StatusNoContent && leave.Status != http.StatusConflict {
			t.Fatalf("round %d: leave answered %d: %s", round, leave.Status, leave.Body)
		}
	}
}
