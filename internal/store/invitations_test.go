package store_test

import (
	"context"
	"regexp"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/store"
)

func wantCode(t *testing.T, err error, code apperr.Code) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %s", code)
	}
	if got := apperr.CodeOf(err); got != code {
		t.Fatalf("err = %v (code %s), want %s", err, got, code)
	}
}

var tokenPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{43,}$`)

func TestInvitationStoreCreate(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{})
	ctx := context.Background()
	owner := apitest.NewUser(t, st, "owner@example.com", store.NewUserPolicy{})
	ws := apitest.InsertWorkspace(t, st, "Acme", owner.ID)

	inv, err := st.CreateInvitation(ctx, as(owner.ID), ws, store.NewInvitation{Email: "bob@example.com", Role: store.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	if inv.Status != store.InvitationPending || inv.Role != store.RoleAdmin || inv.InvitedEmail != "bob@example.com" ||
		inv.InvitedByName != "owner" || inv.WorkspaceID != ws {
		t.Errorf("invitation = %+v", inv)
	}
	if !tokenPattern.MatchString(inv.Token) {
		t.Errorf("token %q is not 32+ URL-safe random bytes", inv.Token)
	}
	if d := inv.ExpiresAt.Sub(inv.CreatedAt); d != store.InvitationTTL {
		t.Errorf("expires_at - created_at = %v, want %v", d, store.InvitationTTL)
	}

	_, err = st.CreateInvitation(ctx, as(owner.ID), ws, store.NewInvitation{Email: "bob@example.com", Role: store.RoleMember})
	wantCode(t, err, apperr.InvitationPending)
	_, err = st.CreateInvitation(ctx, as(owner.ID), ws, store.NewInvitation{Email: "owner@example.com", Role: store.RoleMember})
	wantCode(t, err, apperr.AlreadyMember)
	_, err = st.CreateInvitation(ctx, as(owner.ID), ws, store.NewInvitation{Email: "carol@example.com", Role: store.RoleOwner})
	wantCode(t, err, apperr.ValidationError)

	// An expired pending invitation is marked expired and replaced.
	if _, err := st.Pool().Exec(ctx, `UPDATE invitations SET expires_at = now() - interval '1 second' WHERE id = $1`, inv.ID); err != nil {
		t.Fatal(err)
	}
	again, err := st.CreateInvitation(ctx, as(owner.ID), ws, store.NewInvitation{Email: "bob@example.com", Role: store.RoleMember})
	if err != nil {
		t.Fatalf("re-invite after expiry: %v", err)
	}
	if again.Token == inv.Token || again.ID == inv.ID {
		t.Error("the new invitation reuses the old one's id or token")
	}
	var stored string
	if err := st.Pool().QueryRow(ctx, `SELECT status FROM invitations WHERE id = $1`, inv.ID).Scan(&stored); err != nil || stored != "expired" {
		t.Errorf("old invitation status = %q (%v), want expired", stored, err)
	}

	// Look-up is by the whole token only.
	for _, tok := range []string{again.Token[:20], again.Token + "x", strings.ToUpper(again.Token), ""} {
		if tok == again.Token {
			continue
		}
		_, err := st.InvitationByToken(ctx, tok)
		wantCode(t, err, apperr.NotFound)
	}
	got, err := st.InvitationByToken(ctx, again.Token)
	if err != nil || got.ID != again.ID || got.WorkspaceName != "Acme" {
		t.Fatalf("by token: %+v, %v", got, err)
	}

	// A workspace that does not exist (or was just deleted).
	_, err = st.CreateInvitation(ctx, as(owner.ID), uuid.New(), store.NewInvitation{Email: "dan@example.com", Role: store.RoleMember})
	wantCode(t, err, apperr.Forbidden)
}

// TestInvitationStoreConcurrentCreate: many creations of one pending
// invitation at once, with and without an expired one in the way, make
// exactly one; the others answer INVITATION_PENDING.
func TestInvitationStoreConcurrentCreate(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{MaxConns: 12})
	ctx := context.Background()
	owner := apitest.NewUser(t, st, "owner@example.com", store.NewUserPolicy{})
	ws := apitest.InsertWorkspace(t, st, "Acme", owner.ID)

	for round := range 6 {
		email := "racer" + string(rune('a'+round)) + "@example.com"
		if round%2 == 1 {
			old, err := st.CreateInvitation(ctx, as(owner.ID), ws, store.NewInvitation{Email: email, Role: store.RoleMember})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := st.Pool().Exec(ctx, `UPDATE invitations SET expires_at = now() - interval '1 second' WHERE id = $1`, old.ID); err != nil {
				t.Fatal(err)
			}
		}
		errs := apitest.Race(10, func(int) error {
			_, err := st.CreateInvitation(ctx, as(owner.ID), ws, store.NewInvitation{Email: email, Role: store.RoleMember})
			return err
		})
		var ok int
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case apperr.CodeOf(err) != apperr.InvitationPending:
				t.Fatalf("round %d: unexpected error %v", round, err)
			}
		}
		var pending int
		if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM invitations WHERE invited_email = $1 AND status = 'pending'`,
			email).Scan(&pending); err != nil {
			t.Fatal(err)
		}
		if ok != 1 || pending != 1 {
			t.Fatalf("round %d: %d creations succeeded, %d pending rows; want 1 and 1", round, ok, pending)
		}
	}
}

// TestInvitationStoreAcceptRace: two accepts of one invitation at once make
// one member; the other sees INVITATION_ALREADY_ACCEPTED.
func TestInvitationStoreAcceptRace(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{MaxConns: 8})
	ctx := context.Background()
	owner := apitest.NewUser(t, st, "owner@example.com", store.NewUserPolicy{})
	ws := apitest.InsertWorkspace(t, st, "Acme", owner.ID)

	for round := range 20 {
		email := "guest" + strings.Repeat("x", round) + "@example.com"
		guest := apitest.NewUser(t, st, email, store.NewUserPolicy{})
		inv, err := st.CreateInvitation(ctx, as(owner.ID), ws, store.NewInvitation{Email: email, Role: store.RoleAdmin})
		if err != nil {
			t.Fatal(err)
		}
		errs := apitest.Race(2, func(int) error {
			_, err := st.AcceptInvitation(ctx, as(guest.ID), inv.Token)
			return err
		})
		if (errs[0] == nil) == (errs[1] == nil) {
			t.Fatalf("round %d: errors %v, %v; want exactly one success", round, errs[0], errs[1])
		}
		for _, err := range errs {
			if err != nil {
				wantCode(t, err, apperr.InvitationAlreadyAccepted)
			}
		}
		var members int
		if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM workspace_members WHERE workspace_id = $1 AND user_id = $2`,
			ws, guest.ID).Scan(&members); err != nil || members != 1 {
			t.Fatalf("round %d: %d memberships (%v), want 1", round, members, err)
		}
	}
}

func TestInvitationStoreRevokeAndList(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{})
	ctx := context.Background()
	owner := apitest.NewUser(t, st, "owner@example.com", store.NewUserPolicy{})
	ws := apitest.InsertWorkspace(t, st, "Acme", owner.ID)
	other := apitest.InsertWorkspace(t, st, "Other", owner.ID)

	a, _ := st.CreateInvitation(ctx, as(owner.ID), ws, store.NewInvitation{Email: "a@example.com", Role: store.RoleMember})
	b, _ := st.CreateInvitation(ctx, as(owner.ID), ws, store.NewInvitation{Email: "b@example.com", Role: store.RoleMember})
	c, _ := st.CreateInvitation(ctx, as(owner.ID), ws, store.NewInvitation{Email: "c@example.com", Role: store.RoleMember})
	x, _ := st.CreateInvitation(ctx, as(owner.ID), other, store.NewInvitation{Email: "x@example.com", Role: store.RoleMember})

	// Scoped by workspace: another workspace's id is not found.
	wantCode(t, st.RevokeInvitation(ctx, as(owner.ID), ws, x.ID), apperr.NotFound)
	wantCode(t, st.RevokeInvitation(ctx, as(owner.ID), ws, uuid.New()), apperr.NotFound)

	if err := st.RevokeInvitation(ctx, as(owner.ID), ws, a.ID); err != nil {
		t.Fatal(err)
	}
	if err := st.RevokeInvitation(ctx, as(owner.ID), ws, a.ID); err != nil {
		t.Fatalf("revoking twice: %v", err)
	}
	if _, err := st.Pool().Exec(ctx, `UPDATE invitations SET expires_at = now() - interval '1 second' WHERE id = $1`, b.ID); err != nil {
		t.Fatal(err)
	}
	wantCode(t, st.RevokeInvitation(ctx, as(owner.ID), ws, b.ID), apperr.InvitationExpired)

	for status, want := range map[string][]uuid.UUID{
		store.InvitationPending: {c.ID}, store.InvitationRevoked: {a.ID},
		store.InvitationExpired: {b.ID}, store.InvitationAccepted: nil,
	} {
		got, total, err := st.ListInvitations(ctx, ws, status, 50, 0)
		if err != nil {
			t.Fatal(err)
		}
		if total != len(want) || len(got) != len(want) {
			t.Fatalf("%s: %d of %d, want %d", status, len(got), total, len(want))
		}
		for i := range want {
			if got[i].ID != want[i] || got[i].Status != status {
				t.Errorf("%s: got %+v", status, got[i])
			}
		}
	}
	_, _, err := st.ListInvitations(ctx, ws, "bogus", 50, 0)
	wantCode(t, err, apperr.ValidationError)
}

// as is the user of id acting through a session.
func as(id uuid.UUID) store.Actor { return store.Actor{Type: store.ActorUser, ID: id} }
