package store_test

import (
	"context"
	"testing"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// TestUserStoreRefusals covers the store's user refusals that the API
// cannot reach on its own: authentication refuses unknown and deleted users
// before a handler calls the store, and account administration is the CLI's.
func TestUserStoreRefusals(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{})
	ctx := context.Background()
	ada := apitest.NewUser(t, st, "ada@example.com", store.NewUserPolicy{})

	t.Run("user by clerk id: unknown", func(t *testing.T) {
		_, err := st.UserByClerkID(ctx, "user_nobody")
		wantCode(t, err, apperr.NotFound)
	})
	t.Run("user with workspace: unknown", func(t *testing.T) {
		_, _, err := st.UserWithWorkspace(ctx, "user_nobody", uuid.New())
		wantCode(t, err, apperr.NotFound)
	})
	t.Run("administer: unknown action", func(t *testing.T) {
		_, err := st.AdministerUser(ctx, store.AdminAction("make-coffee"), store.ByEmail(ada.Email))
		wantCode(t, err, apperr.ValidationError)
		e, _ := apperr.As(err)
		if _, ok := e.Fields["action"]; !ok || len(e.Fields) != 1 {
			t.Fatalf("fields = %v, want only action", e.Fields)
		}
	})
	t.Run("administer: unknown email", func(t *testing.T) {
		_, err := st.AdministerUser(ctx, store.GrantAdmin, store.ByEmail("nobody@example.com"))
		wantCode(t, err, apperr.NotFound)
	})
	t.Run("administer: email matched case-insensitively", func(t *testing.T) {
		u, err := st.AdministerUser(ctx, store.GrantAdmin, store.ByEmail("ADA@example.com"))
		if err != nil || !u.IsAdmin {
			t.Fatalf("AdministerUser(ADA@…) = admin %v, %v", u.IsAdmin, err)
		}
	})
	t.Run("redeem: unknown user", func(t *testing.T) {
		_, err := st.RedeemAccessCode(ctx, as(uuid.New()), "PRAXIOM-AAAAAA")
		wantCode(t, err, apperr.Unauthorized)
	})
	t.Run("deleted user", func(t *testing.T) {
		bob := apitest.NewUser(t, st, "bob@example.com", store.NewUserPolicy{})
		if _, err := st.Pool().Exec(ctx, `UPDATE users SET deleted_at = now() WHERE id = $1`, bob.ID); err != nil {
			t.Fatal(err)
		}
		_, err := st.AdministerUser(ctx, store.GrantAccess, store.ByEmail(bob.Email))
		wantCode(t, err, apperr.NotFound)
		_, err = st.RedeemAccessCode(ctx, as(bob.ID), "PRAXIOM-AAAAAA")
		wantCode(t, err, apperr.Unauthorized)
	})
}
