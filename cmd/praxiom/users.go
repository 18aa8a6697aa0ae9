package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/store"
)

const usersUsage = "usage: praxiom users grant-admin|revoke-admin|grant-founder|grant-access|suspend|unsuspend EMAIL\n" +
	"       praxiom users ACTION --clerk-id ID"

// users runs an account-administration action against DATABASE_URL on
// exactly one user: the live user whose verified email is EMAIL, or the one
// --clerk-id names. An email that matches several live users is refused
// with their Clerk ids, and nothing changes.
func users(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	if len(args) == 0 {
		return errors.New(usersUsage)
	}
	action := store.AdminAction(args[0])
	fs := flag.NewFlagSet("users", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	clerkID := fs.String("clerk-id", "", "the Clerk id (user_…) of the user to change")
	if err := fs.Parse(args[1:]); err != nil {
		return fmt.Errorf("%w\n%s", err, usersUsage)
	}
	var sel store.UserSelector
	switch {
	case *clerkID != "" && fs.NArg() == 0:
		sel = store.ByClerkID(strings.TrimSpace(*clerkID))
	case *clerkID == "" && fs.NArg() == 1 && strings.TrimSpace(fs.Arg(0)) != "":
		sel = store.ByEmail(store.NormalizeEmail(fs.Arg(0)))
	default:
		return errors.New(usersUsage)
	}
	st, err := openAdminStore(ctx, getenv)
	if err != nil {
		return err
	}
	defer st.Close()
	u, err := st.AdministerUser(ctx, action, sel)
	var ambiguous *store.AmbiguousEmailError
	switch {
	case errors.As(err, &ambiguous):
		return fmt.Errorf("%s matches %d live users (%s); nothing changed: choose one with --clerk-id",
			ambiguous.Email, len(ambiguous.ClerkIDs), strings.Join(ambiguous.ClerkIDs, ", "))
	case apperr.CodeOf(err) == apperr.NotFound && sel.Email != "":
		return fmt.Errorf("no live user has the verified email %s (select a user whose email is not verified with --clerk-id)", sel.Email)
	case apperr.CodeOf(err) == apperr.NotFound:
		return fmt.Errorf("no live user has the Clerk id %s", sel.ClerkID)
	case isFieldError(err, "action"):
		return fmt.Errorf("unknown action %q\n%s", args[0], usersUsage)
	case err != nil:
		return err
	}
	fmt.Fprintf(stdout, "%s %s (%s, email_verified=%t): access_status=%s has_product_access=%t is_admin=%t is_founder=%t\n",
		args[0], u.Email, u.ClerkID, u.EmailVerified, u.AccessStatus, u.HasProductAccess || u.IsFounder, u.IsAdmin, u.IsFounder)
	return nil
}

// isFieldError reports whether err is a VALIDATION_ERROR naming field.
func isFieldError(err error, field string) bool {
	e, ok := apperr.As(err)
	if !ok || e.Code != apperr.ValidationError {
		return false
	}
	_, named := e.Fields[field]
	return named
}
