package tracing_test

import (
	"context"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgxpool"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/praxiom/praxiom-api/internal/config"
	"github.com/praxiom/praxiom-api/internal/otlptest"
	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/redistest"
	"github.com/praxiom/praxiom-api/internal/tracing"
)

// TestQuerySpansNeverCarryArguments runs queries on a real PostgreSQL
// through the provider's pgx tracer under a request-like parent span. Each
// query is a child span with its SQL text; the arguments appear nowhere in
// what is exported, also not through the errors PostgreSQL and pgx make of
// them (which do quote them: the test checks that first), and a failed
// query keeps its SQLSTATE and error status. Queries outside any span make
// no span at all.
func TestQuerySpansNeverCarryArguments(t *testing.T) {
	recv := otlptest.New(t)
	tp, err := tracing.New(context.Background(), config.Tracing{Endpoint: recv.Endpoint(), Sampler: "always_on"})
	if err != nil {
		t.Fatal(err)
	}
	defer tp.Shutdown(context.Background()) //nolint:errcheck
	cfg, err := pgxpool.ParseConfig(pgtest.NewDatabase(t))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ConnConfig.Tracer = tp.QueryTracer()
	pool, err := pgxpool.NewWithConfig(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()

	// Outside a span: no span.
	if _, err := pool.Exec(context.Background(), "SELECT 1"); err != nil {
		t.Fatal(err)
	}

	ctx, parent := tp.TracerProvider().Tracer("test").Start(context.Background(), "GET /test")
	const secret = "S3cretArgument"
	var n int
	if err := pool.QueryRow(ctx, "SELECT length($1::text)", secret).Scan(&n); err != nil || n != len(secret) {
		t.Fatalf("query: %v", err)
	}
	// PostgreSQL quotes the argument in its message.
	_, err = pool.Exec(ctx, "SELECT $1::text::int", secret)
	if err == nil || !strings.Contains(err.Error(), secret) {
		t.Fatalf("the server's error should quote the argument for this test to mean anything: %v", err)
	}
	// pgx prints a value it cannot encode.
	_, err = pool.Exec(ctx, "SELECT $1::int", struct{ Token string }{secret})
	if err == nil || !strings.Contains(err.Error(), secret) {
		t.Fatalf("pgx's error should print the value for this test to mean anything: %v", err)
	}
	parent.End()
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}

	if recv.Contains([]byte(secret)) {
		t.Fatal("an exported span carries a query argument")
	}
	var parentID string
	for _, s := range recv.Spans() {
		if s.GetName() == "GET /test" {
			parentID = s.SpanID()
		}
	}
	queries, failed, sqlstate := 0, 0, false
	for _, s := range recv.Spans() {
		sql, ok := s.Attr("db.query.text")
		if !ok || !strings.HasPrefix(sql, "SELECT") {
			continue
		}
		if sql == "SELECT 1" {
			t.Error("a query outside any span made a span")
		}
		if s.ParentID() == parentID {
			queries++
		}
		if s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR {
			failed++
			if code, _ := s.Attr("pgx.sql_state"); code == "22P02" {
				sqlstate = true
			}
		}
	}
	if queries != 3 {
		t.Errorf("%d query spans under the parent, want 3", queries)
	}
	if failed < 2 || !sqlstate {
		t.Errorf("failed queries: %d error spans, SQLSTATE recorded %t", failed, sqlstate)
	}
}

// TestServiceInstanceID: every provider names its instance, a random UUID
// unless OTEL_RESOURCE_ATTRIBUTES names it, so that the spans of two
// instances of one service are told apart.
func TestServiceInstanceID(t *testing.T) {
	instanceOf := func() string {
		t.Helper()
		recv := otlptest.New(t)
		tp, err := tracing.New(context.Background(), config.Tracing{Endpoint: recv.Endpoint(), Sampler: "always_on"})
		if err != nil {
			t.Fatal(err)
		}
		_, span := tp.TracerProvider().Tracer("test").Start(context.Background(), "GET /test")
		span.End()
		if err := tp.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		spans := recv.Spans()
		if len(spans) != 1 {
			t.Fatalf("%d spans exported, want 1", len(spans))
		}
		if got := spans[0].Resource["service.name"]; got != config.DefaultServiceName {
			t.Errorf("service.name %q", got)
		}
		return spans[0].Resource["service.instance.id"]
	}
	a, b := instanceOf(), instanceOf()
	if _, err := uuid.Parse(a); err != nil || a == b {
		t.Fatalf("service.instance.id %q then %q: want two different UUIDs", a, b)
	}
	t.Setenv("OTEL_RESOURCE_ATTRIBUTES", "service.instance.id=pod-7,deployment.environment=staging")
	if got := instanceOf(); got != "pod-7" {
		t.Fatalf("service.instance.id %q with OTEL_RESOURCE_ATTRIBUTES naming pod-7", got)
	}
}

// TestRedisCommandsAreChildSpans: with a Provider, each command of an
// instrumented Redis client (the shared rate limits) is a child span of
// the request's, and nothing exported carries the command's arguments.
func TestRedisCommandsAreChildSpans(t *testing.T) {
	recv := otlptest.New(t)
	tp, err := tracing.New(context.Background(), config.Tracing{Endpoint: recv.Endpoint(), Sampler: "always_on"})
	if err != nil {
		t.Fatal(err)
	}
	rdb := redistest.Start(t).Client(t)
	if err := tp.InstrumentRedis(rdb); err != nil {
		t.Fatal(err)
	}
	ctx, parent := tp.TracerProvider().Tracer("test").Start(context.Background(), "GET /test")
	const secret = "user:S3cretKey"
	if err := rdb.Set(ctx, secret, "S3cretValue", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if err := rdb.Get(ctx, secret).Err(); err != nil {
		t.Fatal(err)
	}
	parent.End()
	if err := tp.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if recv.Contains([]byte("S3cret")) {
		t.Fatal("an exported span carries a Redis argument")
	}
	var parentID string
	for _, s := range recv.Spans() {
		if s.GetName() == "GET /test" {
			parentID = s.SpanID()
		}
	}
	var names []string
	for _, s := range recv.Spans() {
		if s.ParentID() == parentID && parentID != "" {
			names = append(names, s.GetName())
		}
	}
	if len(names) != 2 || names[0] != "set" || names[1] != "get" {
		t.Fatalf("child spans %v, want [set get]", names)
	}
	// Off: nothing to add, no error.
	var off *tracing.Provider
	if err := off.InstrumentRedis(rdb); err != nil {
		t.Fatal(err)
	}
}
