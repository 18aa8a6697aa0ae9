package app_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/app"
	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// TestRequestLogWriterIsNewLoggers: the server appends its request line by
// hand to the writer of a NewLogger logger, and only of one: another
// logger, or a NewLogger logger with attributes or a group added, logs it
// through slog.
func TestRequestLogWriterIsNewLoggers(t *testing.T) {
	lw := app.NewLogWriter(io.Discard)
	defer lw.Close()
	log := app.NewLogger(lw, "info")
	if w := app.RequestLogWriter(log); w != lw {
		t.Fatalf("NewLogger's request log writer is %v, want its LogWriter", w)
	}
	for name, other := range map[string]*slog.Logger{
		"slog's own JSON logger": slog.New(slog.NewJSONHandler(lw, nil)),
		"with an attribute":      log.With("component", "x"),
		"with a group":           log.WithGroup("g"),
		"nil":                    nil,
	} {
		if w := app.RequestLogWriter(other); w != nil {
			t.Errorf("%s: request log writer %v, want none", name, w)
		}
	}
}

// requestLines are the lines of out with "msg":"request".
func requestLines(out string) []string {
	var lines []string
	for _, l := range strings.SplitAfter(out, "\n") {
		if strings.Contains(l, `"msg":"request"`) {
			lines = append(lines, l)
		}
	}
	return lines
}

// TestRequestLogLine: through the production wiring (NewAPI with a
// NewLogger over a LogWriter, as Serve builds them) a request writes
// exactly one line, in slog's JSON format to the byte, with the request's
// fields, buffered at info; a 5xx's line says "level":"ERROR" and is
// written at once; at LOG_LEVEL=warn the info line is dropped and the
// error line stays.
func TestRequestLogLine(t *testing.T) {
	url := pgtest.NewDatabase(t)
	st, err := store.Open(context.Background(), url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	cfg := apitest.Config(t, url, apitest.Options{})
	newAPI := func(level string) (*app.API, *app.LogWriter, *countingBuffer) {
		out := &countingBuffer{}
		lw := app.NewLogWriter(out)
		t.Cleanup(func() { _ = lw.Close() })
		cfg.LogLevel = level
		api, err := app.NewAPI(cfg, st, nil, app.NewLogger(lw, cfg.LogLevel))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = api.Close() })
		return api, lw, out
	}
	serve := func(api *app.API, path, id string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodGet, path, nil)
		r.Header.Set("X-Request-ID", id)
		w := httptest.NewRecorder()
		api.ServeHTTP(w, r)
		return w
	}

	api, lw, out := newAPI("info")
	before := time.Now()
	w := serve(api, "/healthz", "log-line-1")
	after := time.Now()
	if w.Code != http.StatusOK {
		t.Fatalf("/healthz: %d", w.Code)
	}
	if s, _ := out.state(); len(requestLines(s)) != 0 {
		t.Fatalf("the info line was written at once, not buffered:\n%s", s)
	}
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	s, _ := out.state()
	lines := requestLines(s)
	if len(lines) != 1 {
		t.Fatalf("%d request lines for one request:\n%s", len(lines), s)
	}
	line := lines[0]

	// The fields, in record's order.
	dec := json.NewDecoder(strings.NewReader(line))
	dec.UseNumber()
	var keys []string
	fields := map[string]any{}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("not a JSON object: %s", line)
	}
	for dec.More() {
		k, err := dec.Token()
		if err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		var v any
		if err := dec.Decode(&v); err != nil {
			t.Fatalf("%v: %s", err, line)
		}
		keys = append(keys, k.(string))
		fields[k.(string)] = v
	}
	if want := []string{"time", "level", "msg", "request_id", "method", "route", "status", "bytes", "latency"}; !slices.Equal(keys, want) {
		t.Fatalf("keys %v, want %v", keys, want)
	}
	at, err := time.Parse(time.RFC3339Nano, fields["time"].(string))
	if err != nil || at.Before(before.Round(0)) || at.After(after) {
		t.Errorf("time %v (%v), want between %v and %v", fields["time"], err, before, after)
	}
	latency, err := fields["latency"].(json.Number).Int64()
	if err != nil || latency <= 0 || latency > int64(after.Sub(before)) {
		t.Errorf("latency %v, want the request's nanoseconds (at most %d)", fields["latency"], after.Sub(before))
	}
	for k, want := range map[string]any{"level": "INFO", "msg": "request", "request_id": "log-line-1",
		"method": "GET", "route": "/healthz", "status": json.Number("200"),
		"bytes": json.Number(strconv.Itoa(w.Body.Len()))} {
		if fields[k] != want {
			t.Errorf("%s = %v, want %v", k, fields[k], want)
		}
	}

	// Byte for byte what NewLogger's JSON handler writes for that record.
	var want bytes.Buffer
	rec := slog.NewRecord(at, slog.LevelInfo, "request", 0)
	rec.AddAttrs(slog.String("request_id", "log-line-1"), slog.String("method", "GET"),
		slog.String("route", "/healthz"), slog.Int("status", 200), slog.Int("bytes", w.Body.Len()),
		slog.Duration("latency", time.Duration(latency)))
	if err := app.NewLogger(&want, "info").Handler().Handle(context.Background(), rec); err != nil {
		t.Fatal(err)
	}
	if line != want.String() {
		t.Fatalf("the request line differs from slog's:\n got %s\nwant %s", line, want.String())
	}

	// A 5xx: an ERROR line, written at once (LogWriter's urgency check).
	api, _, out = newAPI("info")
	api.Drain()
	if w := serve(api, "/readyz", "log-line-503"); w.Code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz while draining: %d", w.Code)
	}
	s, _ = out.state()
	lines = requestLines(s)
	if len(lines) != 1 || !strings.HasSuffix(s, lines[0]) || !strings.Contains(lines[0], `"level":"ERROR"`) ||
		!strings.Contains(lines[0], `"request_id":"log-line-503"`) || !strings.Contains(lines[0], `"status":503`) {
		t.Fatalf("the 503's line was not written at once as the last ERROR line:\n%s", s)
	}

	// LOG_LEVEL=warn: no info line, the error line as before.
	api, lw, out = newAPI("warn")
	serve(api, "/healthz", "log-line-warn")
	api.Drain()
	serve(api, "/readyz", "log-line-warn-503")
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	s, _ = out.state()
	if lines := requestLines(s); len(lines) != 1 || !strings.Contains(lines[0], `"request_id":"log-line-warn-503"`) ||
		!strings.Contains(lines[0], `"level":"ERROR"`) {
		t.Fatalf("at warn, want only the 503's request line:\n%s", s)
	}
}
