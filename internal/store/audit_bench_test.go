package store_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// BenchmarkAuditedWrite measures what the audit log adds to a write: the
// same change (the role re-read under the workspace lock, an UPDATE, a
// durable commit) with and without its audit event, alternating.
//
//	go run ./cmd/withpg -- go test -run='^$' -bench=AuditedWrite -benchmem ./internal/store/
func BenchmarkAuditedWrite(b *testing.B) {
	ctx := context.Background()
	st, _ := pgtest.NewStore(b, store.Options{})
	owner := apitest.NewUser(b, st, "audit-bench@example.com", store.NewUserPolicy{Active: true})
	ws := apitest.InsertWorkspace(b, st, "Bench", owner.ID)
	a := store.UserActor(owner)
	for _, audited := range []bool{false, true, false, true} {
		b.Run(fmt.Sprintf("audited=%t", audited), func(b *testing.B) {
			b.ReportAllocs()
			n := 0
			for b.Loop() {
				n++
				if err := st.RenameWorkspace(ctx, a, ws, fmt.Sprintf("Bench %d", n%7), audited); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
