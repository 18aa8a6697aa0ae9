// Package store is the service's PostgreSQL layer: a pgx pool, named
// methods for every query, one transaction per multi-step write, and the
// translation of pgx errors into apperr codes (by SQLSTATE, never by text).
package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/praxiom/praxiom-api/internal/apperr"
)

// Options tune the pool.
type Options struct {
	// MaxConns is the pool size; set explicitly (DB_MAX_CONNS).
	MaxConns int32
	// StatementTimeout bounds every statement on the pool's connections.
	StatementTimeout time.Duration
	// ConnectTimeout bounds a new connection; an unreachable database
	// answers 503 after at most this long.
	ConnectTimeout time.Duration
	// Tracer, when set, sees every query (tests count round trips with it).
	Tracer pgx.QueryTracer
	// Outbox enqueues the emails that changes cause, in their transactions;
	// nil turns email off (no SMTP_URL): nothing is enqueued and
	// invitations read email_status "disabled".
	Outbox Outbox
}

// Outbox puts jobs that send emails into the job queue inside the
// transaction of the change that causes them (the transactional outbox): an
// email exists exactly when its change committed. jobs.Outbox implements it
// with River's InsertManyTx.
type Outbox interface {
	EnqueueEmails(ctx context.Context, tx pgx.Tx, emailIDs []uuid.UUID) error
}

// Store wraps the pool. It is safe for concurrent use.
type Store struct {
	pool   *pgxpool.Pool
	outbox Outbox
}

// Open connects a pool to databaseURL. It does not wait for the database:
// connections are made on first use, so the server can start while the
// database is down and answer 503 until it is back.
func Open(ctx context.Context, databaseURL string, o Options) (*Store, error) {
	cfg, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		return nil, fmt.Errorf("store: parse DATABASE_URL: %w", errors.New("malformed URL"))
	}
	if o.MaxConns > 0 {
		cfg.MaxConns = o.MaxConns
	}
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 3 * time.Second
	}
	cfg.ConnConfig.ConnectTimeout = o.ConnectTimeout
	if o.StatementTimeout > 0 {
		cfg.ConnConfig.RuntimeParams["statement_timeout"] = fmt.Sprint(o.StatementTimeout.Milliseconds())
		cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = fmt.Sprint((4 * o.StatementTimeout).Milliseconds())
	}
	cfg.ConnConfig.RuntimeParams["application_name"] = "praxiom-api"
	cfg.ConnConfig.Tracer = o.Tracer
	cfg.AfterConnect = func(_ context.Context, c *pgx.Conn) error {
		registerUUID(c.TypeMap())
		return nil
	}
	cfg.HealthCheckPeriod = 15 * time.Second
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: open pool: %w", err)
	}
	return &Store{pool: pool, outbox: o.Outbox}, nil
}

// Close closes the pool.
func (s *Store) Close() { s.pool.Close() }

// EmailEnabled reports whether changes enqueue emails (an Outbox is set).
func (s *Store) EmailEnabled() bool { return s.outbox != nil }

// Pool exposes the pool for tests and health checks.
func (s *Store) Pool() *pgxpool.Pool { return s.pool }

// Ping checks that the database answers. Returns SERVICE_UNAVAILABLE.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return dbErr("ping", err)
	}
	return nil
}

// querier is what single statements need: the pool or a transaction.
type querier interface {
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
	Query(ctx context.Context, sql string, args ...any) (pgx.Rows, error)
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// listPage runs query, a page of a list (LIMIT and OFFSET applied) whose
// rows end with count(*) OVER (), and returns its rows read by read with
// that count, in one round trip. A page past the end has no row to carry the
// count; countQuery, run with countArgs, supplies it then. op names the list
// in errors.
func listPage[T any](ctx context.Context, q querier, op string, read func(*row) T,
	offset int, query string, args []any, countQuery string, countArgs ...any) ([]T, int, error) {
	total := 0
	list, err := queryRows(ctx, q, query, args, func(r *row) T {
		v := read(r)
		total = r.int()
		return v
	})
	if err != nil {
		return nil, 0, dbErr(op, err)
	}
	if len(list) == 0 && offset > 0 {
		if err := q.QueryRow(ctx, countQuery, countArgs...).Scan(&total); err != nil {
			return nil, 0, dbErr(op+": count", err)
		}
	}
	return list, total, nil
}

// inTx runs fn in one transaction: begin, defer rollback, commit last.
func (s *Store) inTx(ctx context.Context, op string, fn func(tx pgx.Tx) error) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return dbErr(op+": begin", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) //nolint:errcheck // a no-op after commit
	if err := fn(tx); err != nil {
		return err
	}
	if err := tx.Commit(ctx); err != nil {
		return dbErr(op+": commit", err)
	}
	return nil
}

// SQLSTATEs the store matches.
const (
	uniqueViolation     = "23505"
	foreignKeyViolation = "23503"
	checkViolation      = "23514"
	queryCanceled       = "57014"
)

func pgCode(err error) (string, string) {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code, pgErr.ConstraintName
	}
	return "", ""
}

// dbErr turns a pgx error into an apperr: an *apperr.Error passes through;
// connection failures, time-outs and server shutdowns become
// SERVICE_UNAVAILABLE (the client may retry); the rest are INTERNAL.
func dbErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if _, ok := apperr.As(err); ok {
		return err
	}
	wrapped := fmt.Errorf("store: %s: %w", op, err)
	if errors.Is(err, context.Canceled) {
		return wrapped
	}
	code, _ := pgCode(err)
	switch {
	case code == "":
		// Not an error from the server: the connection could not be made or
		// was lost, or the pool timed out.
		return apperr.Wrap(apperr.Unavailable, "The database is unavailable; please retry.", wrapped)
	case code == queryCanceled, code[:2] == "08", code[:2] == "53", code[:2] == "57",
		code == "40001", code == "40P01":
		return apperr.Wrap(apperr.Unavailable, "The database is unavailable; please retry.", wrapped)
	default:
		return apperr.Wrap(apperr.Internal, "Internal server error.", wrapped)
	}
}
