package tracing

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/praxiom/praxiom-api/internal/config"
)

// TestOffHandsBackWhatItGets: without an endpoint New returns no provider,
// and a nil provider adds nothing: the handler and the client come back as
// they went in, the pool gets no tracer, and flushing is a no-op.
func TestOffHandsBackWhatItGets(t *testing.T) {
	p, err := New(context.Background(), config.Tracing{Sampler: "always_on"})
	if p != nil || err != nil {
		t.Fatalf("New without an endpoint = %v, %v", p, err)
	}
	h := http.NewServeMux()
	if got := p.Handler(h); got != http.Handler(h) {
		t.Fatalf("Handler wrapped the handler: %T", got)
	}
	hc := &http.Client{}
	if got := p.Client(hc, "x"); got != hc || hc.Transport != nil {
		t.Fatal("Client changed the client")
	}
	if got := p.Client(nil, "x"); got != nil {
		t.Fatal("Client(nil) made a client")
	}
	if qt := p.QueryTracer(); qt != nil {
		t.Fatalf("QueryTracer = %T, want nil", qt)
	}
	if p.TracerProvider().Tracer("x") == nil || p.ForceFlush(context.Background()) != nil || p.Shutdown(context.Background()) != nil {
		t.Fatal("a nil provider's methods must be no-ops")
	}
	p.SetGlobal(nil) // must not touch the logger
}

// TestSamplers: each OTEL_TRACES_SAMPLER name builds the SDK's sampler of
// that name, with the ratio; an unknown one is refused.
func TestSamplers(t *testing.T) {
	for name, want := range map[string]string{
		"":                         sdktrace.ParentBased(sdktrace.AlwaysSample()).Description(),
		"parentbased_always_on":    sdktrace.ParentBased(sdktrace.AlwaysSample()).Description(),
		"parentbased_always_off":   sdktrace.ParentBased(sdktrace.NeverSample()).Description(),
		"parentbased_traceidratio": sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.25)).Description(),
		"always_on":                "AlwaysOnSampler",
		"always_off":               "AlwaysOffSampler",
		"traceidratio":             "TraceIDRatioBased{0.25}",
	} {
		s, err := newSampler(name, 0.25)
		if err != nil || s.Description() != want {
			t.Errorf("%q: %v %v, want %s", name, s, err, want)
		}
	}
	if _, err := New(context.Background(), config.Tracing{Endpoint: "http://127.0.0.1:4318/v1/traces", Sampler: "jaeger_remote"}); err == nil {
		t.Error("an unknown sampler was accepted")
	}
}

// TestRedactingExporterDropsTheRequestLine: a server span loses the raw
// path, query, URL and method before export; other attributes stay, and a
// client span (an outgoing call) keeps its URL.
func TestRedactingExporterDropsTheRequestLine(t *testing.T) {
	mem := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(redactingExporter{mem}))
	tr := tp.Tracer("test")
	line := []attribute.KeyValue{
		attribute.String("url.path", "/api/invitations/inv_secret"), attribute.String("url.query", "a=secret"),
		attribute.String("url.full", "http://h/api/invitations/inv_secret"), attribute.String("http.target", "/x?secret"),
		attribute.String("http.request.method_original", "SECRETMETHOD"), attribute.String("http.route", "/api/invitations/{token}"),
	}
	_, server := tr.Start(context.Background(), "GET /api/invitations/{token}", trace.WithSpanKind(trace.SpanKindServer), trace.WithAttributes(line...))
	server.End()
	_, client := tr.Start(context.Background(), "Clerk GET /jwks", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("url.full", "http://clerk/v1/jwks")))
	client.End()

	spans := mem.GetSpans()
	if len(spans) != 2 {
		t.Fatalf("%d spans exported", len(spans))
	}
	got := map[string]map[attribute.Key]string{}
	for _, s := range spans {
		got[s.Name] = map[attribute.Key]string{}
		for _, a := range s.Attributes {
			got[s.Name][a.Key] = a.Value.AsString()
		}
	}
	srv := got["GET /api/invitations/{token}"]
	if len(srv) != 1 || srv["http.route"] != "/api/invitations/{token}" {
		t.Errorf("server span attributes after redaction: %v", srv)
	}
	if got["Clerk GET /jwks"]["url.full"] != "http://clerk/v1/jwks" {
		t.Errorf("client span lost its URL: %v", got["Clerk GET /jwks"])
	}
}

// TestScrub: what of a query error a span may record.
func TestScrub(t *testing.T) {
	pgErr := &pgconn.PgError{Severity: "ERROR", Code: "22P02", Message: `invalid input syntax for type uuid: "secret"`,
		Detail: "Key (email)=(secret) already exists.", ConstraintName: "users_email_key", TableName: "users"}
	got := scrub(fmt.Errorf("wrapped: %w", pgErr))
	var scrubbed *pgconn.PgError
	if !errors.As(got, &scrubbed) || scrubbed.Code != "22P02" || scrubbed.ConstraintName != "users_email_key" ||
		scrubbed.TableName != "users" || scrubbed.Detail != "" || scrubbed.Message != "details withheld from traces" {
		t.Errorf("scrub(PgError) = %#v", got)
	}
	for in, want := range map[error]error{
		nil:                                   nil,
		fmt.Errorf("x: %w", context.Canceled): context.Canceled,
		fmt.Errorf("x: %w", context.DeadlineExceeded): context.DeadlineExceeded,
		pgx.ErrNoRows: pgx.ErrNoRows,
		errors.New(`unable to encode "secret" into binary format`): errWithheld,
	} {
		if got := scrub(in); got != want {
			t.Errorf("scrub(%v) = %v, want %v", in, got, want)
		}
	}
}
