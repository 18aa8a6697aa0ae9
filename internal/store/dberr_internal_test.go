package store

import (
	"context"
	"errors"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/praxiom/praxiom-api/internal/apperr"
)

// TestDBErrClassification pins dbErr's three refusals: connection-level and
// retryable server errors are SERVICE_UNAVAILABLE, every other server error
// is INTERNAL, an *apperr.Error passes through and a cancelled context is
// left unclassified (the client is gone).
func TestDBErrClassification(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want apperr.Code
	}{
		{"no server code (connection lost)", errors.New("conn closed"), apperr.Unavailable},
		{"query canceled (statement timeout)", &pgconn.PgError{Code: "57014"}, apperr.Unavailable},
		{"connection exception", &pgconn.PgError{Code: "08006"}, apperr.Unavailable},
		{"insufficient resources", &pgconn.PgError{Code: "53300"}, apperr.Unavailable},
		{"admin shutdown", &pgconn.PgError{Code: "57P01"}, apperr.Unavailable},
		{"serialization failure", &pgconn.PgError{Code: "40001"}, apperr.Unavailable},
		{"deadlock", &pgconn.PgError{Code: "40P01"}, apperr.Unavailable},
		{"unique violation", &pgconn.PgError{Code: "23505"}, apperr.Internal},
		{"syntax error", &pgconn.PgError{Code: "42601"}, apperr.Internal},
		{"apperr passes through", apperr.New(apperr.LastOwner, "x"), apperr.LastOwner},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := apperr.As(dbErr("op", tc.err))
			if !ok || got.Code != tc.want {
				t.Fatalf("dbErr(%v) = %v, want code %s", tc.err, got, tc.want)
			}
		})
	}
	if _, ok := apperr.As(dbErr("op", context.Canceled)); ok {
		t.Fatal("dbErr(context.Canceled) is an apperr; want the bare cause")
	}
	if dbErr("op", nil) != nil {
		t.Fatal("dbErr(nil) != nil")
	}
}
