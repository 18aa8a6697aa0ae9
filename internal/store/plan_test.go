package store_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// TestMembershipLookupUsesBothKeyColumns: on a workspace of 10,000 members,
// the query that authorizes every workspace request finds the membership
// by an index scan whose condition is both key columns (workspace_id and
// user_id), never by scanning the workspace's members.
func TestMembershipLookupUsesBothKeyColumns(t *testing.T) {
	ctx := context.Background()
	st, _ := pgtest.NewStore(t, store.Options{})
	owner := apitest.NewUser(t, st, "plan-owner@example.com", store.NewUserPolicy{Active: true})
	wsID := apitest.InsertWorkspace(t, st, "Big", owner.ID)
	if _, err := st.Pool().Exec(ctx, `WITH u AS (
			INSERT INTO users (clerk_id, email, email_verified, name, referral_code)
			SELECT 'user_plan' || i, 'p' || i || '@example.com', true, 'P' || i,
				lpad(translate(i::text, '0123456789', '23456789AB'), 8, 'Z')
			FROM generate_series(1, 9999) AS i RETURNING id)
		INSERT INTO workspace_members (workspace_id, user_id, role) SELECT $1, id, 'member' FROM u`, wsID); err != nil {
		t.Fatal(err)
	}
	apitest.NewUser(t, st, "outsider@example.com", store.NewUserPolicy{Active: true})
	if _, err := st.Pool().Exec(ctx, `UPDATE users SET clerk_id = 'user_outsider' WHERE email = 'outsider@example.com'`); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Pool().Exec(ctx, `ANALYZE`); err != nil {
		t.Fatal(err)
	}
	var members int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM workspace_members WHERE workspace_id = $1`, wsID).Scan(&members); err != nil || members != 10000 {
		t.Fatalf("%d members, %v", members, err)
	}
	for name, q := range map[string]struct {
		sql  string
		args []any
	}{
		"a member":          {store.UserWithWorkspaceSQL, []any{"user_plan5000", wsID}},
		"an outsider":       {store.UserWithWorkspaceSQL, []any{"user_outsider", wsID}},
		"no such workspace": {store.UserWithWorkspaceSQL, []any{"user_plan5000", uuid.New()}},
	} {
		// pgx prepares its statements, so PostgreSQL may settle on a
		// generic plan after a few executions: both must probe the index.
		for _, mode := range []string{"auto", "force_generic_plan"} {
			t.Run(name+"/"+mode, func(t *testing.T) {
				conn, err := st.Pool().Acquire(ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer conn.Release()
				if _, err := conn.Exec(ctx, `SET plan_cache_mode = `+mode); err != nil {
					t.Fatal(err)
				}
				defer conn.Exec(ctx, `RESET plan_cache_mode`) //nolint:errcheck
				var raw []byte
				if err := conn.QueryRow(ctx, `EXPLAIN (FORMAT JSON) `+q.sql, q.args...).Scan(&raw); err != nil {
					t.Fatal(err)
				}
				var plan []struct {
					Plan node `json:"Plan"`
				}
				if err := json.Unmarshal(raw, &plan); err != nil {
					t.Fatal(err)
				}
				var found bool
				plan[0].Plan.walk(func(n node) {
					if n.Relation != "workspace_members" {
						return
					}
					found = true
					cond := n.IndexCond
					if !strings.HasPrefix(n.Type, "Index") || !strings.Contains(cond, "workspace_id") || !strings.Contains(cond, "user_id") {
						t.Errorf("workspace_members read by %s (index %q, condition %q, filter %q); want an index scan on both key columns",
							n.Type, n.Index, cond, n.Filter)
					}
				})
				if !found {
					t.Fatalf("the plan does not read workspace_members: %s", raw)
				}
			})
		}
	}
}

// node is a node of EXPLAIN's JSON plan.
type node struct {
	Type      string `json:"Node Type"`
	Relation  string `json:"Relation Name"`
	Index     string `json:"Index Name"`
	IndexCond string `json:"Index Cond"`
	Filter    string `json:"Filter"`
	Plans     []node `json:"Plans"`
}

func (n node) walk(fn func(node)) {
	fn(n)
	for _, c := range n.Plans {
		c.walk(fn)
	}
}

// TestAuthorizingStatementsFitPgxDescriptions: the statements that
// authorize every request with a credential select at most 16 columns, the most
// pgx describes in a result without a new slice per query (≈ 700 bytes on
// every request).
func TestAuthorizingStatementsFitPgxDescriptions(t *testing.T) {
	ctx := context.Background()
	st, _ := pgtest.NewStore(t, store.Options{})
	conn, err := st.Pool().Acquire(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Release()
	for name, sql := range map[string]string{
		"session":      store.UserWithWorkspaceSQL,
		"API key":      store.APIKeyWithWorkspaceSQL,
		"caller's own": store.AccountByClerkIDSQL,
	} {
		sd, err := conn.Conn().Prepare(ctx, "", sql)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(sd.Fields); n > 16 {
			t.Errorf("%s: %d columns, want at most 16", name, n)
		}
	}
}
