package main

import (
	"bytes"
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/store"
	"github.com/praxiom/praxiom-api/internal/webhook"
)

// TestUsersCommandChangesOneUser: `praxiom users ACTION EMAIL` refuses an
// email that several live users have (a missed user.updated can leave a
// stale one), naming their Clerk ids and changing nobody; --clerk-id picks
// one.
func TestUsersCommandChangesOneUser(t *testing.T) {
	url := pgtest.NewDatabase(t)
	getenv := envOf(map[string]string{"DATABASE_URL": url})
	ctx := context.Background()
	st, err := store.Open(ctx, url, store.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	// Two Clerk users with the same verified address, as Clerk's webhook
	// delivers them.
	applier := &webhook.Applier{Store: st}
	for i, id := range []string{"user_stale", "user_current", "user_other"} {
		mail := "shared@example.com"
		if id == "user_other" {
			mail = "other@example.com"
		}
		ev, err := webhook.Decode(apitest.UserEvent("user.created", id, mail, "Ada", "", time.Now()))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := applier.Apply(ctx, store.SystemActor, "msg_users_"+string(rune('a'+i)), ev); err != nil {
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
	var out bytes.Buffer

	err = run(ctx, []string{"users", "grant-admin", "Shared@Example.com"}, getenv, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "user_stale") || !strings.Contains(err.Error(), "user_current") ||
		!strings.Contains(err.Error(), "--clerk-id") {
		t.Fatalf("ambiguous email: err %v; want a refusal naming both clerk ids and --clerk-id", err)
	}
	if out.Len() != 0 {
		t.Errorf("printed %q on a refusal", out.String())
	}
	if got := admins(); len(got) != 0 {
		t.Fatalf("admins after the refusal: %v, want none", got)
	}

	for _, args := range [][]string{
		{"grant-admin", "--clerk-id", "user_current"},
		{"grant-admin", "--clerk-id=user_current"}, // again: idempotent
	} {
		out.Reset()
		if err := run(ctx, append([]string{"users"}, args...), getenv, &out, &out); err != nil {
			t.Fatalf("%q: %v", args, err)
		}
		if !strings.Contains(out.String(), "user_current") || !strings.Contains(out.String(), "is_admin=true") {
			t.Errorf("%q printed %q", args, out.String())
		}
	}
	if got := admins(); !slices.Equal(got, []string{"user_current"}) {
		t.Fatalf("admins = %v, want user_current only", got)
	}

	// An email that one live user has still works.
	out.Reset()
	if err := run(ctx, []string{"users", "grant-admin", "other@example.com"}, getenv, &out, &out); err != nil ||
		!strings.Contains(out.String(), "other@example.com (user_other") {
		t.Fatalf("unique email: %v, printed %q", err, out.String())
	}

	// Refusals: an error, nothing printed, nothing changed.
	for _, args := range [][]string{
		{},
		{"grant-admin"},
		{"grant-admin", ""},
		{"grant-admin", "a@example.com", "b@example.com"},
		{"grant-admin", "--clerk-id", "user_current", "other@example.com"},
		{"grant-admin", "--clerk-id"},
		{"grant-admin", "--email", "other@example.com"},
		{"make-coffee", "other@example.com"},
		{"make-coffee", "--clerk-id", "user_other"},
		{"revoke-admin", "nobody@example.com"},
		{"revoke-admin", "--clerk-id", "user_nobody"},
		{"revoke-admin", "shared@example.com"},
	} {
		out.Reset()
		if err := run(ctx, append([]string{"users"}, args...), getenv, &out, &out); err == nil || out.Len() != 0 {
			t.Errorf("%q: err %v, printed %q; want an error and nothing printed", args, err, out.String())
		}
	}
	if got := admins(); !slices.Equal(got, []string{"user_current", "user_other"}) {
		t.Fatalf("admins after the refusals = %v", got)
	}
	if err := run(ctx, []string{"users", "grant-admin", "--clerk-id", "user_other"}, envOf(nil), &out, &out); err == nil ||
		!strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("without DATABASE_URL: %v", err)
	}
}
