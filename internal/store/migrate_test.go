package store_test

import (
	"context"
	"sync"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/store"
	"github.com/praxiom/praxiom-api/migrations"
)

// TestMigratorRunsRiverMigrations: River's migrations count as pending for
// /readyz until they are applied, Up applies them after ours, and several
// migrators at once apply everything exactly once.
func TestMigratorRunsRiverMigrations(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewEmptyDatabase(t)

	// Only our migrations, by goose itself: River's tables are missing.
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	db := stdlib.OpenDB(*cfg)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.Up(ctx); err != nil {
		t.Fatal(err)
	}
	m, err := store.NewMigrator(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if pending, err := m.Pending(ctx); err != nil || !pending {
		t.Fatalf("River's migrations not applied: pending = %v (%v), want true", pending, err)
	}

	// Three migrators at once: each migration once, all up to date.
	var wg sync.WaitGroup
	applied := make([]int, 3)
	errs := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mi, err := store.NewMigrator(url, nil)
			if err != nil {
				errs[i] = err
				return
			}
			defer mi.Close()
			applied[i], errs[i] = mi.Up(ctx)
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil || applied[i] != 0 {
			t.Fatalf("migrator %d: applied %d of ours (%v), want 0 (goose had applied them)", i, applied[i], err)
		}
	}
	if pending, err := m.Pending(ctx); err != nil || pending {
		t.Fatalf("after Up: pending = %v (%v)", pending, err)
	}
	var versions, dup int
	if err := db.QueryRowContext(ctx, `SELECT count(*), count(*) - count(DISTINCT version) FROM river_migration`).Scan(&versions, &dup); err != nil {
		t.Fatal(err)
	}
	if versions == 0 || dup != 0 {
		t.Fatalf("river_migration has %d versions, %d duplicates", versions, dup)
	}
	t.Logf("River migrations applied once: %d versions", versions)
}
