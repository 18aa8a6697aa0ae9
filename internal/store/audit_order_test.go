package store_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// TestAuditPagesStayPutWhileAnEarlierChangeCommitsLate: change A writes
// its event, then stalls before committing (a trigger waits on a gate the
// test holds); change B, in another workspace, starts after it. A client
// pages the whole platform log meanwhile. Once both have committed, every
// page it read, re-read with the same cursor, is the same: A's event never
// lands on a page the client has already passed.
func TestAuditPagesStayPutWhileAnEarlierChangeCommitsLate(t *testing.T) {
	st, _ := pgtest.NewStore(t, store.Options{})
	ctx := context.Background()
	owner := wsNewUser(t, st, "order")
	var ws [2]store.Workspace
	for i := range ws {
		w, err := st.CreateWorkspace(ctx, as(owner.ID), store.NewWorkspace{Name: "Order"}, 14)
		if err != nil {
			t.Fatal(err)
		}
		ws[i] = w
	}
	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := st.Pool().Exec(ctx, sql, args...); err != nil {
			t.Fatal(err)
		}
	}
	exec(`CREATE TABLE gate (id int)`)
	exec(`INSERT INTO gate VALUES (1)`)
	exec(`CREATE FUNCTION stall() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.target_id = '` + ws[0].ID.String() + `' THEN PERFORM 1 FROM gate FOR SHARE; END IF; RETURN NEW; END $$`)
	exec(`CREATE TRIGGER stall AFTER INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION stall()`)
	gate, err := st.Pool().Begin(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer gate.Rollback(ctx) //nolint:errcheck
	if _, err := gate.Exec(ctx, `SELECT 1 FROM gate FOR UPDATE`); err != nil {
		t.Fatal(err)
	}
	waiting := func(n int) {
		t.Helper()
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
			var w int
			if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM pg_stat_activity
				WHERE datname = current_database() AND wait_event_type = 'Lock'`).Scan(&w); err != nil {
				t.Fatal(err)
			}
			if w >= n {
				return
			}
		}
		t.Fatalf("fewer than %d changes wait", n)
	}
	rename := func(w store.Workspace, name string) chan error {
		done := make(chan error, 1)
		go func() {
			_, err := st.UpdateWorkspace(ctx, as(owner.ID), w.ID, store.WorkspacePatch{Name: store.Some(name)})
			done <- err
		}()
		return done
	}
	doneA := rename(ws[0], "A")
	waiting(1)
	doneB := rename(ws[1], "B")
	// B either waits behind A or is done; give it the time to be done.
	select {
	case err := <-doneB:
		if err != nil {
			t.Fatal(err)
		}
		doneB = nil
	case <-time.After(500 * time.Millisecond):
	}

	type page struct {
		cursor string
		ids    []string
	}
	read := func(cursor string) (ids []string, next string) {
		t.Helper()
		events, next, err := st.AuditLog(ctx, store.AuditQuery{Cursor: cursor, Limit: 1})
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range events {
			ids = append(ids, e.ID.String())
		}
		return ids, next
	}
	var pages []page
	for cursor, first := "", true; first || cursor != ""; first = false {
		ids, next := read(cursor)
		pages = append(pages, page{cursor, ids})
		cursor = next
	}

	if err := gate.Rollback(ctx); err != nil {
		t.Fatal(err)
	}
	for _, done := range []chan error{doneA, doneB} {
		if done == nil {
			continue
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
	for i, p := range pages {
		if i == 0 {
			continue // the newest page may grow: that is where new events go
		}
		if ids, _ := read(p.cursor); !slices.Equal(ids, p.ids) {
			t.Errorf("page %d read again: %v, first read %v (an event landed on a page already passed)", i+1, ids, p.ids)
		}
	}
	// Both events are there.
	var n int
	if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM audit_events WHERE action = 'workspace.updated'`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d workspace.updated events, %v; want 2", n, err)
	}
}
