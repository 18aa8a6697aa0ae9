package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/apikey"
	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// TestRowsReadTheSameInEveryExecMode: the store decodes the rows every
// request reads from the binary wire format itself, and falls back to pgx's
// type map for columns in text format — which is what
// default_query_exec_mode=exec and the simple protocol (used behind some
// PgBouncers, docs/scaling.md) return. Every reader gives the same values in
// every mode.
func TestRowsReadTheSameInEveryExecMode(t *testing.T) {
	ctx := context.Background()
	st, url := pgtest.NewStore(t, store.Options{})
	owner := apitest.NewUser(t, st, "raw@example.com", store.NewUserPolicy{Active: true})
	pn := "Rocket"
	ws, err := st.CreateWorkspace(ctx, as(owner.ID), store.NewWorkspace{Name: "Raw", ProductName: &pn}, 14)
	if err != nil {
		t.Fatal(err)
	}
	exp := time.Now().Add(24 * time.Hour).Round(time.Second)
	_, secret, err := st.CreateAPIKey(ctx, store.UserActor(owner), ws.ID, store.NewAPIKey{Name: "K", Role: "member", ExpiresAt: &exp})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateAccessCodes(ctx, store.CLIActor, store.NewAccessCodes{Count: 1, MaxRedemptions: 3,
		Metadata: json.RawMessage(`{"a":[1,"é"]}`)}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.CreateInvitation(ctx, as(owner.ID), ws.ID, store.NewInvitation{Email: "x@example.com", Role: "admin"}); err != nil {
		t.Fatal(err)
	}
	read := func(st *store.Store) string {
		t.Helper()
		c, w, err := st.UserWithWorkspace(ctx, owner.ClerkID, ws.ID)
		if err != nil {
			t.Fatal(err)
		}
		u, err := st.UserByClerkID(ctx, owner.ClerkID)
		if err != nil {
			t.Fatal(err)
		}
		k, kw, err := st.APIKeyByHash(ctx, apikey.Hash(secret))
		if err != nil {
			t.Fatal(err)
		}
		keys, _, err := st.ListAPIKeys(ctx, ws.ID, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		list, _, err := st.ListWorkspaces(ctx, owner.ID, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		codes, _, err := st.ListAccessCodes(ctx, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		invs, _, err := st.ListInvitations(ctx, ws.ID, store.InvitationPending, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		members, _, err := st.ListMembers(ctx, ws.ID, 10, 0)
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal([]any{c, u, w, k, kw, keys, list, codes, invs, members})
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	want := read(st)
	if !strings.Contains(want, `"ProductName":"Rocket"`) || !strings.Contains(want, `é`) {
		t.Fatalf("binary-format read lacks values: %s", want)
	}
	for _, mode := range []string{"exec", "simple_protocol", "cache_describe"} {
		t.Run(mode, func(t *testing.T) {
			sep := "?"
			if strings.Contains(url, "?") {
				sep = "&"
			}
			other, err := store.Open(ctx, url+sep+"default_query_exec_mode="+mode, store.Options{MaxConns: 1})
			if err != nil {
				t.Fatal(err)
			}
			defer other.Close()
			if got := read(other); got != want {
				t.Fatalf("%s reads\n%s\nwant\n%s", mode, got, want)
			}
		})
	}
}
