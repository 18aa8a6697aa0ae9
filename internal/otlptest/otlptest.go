// Package otlptest is an in-process OTLP/HTTP trace receiver for tests: an
// httptest server that accepts POST /v1/traces with a protobuf
// ExportTraceServiceRequest (gzip or not), as an OpenTelemetry collector
// does, and keeps every body and every span it received. Point the code
// under test at Endpoint() (OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) or at
// URL() (OTEL_EXPORTER_OTLP_ENDPOINT). It listens on the loopback
// interface only and is closed when the test ends.
package otlptest

import (
	"bytes"
	"compress/gzip"
	"encoding/hex"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// Receiver is a fake OTLP/HTTP trace collector. Its methods are safe for
// concurrent use, also while exports arrive.
type Receiver struct {
	srv *httptest.Server
	// sink: read and acknowledge exports, keep nothing (NewSink).
	sink bool

	mu      sync.Mutex
	exports int
	bodies  [][]byte
	spans   []Span
}

// Span is one received span with what its envelope said about it.
type Span struct {
	*tracepb.Span
	// Resource are the string attributes of the span's resource
	// (service.name, …).
	Resource map[string]string
	// Scope is the name of the instrumentation scope that made it.
	Scope string
}

// New starts a receiver; it is closed by tb's cleanup.
func New(tb testing.TB) *Receiver {
	tb.Helper()
	return start(tb, &Receiver{})
}

// NewSink starts a receiver that reads and acknowledges every export but
// neither decodes nor keeps it (Spans stays empty; Exports counts them):
// for benchmarks, where decoding would add the collector's work to the
// exporter's.
func NewSink(tb testing.TB) *Receiver {
	tb.Helper()
	return start(tb, &Receiver{sink: true})
}

func start(tb testing.TB, r *Receiver) *Receiver {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/traces", r.export)
	r.srv = httptest.NewServer(mux)
	tb.Cleanup(r.srv.Close)
	return r
}

// URL is the receiver's base URL (for OTEL_EXPORTER_OTLP_ENDPOINT).
func (r *Receiver) URL() string { return r.srv.URL }

// Endpoint is the traces URL (for OTEL_EXPORTER_OTLP_TRACES_ENDPOINT).
func (r *Receiver) Endpoint() string { return r.srv.URL + "/v1/traces" }

func (r *Receiver) export(w http.ResponseWriter, req *http.Request) {
	if ct := req.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, "unsupported content type "+ct, http.StatusUnsupportedMediaType)
		return
	}
	var body io.Reader = req.Body
	if req.Header.Get("Content-Encoding") == "gzip" {
		zr, err := gzip.NewReader(req.Body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		body = zr
	}
	if r.sink {
		_, _ = io.Copy(io.Discard, body)
		r.mu.Lock()
		r.exports++
		r.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
		return // an empty body is an empty ExportTraceServiceResponse
	}
	raw, err := io.ReadAll(io.LimitReader(body, 64<<20))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var msg collectortrace.ExportTraceServiceRequest
	if err := proto.Unmarshal(raw, &msg); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var got []Span
	for _, rs := range msg.GetResourceSpans() {
		res := map[string]string{}
		for _, kv := range rs.GetResource().GetAttributes() {
			res[kv.GetKey()] = kv.GetValue().GetStringValue()
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				got = append(got, Span{Span: s, Resource: res, Scope: ss.GetScope().GetName()})
			}
		}
	}
	r.mu.Lock()
	r.exports++
	r.bodies = append(r.bodies, raw)
	r.spans = append(r.spans, got...)
	r.mu.Unlock()
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

// Exports is the number of export requests received so far.
func (r *Receiver) Exports() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.exports
}

// Spans returns every span received so far, in the order they arrived.
func (r *Receiver) Spans() []Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Span(nil), r.spans...)
}

// Contains reports whether any body received so far (decompressed)
// contains b anywhere: a span name, attribute, event, resource or scope.
func (r *Receiver) Contains(b []byte) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, body := range r.bodies {
		if bytes.Contains(body, b) {
			return true
		}
	}
	return false
}

// TraceID is the span's trace id in hex, as W3C traceparent writes it.
func (s Span) TraceID() string { return hex.EncodeToString(s.GetTraceId()) }

// SpanID is the span's id in hex.
func (s Span) SpanID() string { return hex.EncodeToString(s.GetSpanId()) }

// ParentID is the id of the span's parent in hex ("" for a root span).
func (s Span) ParentID() string { return hex.EncodeToString(s.GetParentSpanId()) }

// Attr returns the span attribute key as text (strings as they are, other
// values in their protobuf text form) and whether the span has it.
func (s Span) Attr(key string) (string, bool) {
	for _, kv := range s.GetAttributes() {
		if kv.GetKey() == key {
			return valueText(kv.GetValue()), true
		}
	}
	return "", false
}

// IntAttr returns the integer span attribute key and whether the span has
// it as an integer.
func (s Span) IntAttr(key string) (int64, bool) {
	for _, kv := range s.GetAttributes() {
		if iv, ok := kv.GetValue().GetValue().(*commonpb.AnyValue_IntValue); ok && kv.GetKey() == key {
			return iv.IntValue, true
		}
	}
	return 0, false
}

func valueText(v *commonpb.AnyValue) string {
	if sv, ok := v.GetValue().(*commonpb.AnyValue_StringValue); ok {
		return sv.StringValue
	}
	return v.String()
}
