package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// wsMember is the member object (api/openapi.yaml, Member).
type wsMember struct {
	UserID    uuid.UUID `json:"user_id"`
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	AvatarURL *string   `json:"avatar_url"`
	Role      string    `json:"role"`
	JoinedAt  time.Time `json:"joined_at"`
}

type wsExpect struct {
	status int
	code   string
}

// TestTenancyPermissionMatrix holds every workspace, settings and member
// route to api/openapi.yaml ("Roles", "API keys") for each kind of caller,
// on a fresh workspace per
// request, and checks that every refused request changed nothing and every
// accepted write changed something.
func TestTenancyPermissionMatrix(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	owner := signUp(t, e, "owner")
	admin := signUp(t, e, "admin")
	member := signUp(t, e, "member")
	outsider := signUp(t, e, "outsider")
	suspended := signUp(t, e, "suspended")
	target := signUp(t, e, "target") // a plain member acted upon
	peer := signUp(t, e, "peer")     // an admin acted upon
	if _, err := e.Store.AdministerUser(context.Background(), store.Suspend, store.ByEmail(suspended.Email)); err != nil {
		t.Fatal(err)
	}
	// Each actor's role in the fixture; the suspended user is an admin, to
	// show that suspension wins over membership.
	actors := []struct {
		name string
		p    person
		role string
	}{
		{"owner", owner, "owner"}, {"admin", admin, "admin"}, {"member", member, "member"},
		{"outsider", outsider, ""}, {"suspended", suspended, "admin"},
	}
	fixture := func(t *testing.T) uuid.UUID {
		t.Helper()
		ws := wsCreate(t, e, owner.Token, map[string]any{"name": "Matrix", "product_name": "P"})
		apitest.AddMember(t, e.Store, ws.ID, admin.ID, "admin")
		apitest.AddMember(t, e.Store, ws.ID, member.ID, "member")
		apitest.AddMember(t, e.Store, ws.ID, suspended.ID, "admin")
		apitest.AddMember(t, e.Store, ws.ID, target.ID, "member")
		apitest.AddMember(t, e.Store, ws.ID, peer.ID, "admin")
		return ws.ID
	}

	ok, gone := wsExpect{200, ""}, wsExpect{204, ""}
	forb := wsExpect{403, "FORBIDDEN"}
	susp := wsExpect{403, "ACCOUNT_SUSPENDED"}
	notFound := wsExpect{404, "NOT_FOUND"}
	lastOwner := wsExpect{409, "LAST_OWNER"}
	cases := []struct {
		name         string
		method, path string
		body         any
		// owner, admin, member, outsider, suspended
		want [5]wsExpect
	}{
		{"get workspace", "GET", "", nil, [5]wsExpect{ok, ok, ok, forb, susp}},
		{"patch workspace", "PATCH", "", map[string]any{"name": "Renamed", "product_name": nil}, [5]wsExpect{ok, ok, forb, forb, susp}},
		{"delete workspace", "DELETE", "", nil, [5]wsExpect{gone, forb, forb, forb, susp}},
		{"get settings", "GET", "/settings", nil, [5]wsExpect{ok, ok, ok, forb, susp}},
		{"patch settings", "PATCH", "/settings", map[string]any{"morning_digest_enabled": true, "digest_timezone": "Europe/Paris"}, [5]wsExpect{ok, ok, forb, forb, susp}},
		{"list members", "GET", "/members", nil, [5]wsExpect{ok, ok, ok, forb, susp}},
		{"promote member to admin", "PATCH", "/members/{target}", map[string]any{"role": "admin"}, [5]wsExpect{ok, ok, forb, forb, susp}},
		{"promote member to owner", "PATCH", "/members/{target}", map[string]any{"role": "owner"}, [5]wsExpect{ok, forb, forb, forb, susp}},
		{"demote admin to member", "PATCH", "/members/{peer}", map[string]any{"role": "member"}, [5]wsExpect{ok, ok, forb, forb, susp}},
		{"promote admin to owner", "PATCH", "/members/{peer}", map[string]any{"role": "owner"}, [5]wsExpect{ok, forb, forb, forb, susp}},
		{"demote the last owner", "PATCH", "/members/{owner}", map[string]any{"role": "admin"}, [5]wsExpect{lastOwner, forb, forb, forb, susp}},
		{"change oneself to owner", "PATCH", "/members/{self}", map[string]any{"role": "owner"}, [5]wsExpect{ok, forb, forb, forb, susp}},
		{"change oneself to member", "PATCH", "/members/{self}", map[string]any{"role": "member"}, [5]wsExpect{lastOwner, ok, forb, forb, susp}},
		{"change a non-member", "PATCH", "/members/{nobody}", map[string]any{"role": "admin"}, [5]wsExpect{notFound, notFound, forb, forb, susp}},
		{"invalid role", "PATCH", "/members/{target}", map[string]any{"role": "superuser"}, [5]wsExpect{{422, "VALIDATION_ERROR"}, {422, "VALIDATION_ERROR"}, forb, forb, susp}},
		{"remove a member", "DELETE", "/members/{target}", nil, [5]wsExpect{gone, gone, forb, forb, susp}},
		{"remove an admin", "DELETE", "/members/{peer}", nil, [5]wsExpect{gone, gone, forb, forb, susp}},
		{"remove the last owner", "DELETE", "/members/{owner}", nil, [5]wsExpect{lastOwner, forb, forb, forb, susp}},
		{"leave", "DELETE", "/members/{self}", nil, [5]wsExpect{lastOwner, gone, gone, forb, susp}},
		{"remove a non-member", "DELETE", "/members/{nobody}", nil, [5]wsExpect{notFound, notFound, forb, forb, susp}},
	}
	// Accepted writes that may leave everything as it was.
	noop := map[string]bool{"change oneself to owner": true}
	for _, c := range cases {
		for i, a := range actors {
			t.Run(c.name+"/"+a.name, func(t *testing.T) {
				wsID := fixture(t)
				path := wsPath(wsID, strings.NewReplacer(
					"{target}", target.ID.String(), "{peer}", peer.ID.String(), "{owner}", owner.ID.String(),
					"{self}", a.p.ID.String(), "{nobody}", uuid.NewString()).Replace(c.path))
				before := wsSnapshot(t, e, wsID)
				r := e.Do(apitest.Request{Method: c.method, Path: path, Token: a.p.Token, Body: c.body})
				want := c.want[i]
				wantOutcome(t, r, want.status, want.code)
				after := wsSnapshot(t, e, wsID)
				switch {
				case r.Status >= 400 && after != before:
					t.Errorf("a refused request changed the workspace:\n%s\n%s", before, after)
				case r.Status < 400 && c.method != http.MethodGet && !noop[c.name] && after == before:
					t.Errorf("an accepted %s changed nothing", c.method)
				}
				if c.name == "get workspace" && r.Status == 200 {
					var ws wsWorkspace
					r.JSON(t, &ws)
					if ws.Role != a.role {
						t.Errorf("role = %q, want %q", ws.Role, a.role)
					}
				}
			})
		}
	}
}

func TestMembersList(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	ada := signUp(t, e, "ada")
	ws := wsCreate(t, e, ada.Token, map[string]any{"name": "Acme"})
	people := []person{ada}
	for _, n := range []string{"bob", "carol", "dan", "eve"} {
		p := signUp(t, e, n)
		apitest.AddMember(t, e.Store, ws.ID, p.ID, "member")
		people = append(people, p)
	}
	// Someone else's workspace stays out of the list.
	other := signUp(t, e, "other")
	wsCreate(t, e, other.Token, map[string]any{"name": "Other"})

	type list struct {
		Members []wsMember `json:"members"`
		Total   int        `json:"total"`
	}
	get := func(query string) list {
		t.Helper()
		r := e.Get(wsPath(ws.ID, "/members"+query), people[3].Token) // any member may list
		l := wantJSON[list](t, r, http.StatusOK)
		if l.Members == nil {
			t.Fatalf("members is not an array: %s", r.Body)
		}
		return l
	}
	l := get("")
	if l.Total != 5 || len(l.Members) != 5 {
		t.Fatalf("total %d, %d items", l.Total, len(l.Members))
	}
	for i, m := range l.Members { // oldest first
		if m.UserID != people[i].ID || m.Email != people[i].Email || m.Name == "" || m.JoinedAt.IsZero() {
			t.Errorf("member %d = %+v, want %s", i, m, people[i].Email)
		}
		if i > 0 && m.JoinedAt.Before(l.Members[i-1].JoinedAt) {
			t.Errorf("not in joining order at %d", i)
		}
	}
	if l.Members[0].Role != "owner" || l.Members[1].Role != "member" {
		t.Errorf("roles = %s, %s", l.Members[0].Role, l.Members[1].Role)
	}
	for _, p := range []struct {
		query string
		from  int
		n     int
	}{{"?limit=2", 0, 2}, {"?limit=2&offset=2", 2, 2}, {"?limit=2&offset=4", 4, 1}, {"?offset=5", 5, 0}, {"?offset=50", 50, 0}} {
		l := get(p.query)
		if l.Total != 5 || len(l.Members) != p.n {
			t.Errorf("%s: total %d, %d items", p.query, l.Total, len(l.Members))
			continue
		}
		for i, m := range l.Members {
			if m.UserID != people[p.from+i].ID {
				t.Errorf("%s: item %d = %s", p.query, i, m.Email)
			}
		}
	}
	r := e.Get(wsPath(ws.ID, "/members?limit=1"), ada.Token)
	var raw struct {
		Members []map[string]any `json:"members"`
	}
	r.JSON(t, &raw)
	if m := raw.Members[0]; len(m) != 6 {
		t.Errorf("member object has %d keys: %s", len(m), r.Body)
	}
}

func TestMemberRoleChanges(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	ada := signUp(t, e, "ada")
	bob := signUp(t, e, "bob")
	carol := signUp(t, e, "carol")
	ws := wsCreate(t, e, ada.Token, map[string]any{"name": "Acme"})
	apitest.AddMember(t, e.Store, ws.ID, bob.ID, "member")
	apitest.AddMember(t, e.Store, ws.ID, carol.ID, "member")
	change := func(actor person, target person, role string, want wsExpect) {
		t.Helper()
		before := wsSnapshot(t, e, ws.ID)
		r := e.Do(apitest.Request{Method: http.MethodPatch, Path: wsPath(ws.ID, "/members/"+target.ID.String()), Token: actor.Token, Body: map[string]any{"role": role}})
		wantOutcome(t, r, want.status, want.code)
		if r.Status >= 400 {
			if wsSnapshot(t, e, ws.ID) != before {
				t.Errorf("a refused change changed something")
			}
			return
		}
		var m wsMember
		r.JSON(t, &m)
		if m.UserID != target.ID || m.Role != role || m.Email != target.Email {
			t.Errorf("member = %+v, want %s as %s", m, target.Email, role)
		}
		if got := apitest.MemberRoles(t, e.Store, ws.ID)[target.ID]; got != role {
			t.Errorf("stored role = %s, want %s", got, role)
		}
	}
	ok := wsExpect{200, ""}
	change(ada, bob, "admin", ok)
	change(bob, carol, "admin", ok)                            // admins promote members to admin
	change(bob, carol, "member", ok)                           // …and demote admins
	change(bob, carol, "member", ok)                           // the same role again is a no-op 200
	change(bob, carol, "owner", wsExpect{403, "FORBIDDEN"})    // only owners grant owner
	change(bob, ada, "admin", wsExpect{403, "FORBIDDEN"})      // only owners change an owner
	change(bob, bob, "owner", wsExpect{403, "FORBIDDEN"})      // no self-promotion
	change(carol, bob, "member", wsExpect{403, "FORBIDDEN"})   // members change nobody
	change(ada, ada, "admin", wsExpect{409, "LAST_OWNER"})     // the last owner cannot step down
	change(ada, ada, "owner", ok)                              // …but may stay owner
	change(ada, carol, "owner", ok)                            // owners grant owner
	change(carol, ada, "member", ok)                           // and owners demote owners
	change(ada, carol, "member", wsExpect{403, "FORBIDDEN"})   // ada is no owner any more
	change(carol, carol, "admin", wsExpect{409, "LAST_OWNER"}) // carol is now the last owner
	change(bob, bob, "member", ok)                             // an admin may step down
	change(bob, carol, "member", wsExpect{403, "FORBIDDEN"})   // …and then has no say
	change(carol, person{ID: uuid.New()}, "admin", wsExpect{404, "NOT_FOUND"})

	// The body is checked before the target: an unknown user with a bad
	// role is 422, and a missing role is 422.
	r := e.Do(apitest.Request{Method: http.MethodPatch, Path: wsPath(ws.ID, "/members/"+uuid.NewString()), Token: carol.Token, Body: map[string]any{"role": "god"}})
	wantFields(t, r, "role")
	for _, body := range []any{map[string]any{}, map[string]any{"role": nil}, map[string]any{"role": 1},
		map[string]any{"role": "Owner"}, map[string]any{"role": ""}} {
		wantFields(t, e.Do(apitest.Request{Method: http.MethodPatch, Path: wsPath(ws.ID, "/members/"+bob.ID.String()), Token: carol.Token, Body: body}), "role")
	}
	if roles := apitest.MemberRoles(t, e.Store, ws.ID); roles.Owners() != 1 || roles[carol.ID] != "owner" {
		t.Errorf("roles = %v", roles)
	}
}

func TestMemberRemoval(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	ada := signUp(t, e, "ada")
	bob := signUp(t, e, "bob")
	carol := signUp(t, e, "carol")
	dan := signUp(t, e, "dan")
	eve := signUp(t, e, "eve")
	ws := wsCreate(t, e, ada.Token, map[string]any{"name": "Acme"})
	apitest.AddMember(t, e.Store, ws.ID, bob.ID, "owner")
	apitest.AddMember(t, e.Store, ws.ID, carol.ID, "admin")
	apitest.AddMember(t, e.Store, ws.ID, dan.ID, "admin")
	apitest.AddMember(t, e.Store, ws.ID, eve.ID, "member")
	remove := func(actor person, target uuid.UUID, want wsExpect) {
		t.Helper()
		before := wsSnapshot(t, e, ws.ID)
		r := e.Do(apitest.Request{Method: http.MethodDelete, Path: wsPath(ws.ID, "/members/"+target.String()), Token: actor.Token})
		wantOutcome(t, r, want.status, want.code)
		_, still := apitest.MemberRoles(t, e.Store, ws.ID)[target]
		switch {
		case r.Status == http.StatusNoContent:
			if len(r.Body) != 0 || still {
				t.Errorf("204 with body %q, member still there: %v", r.Body, still)
			}
		case wsSnapshot(t, e, ws.ID) != before:
			t.Errorf("a refused removal changed something")
		}
	}
	gone := wsExpect{204, ""}
	remove(eve, carol.ID, wsExpect{403, "FORBIDDEN"})                                      // members remove nobody else
	remove(eve, uuid.New(), wsExpect{403, "FORBIDDEN"})                                    // …not even nobody (role before target)
	remove(carol, ada.ID, wsExpect{403, "FORBIDDEN"})                                      // admins do not remove owners
	remove(carol, uuid.New(), wsExpect{404, "NOT_FOUND"})                                  // admins looking for a non-member
	remove(carol, dan.ID, gone)                                                            // admins remove admins
	remove(ada, bob.ID, gone)                                                              // owners remove owners
	remove(ada, ada.ID, wsExpect{409, "LAST_OWNER"})                                       // the last owner cannot leave
	remove(carol, eve.ID, gone)                                                            // admins remove members
	remove(carol, carol.ID, gone)                                                          // anyone may leave
	wantError(t, e.Get(wsPath(ws.ID, ""), carol.Token), http.StatusForbidden, "FORBIDDEN") // …and is out
	remove(carol, carol.ID, wsExpect{403, "FORBIDDEN"})                                    // leaving twice: no longer a member
	if roles := apitest.MemberRoles(t, e.Store, ws.ID); len(roles) != 1 || roles[ada.ID] != "owner" {
		t.Errorf("roles = %v", roles)
	}
}

// TestMembersOwnerRacesHTTP runs the owner-removing races through the API,
// 20 rounds each, with the only two owners of a fresh workspace.
func TestMembersOwnerRacesHTTP(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	a := signUp(t, e, "a")
	b := signUp(t, e, "b")
	member := func(wsID uuid.UUID, p person) string { return wsPath(wsID, "/members/"+p.ID.String()) }
	races := []struct {
		name string
		reqs func(wsID uuid.UUID) []apitest.Request
		// the winner's status; the loser's status and code; members left
		win      int
		lose     wsExpect
		leftOver int
	}{
		{"demote each other", func(ws uuid.UUID) []apitest.Request {
			return []apitest.Request{
				{Method: "PATCH", Path: member(ws, b), Token: a.Token, Body: map[string]any{"role": "member"}},
				{Method: "PATCH", Path: member(ws, a), Token: b.Token, Body: map[string]any{"role": "member"}},
			}
		}, 200, wsExpect{403, "FORBIDDEN"}, 2},
		{"step down at once", func(ws uuid.UUID) []apitest.Request {
			return []apitest.Request{
				{Method: "PATCH", Path: member(ws, a), Token: a.Token, Body: map[string]any{"role": "admin"}},
				{Method: "PATCH", Path: member(ws, b), Token: b.Token, Body: map[string]any{"role": "admin"}},
			}
		}, 200, wsExpect{409, "LAST_OWNER"}, 2},
		{"remove each other", func(ws uuid.UUID) []apitest.Request {
			return []apitest.Request{
				{Method: "DELETE", Path: member(ws, b), Token: a.Token},
				{Method: "DELETE", Path: member(ws, a), Token: b.Token},
			}
		}, 204, wsExpect{403, "FORBIDDEN"}, 1},
		{"leave at once", func(ws uuid.UUID) []apitest.Request {
			return []apitest.Request{
				{Method: "DELETE", Path: member(ws, a), Token: a.Token},
				{Method: "DELETE", Path: member(ws, b), Token: b.Token},
			}
		}, 204, wsExpect{409, "LAST_OWNER"}, 1},
	}
	for _, rc := range races {
		t.Run(rc.name, func(t *testing.T) {
			for round := range 20 {
				ws := wsCreate(t, e, a.Token, map[string]any{"name": "Race"})
				apitest.AddMember(t, e.Store, ws.ID, b.ID, "owner")
				reqs := rc.reqs(ws.ID)
				rs := apitest.Race(len(reqs), func(i int) *apitest.Response { return e.Do(reqs[i]) })
				wantOneWinner(t, round, rs, rc.win, rc.lose.status, rc.lose.code)
				roles := apitest.MemberRoles(t, e.Store, ws.ID)
				if roles.Owners() != 1 || len(roles) != rc.leftOver {
					t.Fatalf("round %d: roles = %v", round, roles)
				}
			}
		})
	}
}
