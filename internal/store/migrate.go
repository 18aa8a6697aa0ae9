package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/praxiom/praxiom-api/migrations"
)

// Migrator applies the embedded migrations with goose.
type Migrator struct {
	db       *sql.DB
	provider *goose.Provider
	// upToDate is set once no embedded migration is pending: applied
	// migrations are not rolled back under a running server, so readiness
	// probes stop asking goose from then on.
	upToDate atomic.Bool
}

// NewMigrator prepares goose over its own small connection pool (no
// statement timeout: a migration may run long). Up holds a PostgreSQL
// session advisory lock, so several instances may start at once and the
// migrations are applied exactly once.
func NewMigrator(databaseURL string, logger *slog.Logger) (*Migrator, error) {
	cfg, err := pgx.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("store: migrations: parse DATABASE_URL: malformed URL")
	}
	cfg.RuntimeParams["application_name"] = "praxiom-migrate"
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(2)
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockTimeout(1, 600))
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: migrations: locker: %w", err)
	}
	opts := []goose.ProviderOption{goose.WithSessionLocker(locker)}
	if logger != nil {
		opts = append(opts, goose.WithSlog(logger))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS, opts...)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	return &Migrator{db: db, provider: p}, nil
}

// Up applies every pending migration and returns how many it applied.
func (m *Migrator) Up(ctx context.Context) (int, error) {
	res, err := m.provider.Up(ctx)
	if err != nil {
		return len(res), dbErr("migrate up", err)
	}
	return len(res), nil
}

// Pending reports whether a migration is not yet applied. Once it has
// answered false it answers false without a query. Returns
// SERVICE_UNAVAILABLE when the database does not answer.
func (m *Migrator) Pending(ctx context.Context) (bool, error) {
	if m.upToDate.Load() {
		return false, nil
	}
	p, err := m.provider.HasPending(ctx)
	if err != nil {
		return false, dbErr("migrate pending", err)
	}
	m.upToDate.Store(!p)
	return p, nil
}

// Close releases the migrator's connections.
func (m *Migrator) Close() error { return m.db.Close() }
