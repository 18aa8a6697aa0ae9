package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/praxiom/praxiom-api/internal/config"
	"github.com/praxiom/praxiom-api/internal/otlptest"
	"github.com/praxiom/praxiom-api/internal/tracing"
)

// TestTracingOffLeavesTheChainAlone: without a tracing provider (tracing
// off, production's default) ServeHTTP calls the router behind served
// itself: no otelhttp wrapper, no span, no propagation. With one, it is
// wrapped.
func TestTracingOffLeavesTheChainAlone(t *testing.T) {
	off := New(Deps{Logger: slog.New(slog.DiscardHandler)})
	if e, plain := off.entry.(served); !plain || e.router != off.handler || off.traced {
		t.Fatalf("without tracing the entry handler is %T (traced %t), want served", off.entry, off.traced)
	}
	tp := newTestProvider(t, otlptest.New(t))
	on := New(Deps{Tracing: tp, Logger: slog.New(slog.DiscardHandler)})
	if _, plain := on.entry.(served); plain || !on.traced {
		t.Fatal("with tracing the router is not wrapped")
	}
}

// TestTracingMarksServerErrors: a 5xx answer marks the request's span as an
// error, a 2xx does not; both carry their status code and are named by
// their route.
func TestTracingMarksServerErrors(t *testing.T) {
	recv := otlptest.New(t)
	tp := newTestProvider(t, recv)
	s := New(Deps{Tracing: tp, Logger: slog.New(slog.DiscardHandler)})
	s.Drain() // /readyz answers 503 without asking the database
	for _, path := range []string{"/healthz", "/readyz"} {
		w := httptest.NewRecorder()
		s.ServeHTTP(w, httptest.NewRequest(http.MethodGet, path, nil))
	}
	if err := tp.ForceFlush(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string]struct {
		code  int64
		error bool
	}{"GET /healthz": {200, false}, "GET /readyz": {503, true}}
	got := 0
	for _, sp := range recv.Spans() {
		w, ok := want[sp.GetName()]
		if !ok {
			t.Errorf("unexpected span %q", sp.GetName())
			continue
		}
		got++
		if code, _ := sp.IntAttr("http.response.status_code"); code != w.code {
			t.Errorf("%s: status code %d, want %d", sp.GetName(), code, w.code)
		}
		if isErr := sp.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR; isErr != w.error {
			t.Errorf("%s: error status %t, want %t", sp.GetName(), isErr, w.error)
		}
	}
	if got != len(want) {
		t.Fatalf("%d of %d spans exported", got, len(want))
	}
}

// newTestProvider returns a provider exporting to recv, shut down when the
// test ends.
func newTestProvider(t *testing.T, recv *otlptest.Receiver) *tracing.Provider {
	t.Helper()
	tp, err := tracing.New(context.Background(), config.Tracing{Endpoint: recv.Endpoint(), Sampler: "parentbased_always_on"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	return tp
}
