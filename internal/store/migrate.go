package store

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivermigrate"

	"github.com/praxiom/praxiom-api/migrations"
)

// migrationLockKey is the PostgreSQL session advisory lock every instance
// holds while it applies migrations, ours and River's, so that several
// instances may start at once and each migration is applied exactly once.
// (goose takes a lock of its own inside it, with another key.)
const migrationLockKey int64 = 0x70726178696f6d // "praxiom"

// migrationLockWait bounds the wait for another instance's migrations.
const migrationLockWait = 10 * time.Minute

// Migrator applies the embedded goose migrations and then River's (the job
// queue's tables, rivermigrate), under one advisory lock.
type Migrator struct {
	db       *sql.DB
	provider *goose.Provider
	pool     *pgxpool.Pool
	river    *rivermigrate.Migrator[pgx.Tx]
	log      *slog.Logger
	// upToDate is set once no migration is pending: applied migrations are
	// not rolled back under a running server, so readiness probes stop
	// asking from then on.
	upToDate atomic.Bool
}

// NewMigrator prepares goose over its own small connection pool and River's
// migrator over another (no statement timeout: a migration may run long).
// It connects on first use.
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
	} else {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	p, err := goose.NewProvider(goose.DialectPostgres, db, migrations.FS, opts...)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	pcfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: migrations: parse DATABASE_URL: malformed URL")
	}
	pcfg.MaxConns = 2 // the lock's session and River's migrations
	pcfg.ConnConfig.RuntimeParams["application_name"] = "praxiom-migrate"
	pool, err := pgxpool.NewWithConfig(context.Background(), pcfg)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	rm, err := rivermigrate.New(riverpgxv5.New(pool), &rivermigrate.Config{Logger: logger})
	if err != nil {
		pool.Close()
		db.Close()
		return nil, fmt.Errorf("store: migrations: river: %w", err)
	}
	return &Migrator{db: db, provider: p, pool: pool, river: rm, log: logger}, nil
}

// Up applies every pending migration, ours first and then River's, while
// holding the migration lock, and returns how many of ours it applied
// (River's are logged). Returns SERVICE_UNAVAILABLE when the database does
// not answer, INTERNAL when a migration fails.
func (m *Migrator) Up(ctx context.Context) (int, error) {
	conn, err := m.pool.Acquire(ctx)
	if err != nil {
		return 0, dbErr("migrate up: connect", err)
	}
	defer conn.Release()
	lctx, cancel := context.WithTimeout(ctx, migrationLockWait)
	_, err = conn.Exec(lctx, `SELECT pg_advisory_lock($1)`, migrationLockKey)
	cancel()
	if err != nil {
		return 0, dbErr("migrate up: lock", err)
	}
	defer func() {
		// A session that could not let go of the lock is closed, which
		// releases it: it must never go back to the pool holding it.
		if _, err := conn.Exec(context.WithoutCancel(ctx), `SELECT pg_advisory_unlock($1)`, migrationLockKey); err != nil {
			_ = conn.Hijack().Close(context.WithoutCancel(ctx))
		}
	}()

	res, err := m.provider.Up(ctx)
	if err != nil {
		return len(res), dbErr("migrate up", err)
	}
	rres, err := m.river.Migrate(ctx, rivermigrate.DirectionUp, nil)
	if err != nil {
		return len(res), dbErr("migrate up: river", err)
	}
	if len(rres.Versions) > 0 {
		m.log.Info("river migrations applied", "count", len(rres.Versions))
	}
	return len(res), nil
}

// Pending reports whether a migration, ours or River's, is not yet applied.
// Once it has answered false it answers false without a query. Returns
// SERVICE_UNAVAILABLE when the database does not answer.
func (m *Migrator) Pending(ctx context.Context) (bool, error) {
	if m.upToDate.Load() {
		return false, nil
	}
	p, err := m.provider.HasPending(ctx)
	if err != nil {
		return false, dbErr("migrate pending", err)
	}
	if !p {
		v, err := m.river.Validate(ctx, nil)
		if err != nil {
			return false, dbErr("migrate pending: river", err)
		}
		p = !v.OK
	}
	m.upToDate.Store(!p)
	return p, nil
}

// Close releases the migrator's connections.
func (m *Migrator) Close() error {
	m.pool.Close()
	return m.db.Close()
}
