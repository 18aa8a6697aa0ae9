package store_test

import (
	"context"
	"database/sql"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/store"
	"github.com/praxiom/praxiom-api/migrations"
)

// profile is a Clerk-shaped profile of clerkID, updated at t.
func profile(clerkID, email string, verified bool, t time.Time) store.Profile {
	return store.Profile{ClerkID: clerkID, Email: email, EmailVerified: verified,
		Name: strings.Split(email, "@")[0], UpdatedAt: t}
}

// TestUnverifiedEmailIsNotIdentity: a user whose email Clerk has not
// verified is stored with it (and the flag off) but gets no product access
// even with PLG gating off, cannot accept an invitation to that email, does
// not count as a member with that email, and is not selected by email by the
// administration commands, until an update brings a verified email.
func TestUnverifiedEmailIsNotIdentity(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{})
	ctx := context.Background()
	plgOff := store.NewUserPolicy{Active: true}
	owner := apitest.NewUser(t, st, "owner@example.com", plgOff)
	ws := apitest.InsertWorkspace(t, st, "Acme", owner.ID)
	inv, err := st.CreateInvitation(ctx, as(owner.ID), ws, store.NewInvitation{Email: "victim@example.com", Role: store.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}

	t0 := time.Now().Add(-time.Hour).UTC()
	u, outcome, err := st.UpsertUser(ctx, profile("user_claimant", "victim@example.com", false, t0), plgOff)
	if err != nil || outcome != store.Created {
		t.Fatalf("upsert: %v %v", outcome, err)
	}
	if u.Email != "victim@example.com" || u.EmailVerified || u.HasProductAccess || u.AccessStatus != store.StatusPending || u.ActivatedAt != nil {
		t.Fatalf("unverified user = email %q verified %v access %v status %s activated %v; want the shown email, unverified, pending without access",
			u.Email, u.EmailVerified, u.HasProductAccess, u.AccessStatus, u.ActivatedAt)
	}

	t.Run("cannot accept an invitation to that email", func(t *testing.T) {
		_, err := st.AcceptInvitation(ctx, as(u.ID), inv.Token)
		wantCode(t, err, apperr.InvitationEmailMismatch)
		if roles := apitest.MemberRoles(t, st, ws); len(roles) != 1 {
			t.Fatalf("members = %v, want the owner only", roles)
		}
	})
	t.Run("is not selected by email", func(t *testing.T) {
		_, err := st.AdministerUser(ctx, store.GrantAdmin, store.ByEmail("victim@example.com"))
		wantCode(t, err, apperr.NotFound)
		got, err := st.AdministerUser(ctx, store.GrantAdmin, store.ByClerkID("user_claimant"))
		if err != nil || !got.IsAdmin || got.ClerkID != "user_claimant" {
			t.Fatalf("by clerk id: admin %v, %v", got.IsAdmin, err)
		}
		if _, err := st.AdministerUser(ctx, store.RevokeAdmin, store.ByClerkID("user_claimant")); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("an unverified member does not block an invitation to that email", func(t *testing.T) {
		other := apitest.InsertWorkspace(t, st, "Other", owner.ID)
		apitest.AddMember(t, st, other, u.ID, store.RoleMember)
		if _, err := st.CreateInvitation(ctx, as(owner.ID), other, store.NewInvitation{Email: "victim@example.com", Role: store.RoleMember}); err != nil {
			t.Fatalf("invitation refused because of an unverified member: %v", err)
		}
	})

	// Clerk verifies the address: the user is granted what PLG gating off
	// grants new users, and may accept.
	u, outcome, err = st.UpsertUser(ctx, profile("user_claimant", "victim@example.com", true, t0.Add(time.Minute)), plgOff)
	if err != nil || outcome != store.Updated {
		t.Fatalf("verified update: %v %v", outcome, err)
	}
	if !u.EmailVerified || !u.HasProductAccess || u.AccessStatus != store.StatusActive || u.ActivatedAt == nil {
		t.Fatalf("after verification: verified %v access %v status %s", u.EmailVerified, u.HasProductAccess, u.AccessStatus)
	}
	if _, err := st.AcceptInvitation(ctx, as(u.ID), inv.Token); err != nil {
		t.Fatalf("accept after verification: %v", err)
	}
	if _, err := st.AdministerUser(ctx, store.GrantAdmin, store.ByEmail("victim@example.com")); err != nil {
		t.Fatalf("by verified email: %v", err)
	}
}

// TestVerificationGrantsOnlyWhatPolicyGrants: with PLG gating on, a
// verified email changes nothing but the flag; a user who lost verification
// keeps access already granted; a suspended user stays suspended.
func TestVerificationGrantsOnlyWhatPolicyGrants(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{})
	ctx := context.Background()
	t0 := time.Now().Add(-time.Hour).UTC()
	up := func(clerkID string, verified bool, at time.Time, policy store.NewUserPolicy) store.User {
		t.Helper()
		u, _, err := st.UpsertUser(ctx, profile(clerkID, clerkID+"@example.com", verified, at), policy)
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	plgOn, plgOff := store.NewUserPolicy{}, store.NewUserPolicy{Active: true}

	up("user_gated", false, t0, plgOn)
	if u := up("user_gated", true, t0.Add(time.Second), plgOn); !u.EmailVerified || u.HasProductAccess || u.AccessStatus != store.StatusPending {
		t.Errorf("PLG on, verified later: verified %v access %v status %s; want pending without access", u.EmailVerified, u.HasProductAccess, u.AccessStatus)
	}

	if u := up("user_open", true, t0, plgOff); !u.HasProductAccess || u.AccessStatus != store.StatusActive {
		t.Fatalf("PLG off, verified: access %v status %s", u.HasProductAccess, u.AccessStatus)
	}
	if u := up("user_open", false, t0.Add(time.Second), plgOff); u.EmailVerified || !u.HasProductAccess || u.AccessStatus != store.StatusActive {
		t.Errorf("verification lost: verified %v access %v status %s; want unverified, access kept", u.EmailVerified, u.HasProductAccess, u.AccessStatus)
	}

	up("user_suspended", false, t0, plgOff)
	if _, err := st.AdministerUser(ctx, store.Suspend, store.ByClerkID("user_suspended")); err != nil {
		t.Fatal(err)
	}
	if u := up("user_suspended", true, t0.Add(time.Second), plgOff); u.AccessStatus != store.StatusSuspended || u.HasProductAccess {
		t.Errorf("suspended, verified later: status %s access %v", u.AccessStatus, u.HasProductAccess)
	}

	// A stale update (older updated_at) never changes the flag.
	up("user_stale", true, t0.Add(time.Minute), plgOn)
	if u := up("user_stale", false, t0, plgOn); !u.EmailVerified {
		t.Error("a stale unverified update cleared the flag")
	}
}

// TestAdministerUserChangesOneUser: an email shared by several live users
// is refused, listing their Clerk ids, and nothing changes; --clerk-id picks
// one; tombstoned users and unverified emails do not count.
func TestAdministerUserChangesOneUser(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{})
	ctx := context.Background()
	t0 := time.Now().Add(-time.Hour).UTC()
	for _, id := range []string{"user_b", "user_a"} {
		if _, _, err := st.UpsertUser(ctx, profile(id, "shared@example.com", true, t0), store.NewUserPolicy{}); err != nil {
			t.Fatal(err)
		}
	}
	admins := func() []string {
		t.Helper()
		rows, err := st.Pool().Query(ctx, `SELECT clerk_id FROM users WHERE is_admin ORDER BY clerk_id`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		var ids []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		return ids
	}

	t.Run("ambiguous email", func(t *testing.T) {
		_, err := st.AdministerUser(ctx, store.GrantAdmin, store.ByEmail("SHARED@example.com"))
		wantCode(t, err, apperr.ValidationError)
		var amb *store.AmbiguousEmailError
		if !errors.As(err, &amb) || !slices.Equal(amb.ClerkIDs, []string{"user_a", "user_b"}) {
			t.Fatalf("cause = %#v, want the two clerk ids in order", amb)
		}
		e, _ := apperr.As(err)
		if f := e.Fields["email"]; !strings.Contains(f, "user_a") || !strings.Contains(f, "user_b") || len(e.Fields) != 1 {
			t.Errorf("fields = %v, want email listing both ids", e.Fields)
		}
		if got := admins(); len(got) != 0 {
			t.Fatalf("admins after a refusal: %v", got)
		}
	})
	t.Run("by clerk id", func(t *testing.T) {
		u, err := st.AdministerUser(ctx, store.GrantAdmin, store.ByClerkID("user_b"))
		if err != nil || u.ClerkID != "user_b" || !u.IsAdmin {
			t.Fatalf("by clerk id: %+v %v", u, err)
		}
		if got := admins(); !slices.Equal(got, []string{"user_b"}) {
			t.Fatalf("admins = %v, want user_b only", got)
		}
	})
	t.Run("unknown clerk id", func(t *testing.T) {
		_, err := st.AdministerUser(ctx, store.GrantAdmin, store.ByClerkID("user_nobody"))
		wantCode(t, err, apperr.NotFound)
	})
	t.Run("selector sets neither or both", func(t *testing.T) {
		for _, sel := range []store.UserSelector{{}, {Email: "shared@example.com", ClerkID: "user_a"}} {
			_, err := st.AdministerUser(ctx, store.GrantAdmin, sel)
			wantCode(t, err, apperr.ValidationError)
		}
	})
	t.Run("tombstoned and unverified users do not count", func(t *testing.T) {
		if _, err := st.ApplyUserDeleted(ctx, store.SystemActor, "msg_del_a", "user.deleted", "user_a", time.Now()); err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.UpsertUser(ctx, profile("user_c", "shared@example.com", false, t0), store.NewUserPolicy{}); err != nil {
			t.Fatal(err)
		}
		u, err := st.AdministerUser(ctx, store.GrantFounder, store.ByEmail("shared@example.com"))
		if err != nil || u.ClerkID != "user_b" || !u.IsFounder {
			t.Fatalf("one live verified match: %+v %v", u, err)
		}
		_, err = st.AdministerUser(ctx, store.GrantAdmin, store.ByClerkID("user_a"))
		wantCode(t, err, apperr.NotFound)
	})
}

// TestMigrationEmailVerified: 00004 marks the users stored before it as
// verified (their status was never recorded), leaves tombstones unverified,
// and rolls back and forth.
func TestMigrationEmailVerified(t *testing.T) {
	url := pgtest.NewDatabase(t)
	ctx := context.Background()
	st, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	db := stdlib.OpenDBFromPool(st.Pool())
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 3); err != nil {
		t.Fatalf("down to 3: %v", err)
	}
	exec := func(db *sql.DB, q string) {
		t.Helper()
		if _, err := db.ExecContext(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	exec(db, `INSERT INTO users (clerk_id, email, referral_code) VALUES ('user_old', 'old@example.com', 'AAAAAAAA')`)
	exec(db, `INSERT INTO users (clerk_id, referral_code, deleted_at) VALUES ('user_gone', 'BBBBBBBB', now())`)
	// Up to the latest, so that the store's queries find their columns.
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up: %v", err)
	}
	for id, want := range map[string]bool{"user_old": true, "user_gone": false} {
		u, err := st.UserByClerkID(ctx, id)
		if err != nil || u.EmailVerified != want {
			t.Errorf("%s: email_verified %v (%v), want %v", id, u.EmailVerified, err, want)
		}
	}
	if _, err := p.DownTo(ctx, 3); err != nil {
		t.Fatalf("down again: %v", err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatalf("up again: %v", err)
	}
}
