package tracing

import (
	"context"
	"errors"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
)

// queryTracer is otelpgx's tracer with every query error scrubbed before it
// is recorded on a span. Embedding keeps all the pgx and pgxpool tracer
// interfaces otelpgx implements (queries, batches, prepares, copies,
// connects, acquires); only the hooks that receive a query's error are
// overridden.
type queryTracer struct{ *otelpgx.Tracer }

var (
	_ pgx.QueryTracer       = queryTracer{}
	_ pgx.BatchTracer       = queryTracer{}
	_ pgx.PrepareTracer     = queryTracer{}
	_ pgx.CopyFromTracer    = queryTracer{}
	_ pgx.ConnectTracer     = queryTracer{}
	_ pgxpool.AcquireTracer = queryTracer{}
)

// newQueryTracer returns the pgx tracer of tp: spans only under a
// recording parent span (a request's), the SQL text as db.query.text, no
// arguments, connection details (host, port, user, database) but never a
// password, and no metrics (Prometheus has the pool's).
func newQueryTracer(tp trace.TracerProvider) queryTracer {
	return queryTracer{otelpgx.NewTracer(
		otelpgx.WithTracerProvider(tp),
		otelpgx.WithMeterProvider(metricnoop.NewMeterProvider()),
	)}
}

func (t queryTracer) TraceQueryEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceQueryEndData) {
	data.Err = scrub(data.Err)
	t.Tracer.TraceQueryEnd(ctx, conn, data)
}

func (t queryTracer) TraceBatchQuery(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchQueryData) {
	data.Err = scrub(data.Err)
	t.Tracer.TraceBatchQuery(ctx, conn, data)
}

func (t queryTracer) TraceBatchEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceBatchEndData) {
	data.Err = scrub(data.Err)
	t.Tracer.TraceBatchEnd(ctx, conn, data)
}

func (t queryTracer) TraceCopyFromEnd(ctx context.Context, conn *pgx.Conn, data pgx.TraceCopyFromEndData) {
	data.Err = scrub(data.Err)
	t.Tracer.TraceCopyFromEnd(ctx, conn, data)
}

func (t queryTracer) TracePrepareEnd(ctx context.Context, conn *pgx.Conn, data pgx.TracePrepareEndData) {
	data.Err = scrub(data.Err)
	t.Tracer.TracePrepareEnd(ctx, conn, data)
}

// errWithheld stands for a query error that is neither PostgreSQL's nor a
// context's: pgx's encoding errors print the argument they failed on.
var errWithheld = errors.New("query failed (details withheld from traces)")

// scrub returns what of a query's error a span may carry. PostgreSQL's
// messages may quote an argument (`invalid input syntax for type uuid:
// "…"`), and pgx's encoding errors print the value they could not encode:
// a PostgreSQL error keeps its severity, SQLSTATE and the schema names it
// reports (constraint, table, column, type), with its message withheld; a
// context's cancellation or deadline and pgx.ErrNoRows pass as they are;
// anything else becomes errWithheld.
func scrub(err error) error {
	if err == nil {
		return nil
	}
	var pgErr *pgconn.PgError
	switch {
	case errors.As(err, &pgErr):
		return &pgconn.PgError{
			Severity: pgErr.Severity, Code: pgErr.Code, Message: "details withheld from traces",
			SchemaName: pgErr.SchemaName, TableName: pgErr.TableName, ColumnName: pgErr.ColumnName,
			DataTypeName: pgErr.DataTypeName, ConstraintName: pgErr.ConstraintName,
		}
	case errors.Is(err, context.Canceled):
		return context.Canceled
	case errors.Is(err, context.DeadlineExceeded):
		return context.DeadlineExceeded
	case errors.Is(err, pgx.ErrNoRows):
		return pgx.ErrNoRows
	}
	return errWithheld
}
