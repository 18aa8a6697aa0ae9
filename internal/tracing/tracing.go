// Package tracing exports OpenTelemetry traces over OTLP/HTTP when an
// endpoint is configured (README, "Tracing") and adds nothing otherwise: a
// nil *Provider is tracing turned off, and each of its methods then hands
// back what it was given, so that the handler chain, the HTTP clients and
// the pgx pool are exactly what they are in a build without tracing.
//
// With a Provider, each request is a server span (otelhttp) that the
// router renames after the route pattern (NameServerSpan); database queries
// are child spans (otelpgx, with the SQL text and never the arguments) and
// so are outgoing HTTP calls (otelhttp's transport). Spans go through a
// batch span processor to the exporter; W3C tracecontext and baggage are
// read from requests and written into outgoing ones.
package tracing

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/redis/go-redis/extra/redisotel/v9"
	"github.com/redis/go-redis/v9"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"

	"github.com/praxiom/praxiom-api/internal/config"
)

// Provider is the service's tracer provider with its propagator. A nil
// *Provider is tracing turned off; every method may be called on it.
type Provider struct {
	tp   *sdktrace.TracerProvider
	prop propagation.TextMapPropagator
}

// New returns a Provider exporting to c.Endpoint, or nil (tracing off, not
// an error) when c.Endpoint is empty. The exporter also reads the SDK's own
// OTEL_EXPORTER_OTLP_* transport variables (headers, compression, time-out,
// certificates) and the batch processor its OTEL_BSP_* from the process
// environment; service.name is c.ServiceName, else the one in
// OTEL_RESOURCE_ATTRIBUTES, else config.DefaultServiceName, and
// service.instance.id the one in OTEL_RESOURCE_ATTRIBUTES, else a random
// UUID made at start-up, so that two instances' spans never look like one
// instance's. Nothing is sent before the first span ends. Call Shutdown to
// flush and stop.
func New(ctx context.Context, c config.Tracing) (*Provider, error) {
	if c.Endpoint == "" {
		return nil, nil
	}
	sampler, err := newSampler(c.Sampler, c.SamplerArg)
	if err != nil {
		return nil, err
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(c.Endpoint))
	if err != nil {
		return nil, fmt.Errorf("tracing: exporter: %w", err)
	}
	detectors := []resource.Option{
		resource.WithTelemetrySDK(),
		resource.WithAttributes(
			attribute.String("service.name", config.DefaultServiceName),
			attribute.String("service.instance.id", uuid.NewString()),
		),
		resource.WithFromEnv(), // OTEL_RESOURCE_ATTRIBUTES, OTEL_SERVICE_NAME
	}
	if c.ServiceName != "" {
		detectors = append(detectors, resource.WithAttributes(attribute.String("service.name", c.ServiceName)))
	}
	res, err := resource.New(ctx, detectors...)
	if err != nil {
		return nil, fmt.Errorf("tracing: resource: %w", err)
	}
	return &Provider{
		tp: sdktrace.NewTracerProvider(
			sdktrace.WithBatcher(redactingExporter{exp}),
			sdktrace.WithResource(res),
			sdktrace.WithSampler(sampler),
		),
		prop: propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}),
	}, nil
}

// newSampler builds the sampler OTEL_TRACES_SAMPLER names (config.Samplers),
// with arg as the ratio of the *traceidratio ones, as the SDK reads them.
func newSampler(name string, arg float64) (sdktrace.Sampler, error) {
	switch name {
	case "", "parentbased_always_on":
		return sdktrace.ParentBased(sdktrace.AlwaysSample()), nil
	case "parentbased_always_off":
		return sdktrace.ParentBased(sdktrace.NeverSample()), nil
	case "parentbased_traceidratio":
		return sdktrace.ParentBased(sdktrace.TraceIDRatioBased(arg)), nil
	case "always_on":
		return sdktrace.AlwaysSample(), nil
	case "always_off":
		return sdktrace.NeverSample(), nil
	case "traceidratio":
		return sdktrace.TraceIDRatioBased(arg), nil
	}
	return nil, fmt.Errorf("tracing: unknown sampler %q", name)
}

// TracerProvider returns the provider spans are made with: a no-op one when
// tracing is off.
func (p *Provider) TracerProvider() trace.TracerProvider {
	if p == nil {
		return tracenoop.NewTracerProvider()
	}
	return p.tp
}

// SetGlobal makes p the process's global tracer provider and propagator
// (otel.Tracer, otel.GetTextMapPropagator), for code that is not handed the
// Provider, and sends the SDK's errors (a failed export) to log as
// warnings. It does nothing when tracing is off.
func (p *Provider) SetGlobal(log *slog.Logger) {
	if p == nil {
		return
	}
	otel.SetTracerProvider(p.tp)
	otel.SetTextMapPropagator(p.prop)
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		log.Warn("tracing: "+err.Error(), "component", "opentelemetry")
	}))
}

// Handler wraps next in a server span per request (otelhttp): the incoming
// traceparent, when there is one, is its parent; its status and status
// code are set from the response. The span is named by the method until
// the handler calls NameServerSpan. Without tracing, next is returned as
// it is.
func (p *Provider) Handler(next http.Handler) http.Handler {
	if p == nil {
		return next
	}
	return otelhttp.NewHandler(next, "",
		otelhttp.WithTracerProvider(p.tp), otelhttp.WithPropagators(p.prop),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()))
}

// ServerSpan is what the router learnt about a request, for its span.
type ServerSpan struct {
	// Name is the span's name: method and route pattern.
	Name string
	// Route is the route pattern (http.route); empty when none matched.
	Route string
	// RequestID is the request's X-Request-ID (request_id).
	RequestID string
	// ClientAddress is the client as the service sees it (client.address):
	// X-Forwarded-For is believed only from trusted proxies, which
	// otelhttp cannot know.
	ClientAddress string
}

// NameServerSpan names the request's server span and records s on it. It
// returns the trace id, or "" when ctx holds no valid span context.
func NameServerSpan(ctx context.Context, s ServerSpan) string {
	span := trace.SpanFromContext(ctx)
	sc := span.SpanContext()
	if !sc.IsValid() {
		return ""
	}
	if span.IsRecording() {
		span.SetName(s.Name)
		attrs := make([]attribute.KeyValue, 0, 3)
		attrs = append(attrs, attribute.String("request_id", s.RequestID))
		if s.Route != "" {
			attrs = append(attrs, attribute.String("http.route", s.Route))
		}
		if s.ClientAddress != "" {
			attrs = append(attrs, attribute.String("client.address", s.ClientAddress))
		}
		span.SetAttributes(attrs...)
	}
	return sc.TraceID().String()
}

// Client returns a copy of hc (a zero client when nil) whose transport
// makes a client span named spanName around every request and sends the
// trace context along. Without tracing, hc is returned as it is.
func (p *Provider) Client(hc *http.Client, spanName string) *http.Client {
	if p == nil {
		return hc
	}
	var c http.Client
	if hc != nil {
		c = *hc
	}
	c.Transport = otelhttp.NewTransport(c.Transport,
		otelhttp.WithTracerProvider(p.tp), otelhttp.WithPropagators(p.prop),
		otelhttp.WithMeterProvider(metricnoop.NewMeterProvider()),
		otelhttp.WithSpanNameFormatter(func(string, *http.Request) string { return spanName }))
	return &c
}

// InstrumentRedis makes each command rdb sends (the shared rate limits) a
// child span of the request that sent it, through redisotel, without the
// command's arguments: its keys name users, API keys and client addresses.
// With tracing off (a nil Provider) it adds nothing.
func (p *Provider) InstrumentRedis(rdb *redis.Client) error {
	if p == nil {
		return nil
	}
	if err := redisotel.InstrumentTracing(rdb, redisotel.WithTracerProvider(p.tp),
		redisotel.WithDBStatement(false), redisotel.WithCallerEnabled(false)); err != nil {
		return fmt.Errorf("tracing: redis: %w", err)
	}
	return nil
}

// QueryTracer returns the pgx tracer (for store.Options.Tracer) that makes
// a child span of the request's span for every query, batch, prepare,
// connection and pool acquire: the SQL text is recorded, the arguments
// never, and a query's error only by its SQLSTATE (see scrub). Without
// tracing it returns nil, and the pool has no tracer.
func (p *Provider) QueryTracer() pgx.QueryTracer {
	if p == nil {
		return nil
	}
	return newQueryTracer(p.tp)
}

// ForceFlush exports every span ended so far. It does nothing when tracing
// is off.
func (p *Provider) ForceFlush(ctx context.Context) error {
	if p == nil {
		return nil
	}
	return p.tp.ForceFlush(ctx)
}

// Shutdown flushes the spans not yet exported and stops the exporter; it
// waits at most until ctx ends. It does nothing when tracing is off.
func (p *Provider) Shutdown(ctx context.Context) error {
	if p == nil {
		return nil
	}
	if err := p.tp.Shutdown(ctx); err != nil {
		return fmt.Errorf("tracing: shutdown: %w", err)
	}
	return nil
}

// withheldServerAttrs are the attributes otelhttp records on a server span
// that repeat the request line as the client wrote it: the raw path and
// query (GET /api/invitations/{token} carries a secret in its path) and a
// method outside the fixed set. The span keeps http.route instead.
var withheldServerAttrs = map[attribute.Key]bool{
	"url.path": true, "url.query": true, "url.full": true, "http.target": true,
	"http.request.method_original": true,
}

// redactingExporter drops withheldServerAttrs from every server span before
// the spans leave the process.
type redactingExporter struct{ sdktrace.SpanExporter }

func (e redactingExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	out := make([]sdktrace.ReadOnlySpan, len(spans))
	for i, s := range spans {
		if s.SpanKind() == trace.SpanKindServer {
			s = redactedSpan{s}
		}
		out[i] = s
	}
	return e.SpanExporter.ExportSpans(ctx, out)
}

// redactedSpan is a server span without withheldServerAttrs.
type redactedSpan struct{ sdktrace.ReadOnlySpan }

func (s redactedSpan) Attributes() []attribute.KeyValue {
	attrs := s.ReadOnlySpan.Attributes()
	kept := make([]attribute.KeyValue, 0, len(attrs))
	for _, a := range attrs {
		if !withheldServerAttrs[a.Key] {
			kept = append(kept, a)
		}
	}
	return kept
}
