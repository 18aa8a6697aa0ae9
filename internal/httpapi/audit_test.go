package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/devtoken"
	"github.com/praxiom/praxiom-api/internal/store"
)

// auditOut is an audit event as the API shows it, read independently of the
// server's types.
type auditOut struct {
	ID     uuid.UUID `json:"id"`
	Action string    `json:"action"`
	Actor  struct {
		Type         string     `json:"type"`
		ID           *uuid.UUID `json:"id"`
		Name         string     `json:"name"`
		Impersonator *string    `json:"impersonator"`
	} `json:"actor"`
	WorkspaceID *uuid.UUID `json:"workspace_id"`
	Target      struct {
		Type string `json:"type"`
		ID   string `json:"id"`
	} `json:"target"`
	Metadata  map[string]any `json:"metadata"`
	RequestID *string        `json:"request_id"`
	IP        *string        `json:"ip"`
	CreatedAt time.Time      `json:"created_at"`
}

type auditPage struct {
	Events     []auditOut `json:"events"`
	NextCursor *string    `json:"next_cursor"`
}

// nameOf is the name a person signed up through the API has: their
// email's local part (the token's name claim).
func nameOf(p person) string { return strings.Split(p.Email, "@")[0] }

// auditCount counts the stored events of action.
func auditCount(t *testing.T, e *apitest.Env, action string) int {
	t.Helper()
	return scalar[int](t, e, `SELECT count(*) FROM audit_events WHERE action = $1`, action)
}

// lastEvent reads the newest event of action through the platform admin's
// log.
func lastEvent(t *testing.T, e *apitest.Env, adminTok, action string) auditOut {
	t.Helper()
	page := wantJSON[auditPage](t, e.Get("/api/admin/audit-log?limit=1&action="+action, adminTok), http.StatusOK)
	if len(page.Events) != 1 {
		t.Fatalf("no %s event", action)
	}
	return page.Events[0]
}

// TestAuditEveryAction performs each change and finds exactly one event of
// its action, with the actor, the workspace, the target, the metadata, and
// the request's id and address.
func TestAuditEveryAction(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	ctx := context.Background()
	admin := signUp(t, e, "audit-admin")
	owner := signUp(t, e, "audit-owner")
	bob := signUp(t, e, "audit-bob")
	for _, a := range []store.AdminAction{store.GrantAdmin, store.GrantAccess} {
		if _, err := e.Store.AdministerUser(ctx, a, store.ByEmail(admin.Email)); err != nil {
			t.Fatal(err)
		}
	}

	type step struct {
		action string
		do     func() *apitest.Response // nil response: a change made outside HTTP
		check  func(ev auditOut)
	}
	var ws wsWorkspace
	var inv, bobInv invitationBody
	var key apiKeyOut
	var codeID string
	var entryID uuid.UUID
	actorIs := func(ev auditOut, typ string, id *uuid.UUID, name string) {
		t.Helper()
		if ev.Actor.Type != typ || (id == nil) != (ev.Actor.ID == nil) || (id != nil && *ev.Actor.ID != *id) ||
			ev.Actor.Name != name || ev.Actor.Impersonator != nil {
			t.Errorf("%s: actor %+v, want %s %v %q", ev.Action, ev.Actor, typ, id, name)
		}
	}
	onWorkspace := func(ev auditOut, targetType, targetID string) {
		t.Helper()
		if ev.WorkspaceID == nil || *ev.WorkspaceID != ws.ID || ev.Target.Type != targetType || ev.Target.ID != targetID {
			t.Errorf("%s: workspace %v, target %+v; want %s, %s %s", ev.Action, ev.WorkspaceID, ev.Target, ws.ID, targetType, targetID)
		}
	}
	steps := []step{
		{"user.access_granted", func() *apitest.Response {
			if _, err := e.Store.AdministerUser(ctx, store.GrantAccess, store.ByEmail(owner.Email)); err != nil {
				t.Fatal(err)
			}
			return nil
		}, func(ev auditOut) {
			actorIs(ev, "cli", nil, "praxiom command line")
			if ev.Target.Type != "user" || ev.Target.ID != owner.ID.String() || ev.RequestID != nil || ev.IP != nil {
				t.Errorf("cli event: %+v", ev)
			}
		}},
		{"workspace.created", func() *apitest.Response {
			r := e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/workspaces", Token: owner.Token, Body: map[string]any{"name": "Audited"}})
			ws = wantJSON[wsWorkspace](t, r, http.StatusCreated)
			return r
		}, func(ev auditOut) {
			actorIs(ev, "user", &owner.ID, nameOf(owner))
			onWorkspace(ev, "workspace", ws.ID.String())
			if ev.Metadata["name"] != "Audited" {
				t.Errorf("metadata %v", ev.Metadata)
			}
		}},
		{"workspace.updated", func() *apitest.Response {
			return e.Do(apitest.Request{Method: http.MethodPatch, Path: wsPath(ws.ID, ""), Token: owner.Token,
				Body: map[string]any{"name": "Renamed", "target_users": "PMs"}})
		}, func(ev auditOut) {
			// A workspace route reads the caller, not the whole user:
			// its name must still reach the event.
			actorIs(ev, "user", &owner.ID, nameOf(owner))
			onWorkspace(ev, "workspace", ws.ID.String())
			if f, _ := json.Marshal(ev.Metadata["fields"]); string(f) != `["name","target_users"]` {
				t.Errorf("fields %s", f)
			}
		}},
		{"settings.updated", func() *apitest.Response {
			return e.Do(apitest.Request{Method: http.MethodPatch, Path: wsPath(ws.ID, "/settings"), Token: owner.Token,
				Body: map[string]any{"digest_timezone": "Europe/Paris"}})
		}, func(ev auditOut) { onWorkspace(ev, "workspace", ws.ID.String()) }},
		{"invitation.created", func() *apitest.Response {
			r := e.Do(apitest.Request{Method: http.MethodPost, Path: wsPath(ws.ID, "/invitations"), Token: owner.Token,
				Body: map[string]any{"email": "guest@example.com", "role": "member"}})
			inv = wantJSON[invitationBody](t, r, http.StatusCreated)
			return r
		}, func(ev auditOut) {
			onWorkspace(ev, "invitation", inv.ID.String())
			if ev.Metadata["email"] != "guest@example.com" || ev.Metadata["role"] != "member" {
				t.Errorf("metadata %v", ev.Metadata)
			}
		}},
		{"invitation.resent", func() *apitest.Response {
			// A minute has passed since the invitation's first email.
			execSQL(t, e, `UPDATE invitations SET email_requested_at = now() - interval '2 minutes' WHERE id = $1`, inv.ID)
			return e.Do(apitest.Request{Method: http.MethodPost, Path: wsPath(ws.ID, "/invitations/"+inv.ID.String()+"/resend"), Token: owner.Token})
		}, func(ev auditOut) {
			onWorkspace(ev, "invitation", inv.ID.String())
			if ev.Metadata["email"] != "guest@example.com" {
				t.Errorf("metadata %v", ev.Metadata)
			}
		}},
		{"invitation.revoked", func() *apitest.Response {
			return e.Do(apitest.Request{Method: http.MethodDelete, Path: wsPath(ws.ID, "/invitations/"+inv.ID.String()), Token: owner.Token})
		}, func(ev auditOut) { onWorkspace(ev, "invitation", inv.ID.String()) }},
		{"invitation.accepted", func() *apitest.Response {
			bobInv = invCreate(t, e, owner.Token, ws.ID, bob.Email, "member")
			return e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/invitations/" + bobInv.Token + "/accept", Token: bob.Token})
		}, func(ev auditOut) {
			actorIs(ev, "user", &bob.ID, nameOf(bob))
			onWorkspace(ev, "invitation", bobInv.ID.String())
		}},
		{"member.role_changed", func() *apitest.Response {
			return e.Do(apitest.Request{Method: http.MethodPatch, Path: wsPath(ws.ID, "/members/"+bob.ID.String()), Token: owner.Token,
				Body: map[string]any{"role": "admin"}})
		}, func(ev auditOut) {
			onWorkspace(ev, "user", bob.ID.String())
			if ev.Metadata["from"] != "member" || ev.Metadata["to"] != "admin" {
				t.Errorf("metadata %v, want from member to admin", ev.Metadata)
			}
		}},
		{"api_key.created", func() *apitest.Response {
			r := e.Do(apitest.Request{Method: http.MethodPost, Path: wsPath(ws.ID, "/api-keys"), Token: owner.Token,
				Body: map[string]any{"name": "Zapier", "role": "admin"}})
			key = wantJSON[apiKeyOut](t, r, http.StatusCreated)
			return r
		}, func(ev auditOut) {
			onWorkspace(ev, "api_key", key.ID.String())
			if ev.Metadata["name"] != "Zapier" || ev.Metadata["prefix"] != key.Prefix {
				t.Errorf("metadata %v", ev.Metadata)
			}
			if strings.Contains(ev.Metadata["prefix"].(string)+ev.Target.ID, key.Key[12:]) {
				t.Error("the event holds the key")
			}
		}},
		{"member.removed", func() *apitest.Response {
			// An admin key removes bob: the actor is the key.
			return e.Do(apitest.Request{Method: http.MethodDelete, Path: wsPath(ws.ID, "/members/"+bob.ID.String()), Token: key.Key})
		}, func(ev auditOut) {
			actorIs(ev, "api_key", &key.ID, "API key Zapier")
			onWorkspace(ev, "user", bob.ID.String())
		}},
		{"member.left", func() *apitest.Response {
			apitest.AddMember(t, e.Store, ws.ID, bob.ID, "member")
			return e.Do(apitest.Request{Method: http.MethodDelete, Path: wsPath(ws.ID, "/members/"+bob.ID.String()), Token: bob.Token})
		}, func(ev auditOut) { onWorkspace(ev, "user", bob.ID.String()) }},
		{"api_key.revoked", func() *apitest.Response {
			return e.Do(apitest.Request{Method: http.MethodDelete, Path: wsPath(ws.ID, "/api-keys/"+key.ID.String()), Token: owner.Token})
		}, func(ev auditOut) { onWorkspace(ev, "api_key", key.ID.String()) }},
		{"access_codes.created", func() *apitest.Response {
			r := e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/admin/access-codes", Token: admin.Token, Body: map[string]any{"count": 3}})
			var out struct {
				Codes []struct {
					ID string `json:"id"`
				} `json:"codes"`
			}
			r.JSON(t, &out)
			codeID = out.Codes[0].ID
			return r
		}, func(ev auditOut) {
			actorIs(ev, "user", &admin.ID, nameOf(admin))
			if ev.WorkspaceID != nil || ev.Target.Type != "access_code" || ev.Target.ID != codeID || ev.Metadata["count"] != float64(3) {
				t.Errorf("event %+v", ev)
			}
		}},
		{"access_code.redeemed", func() *apitest.Response {
			code := scalar[string](t, e, `SELECT code FROM access_codes WHERE id = $1`, codeID)
			return e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/access-codes/redeem", Token: bob.Token, Body: map[string]any{"code": code}})
		}, func(ev auditOut) {
			actorIs(ev, "user", &bob.ID, nameOf(bob))
			if ev.Target.Type != "access_code" || ev.Target.ID != codeID || ev.WorkspaceID != nil {
				t.Errorf("event %+v", ev)
			}
		}},
		{"access_code.revoked", func() *apitest.Response {
			return e.Do(apitest.Request{Method: http.MethodDelete, Path: "/api/admin/access-codes/" + codeID, Token: admin.Token})
		}, func(ev auditOut) {
			if ev.Target.ID != codeID {
				t.Errorf("target %+v", ev.Target)
			}
		}},
		{"waitlist.approved", func() *apitest.Response {
			wantStatus(t, wlJoin(e, map[string]any{"email": "waiting@example.com"}), http.StatusCreated)
			entryID = wlListed(t, e, admin.Token, "").Entries[0].ID
			return wlApprove(e, admin.Token, []uuid.UUID{entryID})
		}, func(ev auditOut) {
			actorIs(ev, "user", &admin.ID, nameOf(admin))
			if ev.WorkspaceID != nil || ev.Target.Type != "waitlist_entry" || ev.Target.ID != entryID.String() {
				t.Errorf("event %+v", ev)
			}
			code := scalar[string](t, e, `SELECT id::text FROM access_codes WHERE metadata->>'waitlist_entry_id' = $1`, entryID.String())
			if ev.Metadata["access_code_id"] != code {
				t.Errorf("metadata %v, want access_code_id %s", ev.Metadata, code)
			}
		}},
		{"workspace.deleted", func() *apitest.Response {
			return e.Do(apitest.Request{Method: http.MethodDelete, Path: wsPath(ws.ID, ""), Token: owner.Token})
		}, func(ev auditOut) { onWorkspace(ev, "workspace", ws.ID.String()) }},
	}
	for _, a := range []store.AdminAction{store.GrantFounder, store.Suspend, store.Unsuspend, store.RevokeAdmin} {
		steps = append(steps, step{map[store.AdminAction]string{store.GrantFounder: "user.founder_granted",
			store.Suspend: "user.suspended", store.Unsuspend: "user.unsuspended", store.RevokeAdmin: "user.admin_revoked"}[a],
			func() *apitest.Response {
				if _, err := e.Store.AdministerUser(ctx, a, store.ByEmail(bob.Email)); err != nil {
					t.Fatal(err)
				}
				return nil
			}, func(ev auditOut) { actorIs(ev, "cli", nil, "praxiom command line") }})
	}
	for _, s := range steps {
		t.Run(s.action, func(t *testing.T) {
			before := auditCount(t, e, s.action)
			total := scalar[int](t, e, `SELECT count(*) FROM audit_events`)
			r := s.do()
			if r != nil && r.Status >= 300 {
				t.Fatalf("%s: %d %s", s.action, r.Status, r.Body)
			}
			if n := auditCount(t, e, s.action) - before; n != 1 {
				t.Fatalf("%d new %s events, want 1", n, s.action)
			}
			if n := scalar[int](t, e, `SELECT count(*) FROM audit_events`) - total; n != 1 && s.action != "invitation.accepted" {
				t.Errorf("%d new events in all, want 1", n)
			}
			ev := lastEvent(t, e, admin.Token, s.action)
			if r != nil {
				if ev.RequestID == nil || *ev.RequestID != r.Header.Get("X-Request-ID") || ev.IP == nil || *ev.IP != "192.0.2.1" {
					t.Errorf("request_id %v, ip %v; want %s and 192.0.2.1", ev.RequestID, ev.IP, r.Header.Get("X-Request-ID"))
				}
			}
			s.check(ev)
		})
	}

	// The workspace is gone: its events stay in the platform's log, by
	// workspace_id too.
	page := wantJSON[auditPage](t, e.Get("/api/admin/audit-log?limit=200&workspace_id="+ws.ID.String(), admin.Token), http.StatusOK)
	if len(page.Events) < 12 || page.NextCursor != nil {
		t.Fatalf("the deleted workspace's log has %d events (next %v)", len(page.Events), page.NextCursor)
	}
}

// TestAuditWebhookHandOff: Clerk deleting an owner records user.deleted,
// member.removed and member.promoted, and the deletion of a workspace left
// empty, all as the system.
func TestAuditWebhookHandOff(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	owner := signUp(t, e, "ho-owner")
	admin := signUp(t, e, "ho-admin")
	shared := wsCreate(t, e, owner.Token, map[string]any{"name": "Shared"})
	alone := wsCreate(t, e, owner.Token, map[string]any{"name": "Alone"})
	apitest.AddMember(t, e.Store, shared.ID, admin.ID, "admin")
	clerkID := scalar[string](t, e, `SELECT clerk_id FROM users WHERE id = $1`, owner.ID)
	r := e.Deliver(uniq("msg_"), apitest.DeletedEvent(clerkID, time.Now()))
	wantStatus(t, r, http.StatusOK)
	rows, err := e.Store.Pool().Query(context.Background(), `SELECT action, actor_type, coalesce(workspace_id::text, ''),
		target_id, metadata::text, request_id FROM audit_events WHERE actor_type = 'system' ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var action, actor, ws, target, meta, rid string
		if err := rows.Scan(&action, &actor, &ws, &target, &meta, &rid); err != nil {
			t.Fatal(err)
		}
		if rid != r.Header.Get("X-Request-ID") {
			t.Errorf("%s: request_id %q, want the delivery's %q", action, rid, r.Header.Get("X-Request-ID"))
		}
		got = append(got, action+" "+ws+" "+target+" "+meta)
	}
	first, second := shared.ID.String(), alone.ID.String()
	if first > second { // workspaces are handed off in id order
		first, second = second, first
	}
	want := map[string]string{
		shared.ID.String(): "member.removed " + shared.ID.String() + " " + owner.ID.String() + ` {"role": "owner", "reason": "user.deleted"}|` +
			"member.promoted " + shared.ID.String() + " " + admin.ID.String() + ` {"to": "owner", "from": "admin"}`,
		alone.ID.String(): "member.removed " + alone.ID.String() + " " + owner.ID.String() + ` {"role": "owner", "reason": "user.deleted"}|` +
			"workspace.deleted " + alone.ID.String() + " " + alone.ID.String() + ` {"name": "Alone", "reason": "user.deleted"}`,
	}
	wantAll := append([]string{"user.deleted  " + owner.ID.String() + ` {"clerk_id": "` + clerkID + `"}`},
		append(strings.Split(want[first], "|"), strings.Split(want[second], "|")...)...)
	if strings.Join(got, "\n") != strings.Join(wantAll, "\n") {
		t.Fatalf("system events:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(wantAll, "\n"))
	}
}

// TestAuditRefusedRequestsWriteNothing: requests refused for their role,
// a conflict, a gone invitation, a bad body or a missing target record no
// event; neither do requests that change nothing.
func TestAuditRefusedRequestsWriteNothing(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	owner := signUp(t, e, "ref-owner")
	member := signUp(t, e, "ref-member")
	ws := wsCreate(t, e, owner.Token, map[string]any{"name": "Refusals"})
	apitest.AddMember(t, e.Store, ws.ID, member.ID, "member")
	pending := invCreate(t, e, owner.Token, ws.ID, "pending@example.com", "member")
	accepted := invCreate(t, e, owner.Token, ws.ID, "accepted@example.com", "admin")
	execSQL(t, e, `UPDATE invitations SET status = 'accepted' WHERE id = $1`, accepted.ID)
	revoked := invCreate(t, e, owner.Token, ws.ID, "revoked@example.com", "member")
	wantStatus(t, e.Do(apitest.Request{Method: http.MethodDelete, Path: wsPath(ws.ID, "/invitations/"+revoked.ID.String()), Token: owner.Token}), http.StatusNoContent)
	before := scalar[int](t, e, `SELECT count(*) FROM audit_events`)
	for _, c := range []struct {
		name         string
		method, path string
		tok          string
		body         any
		status       int
	}{
		{"role too low", "PATCH", "", member.Token, map[string]any{"name": "X"}, 403},
		{"last owner", "PATCH", "/members/" + owner.ID.String(), owner.Token, map[string]any{"role": "admin"}, 409},
		{"pending invitation", "POST", "/invitations", owner.Token, map[string]any{"email": "pending@example.com", "role": "member"}, 409},
		{"already a member", "POST", "/invitations", owner.Token, map[string]any{"email": member.Email, "role": "member"}, 409},
		{"revoke an accepted invitation", "DELETE", "/invitations/" + accepted.ID.String(), owner.Token, nil, 410},
		{"a bad body", "PATCH", "/settings", owner.Token, map[string]any{"digest_timezone": "Mars/Olympus"}, 422},
		{"no such member", "DELETE", "/members/" + uuid.NewString(), owner.Token, nil, 404},
		{"the same role again", "PATCH", "/members/" + member.ID.String(), owner.Token, map[string]any{"role": "member"}, 200},
		{"an empty patch", "PATCH", "", owner.Token, map[string]any{}, 200},
		{"revoke a revoked invitation", "DELETE", "/invitations/" + revoked.ID.String(), owner.Token, nil, 204},
		{"a member reading the log", "GET", "/audit-log", member.Token, nil, 403},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := e.Do(apitest.Request{Method: c.method, Path: wsPath(ws.ID, c.path), Token: c.tok, Body: c.body})
			if r.Status != c.status {
				t.Fatalf("status %d, want %d: %s", r.Status, c.status, r.Body)
			}
			if n := scalar[int](t, e, `SELECT count(*) FROM audit_events`); n != before {
				t.Fatalf("%d events written", n-before)
			}
		})
	}
	_ = pending
}

// TestAuditFailedCommitLeavesNeither: when the transaction of a change fails
// after its event was written (here: a deferred constraint trigger fails at
// commit), neither the change nor the event exists.
func TestAuditFailedCommitLeavesNeither(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	owner := signUp(t, e, "fail-owner")
	ws := wsCreate(t, e, owner.Token, map[string]any{"name": "Before"})
	execSQL(t, e, `CREATE FUNCTION fail_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'injected failure at commit'; END $$`)
	execSQL(t, e, `CREATE CONSTRAINT TRIGGER audit_fails AFTER INSERT ON audit_events
		DEFERRABLE INITIALLY DEFERRED FOR EACH ROW WHEN (NEW.action = 'workspace.updated')
		EXECUTE FUNCTION fail_at_commit()`)
	r := e.Do(apitest.Request{Method: http.MethodPatch, Path: wsPath(ws.ID, ""), Token: owner.Token, Body: map[string]any{"name": "After"}})
	wantError(t, r, http.StatusInternalServerError, "INTERNAL")
	if name := scalar[string](t, e, `SELECT name FROM workspaces WHERE id = $1`, ws.ID); name != "Before" {
		t.Fatalf("the change survived: name %q", name)
	}
	if n := auditCount(t, e, "workspace.updated"); n != 0 {
		t.Fatalf("%d workspace.updated events survived", n)
	}
	if !strings.Contains(e.Logs(), "injected failure at commit") {
		t.Fatal("the failure did not come from the commit")
	}
}

// TestAuditPagingUnderWrites pages through a workspace's log while new
// events are written between pages: every event that existed when paging
// began is seen exactly once, newest first, and new ones never shift a page.
func TestAuditPagingUnderWrites(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	owner := signUp(t, e, "page-owner")
	ws := wsCreate(t, e, owner.Token, map[string]any{"name": "Paging"})
	for i := range 25 {
		wantStatus(t, e.Do(apitest.Request{Method: http.MethodPatch, Path: wsPath(ws.ID, "/settings"), Token: owner.Token,
			Body: map[string]any{"morning_digest_enabled": i%2 == 0}}), http.StatusOK)
	}
	var existing []uuid.UUID
	rows, _ := e.Store.Pool().Query(context.Background(), `SELECT id FROM audit_events WHERE workspace_id = $1 ORDER BY seq DESC`, ws.ID)
	for rows.Next() {
		var id uuid.UUID
		_ = rows.Scan(&id)
		existing = append(existing, id)
	}
	if len(existing) != 26 {
		t.Fatalf("%d events to page through, want 26", len(existing))
	}
	seen := map[uuid.UUID]int{}
	var order []uuid.UUID
	cursor := ""
	for pages := 0; ; pages++ {
		path := wsPath(ws.ID, "/audit-log?limit=4")
		if cursor != "" {
			path += "&cursor=" + cursor
		}
		page := wantJSON[auditPage](t, e.Get(path, owner.Token), http.StatusOK)
		for _, ev := range page.Events {
			seen[ev.ID]++
			order = append(order, ev.ID)
		}
		// Writes between pages.
		wantStatus(t, e.Do(apitest.Request{Method: http.MethodPatch, Path: wsPath(ws.ID, ""), Token: owner.Token,
			Body: map[string]any{"name": uniq("p")}}), http.StatusOK)
		if page.NextCursor == nil {
			break
		}
		cursor = *page.NextCursor
		if pages > 20 {
			t.Fatal("paging does not end")
		}
	}
	if len(order) != len(existing) {
		t.Fatalf("paged %d events, want the %d that existed", len(order), len(existing))
	}
	for i, id := range existing {
		if seen[id] != 1 || order[i] != id {
			t.Fatalf("event %d (%s) seen %d times at position of %s", i, id, seen[id], order[i])
		}
	}
	// Filtering by action and refusing bad queries.
	only := wantJSON[auditPage](t, e.Get(wsPath(ws.ID, "/audit-log?action=workspace.created"), owner.Token), http.StatusOK)
	if len(only.Events) != 1 || only.Events[0].Action != "workspace.created" {
		t.Fatalf("action filter: %+v", only.Events)
	}
	for _, q := range []string{"?cursor=nope", "?cursor=" + strings.Repeat("A", 12), "?action=workspace.exploded", "?limit=0", "?limit=201", "?limit=1&limit=2", "?action="} {
		wantError(t, e.Get(wsPath(ws.ID, "/audit-log"+q), owner.Token), http.StatusBadRequest, "BAD_REQUEST")
	}
}

// TestAuditImpersonator: a change made in an impersonated session records
// the impersonator; GET /api/auth/me shows it.
func TestAuditImpersonator(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	owner := signUp(t, e, "imp-owner")
	ws := wsCreate(t, e, owner.Token, map[string]any{"name": "Impersonated"})
	sub := scalar[string](t, e, `SELECT clerk_id FROM users WHERE id = $1`, owner.ID)
	o, err := devtoken.KindImpersonated.Apply(devtoken.Options{Subject: sub, TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	imp := e.Mint(o)
	wantStatus(t, e.Do(apitest.Request{Method: http.MethodPatch, Path: wsPath(ws.ID, ""), Token: imp, Body: map[string]any{"name": "By an admin"}}), http.StatusOK)
	page := wantJSON[auditPage](t, e.Get(wsPath(ws.ID, "/audit-log?action=workspace.updated"), owner.Token), http.StatusOK)
	if len(page.Events) != 1 || page.Events[0].Actor.Impersonator == nil || *page.Events[0].Actor.Impersonator != o.Actor ||
		*page.Events[0].Actor.ID != owner.ID {
		t.Fatalf("event: %+v", page.Events)
	}
}
