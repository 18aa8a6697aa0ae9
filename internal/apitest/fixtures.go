package apitest

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/devtoken"
	"github.com/praxiom/praxiom-api/internal/store"
)

// Fixtures shared by the store and API tests: rows written straight to the
// database, so that a suite does not depend on the code paths another suite
// tests, and a harness for races.

// NewUser creates the user of email in the store directly (no request is
// made) under policy: the zero policy makes a pending user, Active one with
// product access. Its Clerk id is the subject Env.Token mints for email, its
// name is the email's local part and its email counts as verified, as a user
// provisioned from a token's claims would have.
func NewUser(tb testing.TB, st *store.Store, email string, policy store.NewUserPolicy) store.User {
	tb.Helper()
	u, _, err := st.UpsertUser(context.Background(), store.Profile{
		ClerkID: devtoken.SubjectForEmail(email), Email: email, EmailVerified: true, Name: strings.Split(email, "@")[0],
	}, policy)
	if err != nil {
		tb.Fatalf("apitest: create user %s: %v", email, err)
	}
	return u
}

// InsertWorkspace creates a workspace named name owned by ownerID, with its
// trial subscription (no settings row), in SQL rather than through
// store.CreateWorkspace or the API.
func InsertWorkspace(tb testing.TB, st *store.Store, name string, ownerID uuid.UUID) uuid.UUID {
	tb.Helper()
	ctx := context.Background()
	var id uuid.UUID
	if err := st.Pool().QueryRow(ctx, `INSERT INTO workspaces (name) VALUES ($1) RETURNING id`, name).Scan(&id); err != nil {
		tb.Fatalf("apitest: insert workspace: %v", err)
	}
	if _, err := st.Pool().Exec(ctx, `INSERT INTO subscriptions (workspace_id, trial_ends_at) VALUES ($1, now() + interval '14 days')`, id); err != nil {
		tb.Fatalf("apitest: insert subscription: %v", err)
	}
	AddMember(tb, st, id, ownerID, store.RoleOwner)
	return id
}

// AddMember puts userID into wsID with role, in SQL (invitations are another
// suite's subject).
func AddMember(tb testing.TB, st *store.Store, wsID, userID uuid.UUID, role string) {
	tb.Helper()
	if _, err := st.Pool().Exec(context.Background(),
		`INSERT INTO workspace_members (workspace_id, user_id, role) VALUES ($1, $2, $3)`, wsID, userID, role); err != nil {
		tb.Fatalf("apitest: add member: %v", err)
	}
}

// Roles maps the members of a workspace to their roles.
type Roles map[uuid.UUID]string

// Owners counts the owners.
func (r Roles) Owners() int {
	n := 0
	for _, role := range r {
		if role == store.RoleOwner {
			n++
		}
	}
	return n
}

// MemberRoles reads every member's role in wsID straight from the table.
func MemberRoles(tb testing.TB, st *store.Store, wsID uuid.UUID) Roles {
	tb.Helper()
	rows, err := st.Pool().Query(context.Background(),
		`SELECT user_id, role FROM workspace_members WHERE workspace_id = $1`, wsID)
	if err != nil {
		tb.Fatalf("apitest: roles: %v", err)
	}
	defer rows.Close()
	roles := Roles{}
	for rows.Next() {
		var id uuid.UUID
		var role string
		if err := rows.Scan(&id, &role); err != nil {
			tb.Fatalf("apitest: roles: %v", err)
		}
		roles[id] = role
	}
	if err := rows.Err(); err != nil {
		tb.Fatalf("apitest: roles: %v", err)
	}
	return roles
}

// Race calls fn(0), …, fn(n-1) at once and returns their results in order.
// Each call runs in its own goroutine, held at a barrier that is released
// only when all of them have started.
func Race[T any](n int, fn func(i int) T) []T {
	out := make([]T, n)
	start := make(chan struct{})
	var ready, done sync.WaitGroup
	for i := range n {
		ready.Add(1)
		done.Add(1)
		go func() {
			defer done.Done()
			ready.Done()
			<-start
			out[i] = fn(i)
		}()
	}
	ready.Wait()
	close(start)
	done.Wait()
	return out
}
