package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"
)

// slogLine is what slog's JSONHandler, as internal/app's NewLogger builds
// it (no options but the level), writes for the request line l at time
// now and level.
func slogLine(t testing.TB, now time.Time, level slog.Level, l *requestLine) []byte {
	t.Helper()
	var buf bytes.Buffer
	h := slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})
	r := slog.NewRecord(now, level, requestMsg, 0)
	var attrs [8]slog.Attr
	r.AddAttrs(l.attrs(&attrs)...)
	if err := h.Handle(context.Background(), r); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// lineNeedsSlog reports whether the fast path must leave the line to
// slog (a string it would have to escape, a time slog omits or does not
// write as RFC 3339), and whether it may (a time within a day of the
// years 0001–9999, which appendJSON leaves to slog without computing the
// year).
func lineNeedsSlog(now time.Time, level slog.Level, l *requestLine) (must, may bool) {
	for _, s := range []string{level.String(), l.requestID, l.method, l.route, l.impersonator, l.traceID} {
		if !plain(s) {
			return true, true
		}
	}
	if y := now.Year(); now.IsZero() || y < 0 || y >= 10000 {
		return true, true
	}
	return false, now.Before(time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC)) || now.After(time.Date(9999, 12, 30, 23, 59, 59, 0, time.UTC))
}

// checkRequestLine holds appendJSON to slog for one line: the same bytes,
// or a fallback when the line needs slog (and only then, away from the
// years' edges); and what was in the buffer before stays.
func checkRequestLine(t *testing.T, now time.Time, level slog.Level, l *requestLine) {
	t.Helper()
	prefix := []byte("kept|")
	got, ok := l.appendJSON(bytes.Clone(prefix), now, level)
	if !bytes.HasPrefix(got, prefix) {
		t.Fatalf("appendJSON lost what the buffer held: %q", got)
	}
	got = got[len(prefix):]
	if must, may := lineNeedsSlog(now, level, l); ok && must || !ok && !may {
		t.Fatalf("%+v at %v: ok = %v, but the line must go through slog: %v, may: %v", *l, now, ok, must, may)
	}
	if !ok {
		if len(got) != 0 {
			t.Fatalf("a fallback appended %q", got)
		}
		return
	}
	if want := slogLine(t, now, level, l); !bytes.Equal(got, want) {
		t.Fatalf("%+v at %v:\n got %s\nwant %s", *l, now, got, want)
	}
}

// TestRequestLineMatchesSlog: the request line appended by hand is, byte
// for byte, what slog's JSONHandler writes for the same record, across
// levels, statuses, optional attributes, latencies and time zones; a line
// with a string to escape, or a time slog cannot write, falls back.
func TestRequestLineMatchesSlog(t *testing.T) {
	base := requestLine{requestID: "0f8fad5b-d9cb-469f-a165-70867728950e", method: "GET",
		route: "/api/workspaces/{workspace_id}", status: 200, bytes: 512, latency: 1234567 * time.Nanosecond}
	with := func(f func(l *requestLine)) requestLine { l := base; f(&l); return l }
	lines := []struct {
		name  string
		level slog.Level
		line  requestLine
	}{
		{"200", slog.LevelInfo, base},
		{"500 at ERROR", slog.LevelError, with(func(l *requestLine) { l.status, l.bytes = 500, 97 })},
		{"503 at ERROR", slog.LevelError, with(func(l *requestLine) { l.status = 503 })},
		{"499 at INFO", slog.LevelInfo, with(func(l *requestLine) { l.status, l.bytes = 499, 0 })},
		{"bytes 0", slog.LevelInfo, with(func(l *requestLine) { l.status, l.bytes = 204, 0 })},
		{"latency 0", slog.LevelInfo, with(func(l *requestLine) { l.latency = 0 })},
		{"latency of hours", slog.LevelInfo, with(func(l *requestLine) { l.latency = 3*time.Hour + 7 })},
		{"latency max", slog.LevelInfo, with(func(l *requestLine) { l.latency = 1<<63 - 1 })},
		{"latency negative", slog.LevelInfo, with(func(l *requestLine) { l.latency = -5 })},
		{"unmatched", slog.LevelInfo, with(func(l *requestLine) {
			l.method, l.route, l.status = "OTHER", routeUnmatched, 405
		})},
		{"caller's request id", slog.LevelInfo, with(func(l *requestLine) { l.requestID = "req-1.A_b" })},
		{"impersonator", slog.LevelInfo, with(func(l *requestLine) { l.impersonator = "user_2abcDEF" })},
		{"trace id", slog.LevelInfo, with(func(l *requestLine) { l.traceID = "4bf92f3577b34da6a3ce929d0e0e4736" })},
		{"impersonator and trace id", slog.LevelError, with(func(l *requestLine) {
			l.status, l.impersonator, l.traceID = 502, "user_x", "4bf92f3577b34da6a3ce929d0e0e4736"
		})},
		{"impersonator with every printable", slog.LevelInfo, with(func(l *requestLine) {
			l.impersonator = " !#$%&'()*+,-./0123456789:;<=>?@[]^_`{|}~"
		})},
		{"route with a wildcard", slog.LevelInfo, with(func(l *requestLine) { l.route = "/api/*" })},
		{"debug level", slog.LevelDebug, base},
		{"warn level", slog.LevelWarn, base},
		{"a level between", slog.LevelInfo + 2, base},
	}
	for _, s := range hostileStrings {
		if s != "" {
			lines = append(lines, struct {
				name  string
				level slog.Level
				line  requestLine
			}{"impersonator " + s, slog.LevelInfo, with(func(l *requestLine) { l.impersonator = s })})
		}
	}
	lines = append(lines, struct {
		name  string
		level slog.Level
		line  requestLine
	}{"impersonator with DEL", slog.LevelInfo, with(func(l *requestLine) { l.impersonator = "user\x7f" })})

	zones := []*time.Location{time.UTC, time.Local, time.FixedZone("CET", 3600),
		time.FixedZone("", -(3*3600 + 30*60)), time.FixedZone("LMT", 19*60+32), time.FixedZone("", -(59*60 + 59)),
		time.FixedZone("", 14*3600), time.FixedZone("", -12*3600)}
	for _, name := range []string{"America/New_York", "Europe/Amsterdam", "Asia/Kathmandu"} {
		if loc, err := time.LoadLocation(name); err == nil {
			zones = append(zones, loc)
		}
	}
	instants := []time.Time{
		time.Date(2026, 3, 14, 15, 9, 26, 535897932, time.UTC),
		time.Date(2026, 3, 14, 15, 9, 26, 0, time.UTC),
		time.Date(2026, 3, 14, 15, 9, 26, 500000000, time.UTC),
		time.Date(2026, 3, 14, 15, 9, 26, 120000, time.UTC),
		time.Date(1900, 1, 1, 0, 0, 0, 1, time.UTC), // Amsterdam's +00:19:32
		time.Date(0, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),
		time.Date(1, 1, 2, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 30, 23, 59, 59, 999999999, time.UTC),
		time.Date(9999, 12, 31, 12, 0, 0, 0, time.UTC), // the year 10000 at +14:00
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.UTC),
		time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(-1, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Now(), // with a monotonic reading
	}
	for _, c := range lines {
		t.Run(c.name, func(t *testing.T) {
			for _, loc := range zones {
				for _, at := range instants {
					checkRequestLine(t, at.In(loc), c.level, &c.line)
				}
			}
			checkRequestLine(t, time.Time{}, c.level, &c.line)
		})
	}
	// The lines that need no escaping are appended by hand, not left to slog.
	if _, ok := base.appendJSON(nil, instants[0], slog.LevelInfo); !ok {
		t.Fatal("a plain line fell back to slog")
	}
}

// FuzzRequestLine holds the request line appended by hand to slog's
// JSONHandler for arbitrary strings, numbers and times: the same bytes, or
// a fallback exactly when a string needs escaping (or the year is outside
// 0–9999).
func FuzzRequestLine(f *testing.F) {
	f.Add("0f8fad5b-d9cb-469f-a165-70867728950e", "GET", "/api/auth/me", "", "", 200, 512, int64(1234567),
		int64(1773500966), int64(535897932), 0, false)
	f.Add("r", "OTHER", "unmatched", "user_\"x\"", "4bf92f3577b34da6a3ce929d0e0e4736", 503, 0, int64(-1),
		int64(253402300799), int64(0), 14*3600, true)
	for _, s := range hostileStrings {
		f.Add("id", "POST", "/api/waitlist", s, "", 201, 40, int64(5), int64(-62135596800), int64(1), -3600, false)
	}
	f.Fuzz(func(t *testing.T, requestID, method, route, impersonator, traceID string, status, size int,
		latency, sec, nsec int64, offset int, isError bool) {
		l := requestLine{requestID: requestID, method: method, route: route, status: status, bytes: size,
			latency: time.Duration(latency), impersonator: impersonator, traceID: traceID}
		level := slog.LevelInfo
		if isError {
			level = slog.LevelError
		}
		at := time.Unix(sec, nsec%1e9).In(time.FixedZone("", offset%(24*3600)))
		checkRequestLine(t, at, level, &l)
	})
}

// countingWriter is a log output that counts its writes.
type countingWriter struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.writes++
	return w.buf.Write(p)
}

func (w *countingWriter) lines() (string, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.buf.String(), w.writes
}

// TestLogRequestByHand: with a RequestLogWriter the line goes there in one
// write, not through the logger's handler; a level the logger drops writes
// nothing; a line with a string to escape goes through the handler; an
// ERROR line carries "level":"ERROR", which LogWriter flushes at once on.
func TestLogRequestByHand(t *testing.T) {
	line := requestLine{requestID: "req-1", method: "GET", route: "/healthz", status: 200, bytes: 15,
		latency: 42 * time.Microsecond}
	newServer := func(level slog.Level) (s *Server, viaSlog, byHand *countingWriter) {
		viaSlog, byHand = &countingWriter{}, &countingWriter{}
		log := slog.New(slog.NewJSONHandler(viaSlog, &slog.HandlerOptions{Level: level}))
		return New(Deps{Logger: log, RequestLogWriter: byHand}), viaSlog, byHand
	}
	ctx := context.Background()

	s, viaSlog, byHand := newServer(slog.LevelInfo)
	s.logRequest(ctx, slog.LevelInfo, time.Now(), &line)
	failed := line
	failed.status = 500
	s.logRequest(ctx, slog.LevelError, time.Now(), &failed)
	out, writes := byHand.lines()
	if writes != 2 {
		t.Fatalf("%d writes for two lines, want 2:\n%s", writes, out)
	}
	if got, _ := viaSlog.lines(); got != "" {
		t.Fatalf("a plain line went through slog: %s", got)
	}
	ls := strings.SplitAfter(out, "\n")
	if len(ls) != 3 || ls[2] != "" {
		t.Fatalf("want two lines, got %q", out)
	}
	for i, want := range []struct {
		level  string
		status float64
	}{{"INFO", 200}, {"ERROR", 500}} {
		var v map[string]any
		if err := json.Unmarshal([]byte(ls[i]), &v); err != nil {
			t.Fatalf("line %d is not JSON: %v: %s", i, err, ls[i])
		}
		if v["level"] != want.level || v["msg"] != "request" || v["status"] != want.status ||
			v["route"] != "/healthz" || v["latency"] != float64(42000) {
			t.Errorf("line %d: %v", i, v)
		}
	}
	if !strings.Contains(ls[1], `"level":"ERROR"`) || strings.Contains(ls[0], `"level":"ERROR"`) {
		t.Errorf(`only the 500's line should carry "level":"ERROR" (LogWriter's flush): %q`, out)
	}

	// A level the logger drops: no line at all.
	s, viaSlog, byHand = newServer(slog.LevelWarn)
	s.logRequest(ctx, slog.LevelInfo, time.Now(), &line)
	if a, b := viaSlog.lines(); a != "" || b != 0 {
		t.Fatalf("an INFO line at warn went through slog: %q", a)
	}
	if a, n := byHand.lines(); a != "" || n != 0 {
		t.Fatalf("an INFO line at warn was written: %q", a)
	}
	s.logRequest(ctx, slog.LevelError, time.Now(), &failed)
	if a, n := byHand.lines(); n != 1 || !strings.Contains(a, `"level":"ERROR"`) {
		t.Fatalf("the ERROR line at warn: %d writes, %q", n, a)
	}

	// A string to escape: the line goes through slog, escaped.
	s, viaSlog, byHand = newServer(slog.LevelInfo)
	odd := line
	odd.impersonator = "user_\"\n\u2028"
	s.logRequest(ctx, slog.LevelInfo, time.Now(), &odd)
	if a, n := byHand.lines(); n != 0 {
		t.Fatalf("a line to escape was written by hand: %q", a)
	}
	got, n := viaSlog.lines()
	var v map[string]any
	if err := json.Unmarshal([]byte(got), &v); n != 1 || err != nil || v["impersonator"] != odd.impersonator {
		t.Fatalf("the line through slog (%d writes, %v): %q", n, err, got)
	}
	if !strings.Contains(got, `"impersonator":"user_\"\n\u2028"`) {
		t.Fatalf("not escaped as slog escapes: %q", got)
	}

	// Without a Logger the RequestLogWriter is ignored: lines go to
	// slog.Default, never by hand to a writer of no logger's.
	byHand = &countingWriter{}
	New(Deps{RequestLogWriter: byHand}).logRequest(ctx, slog.LevelError, time.Now(), &failed)
	if a, n := byHand.lines(); n != 0 {
		t.Fatalf("a RequestLogWriter without a Logger was written to: %q", a)
	}

	// Without a RequestLogWriter, every line goes through slog.
	log := slog.New(slog.NewJSONHandler(viaSlog, nil))
	s = New(Deps{Logger: log})
	before, _ := viaSlog.lines()
	s.logRequest(ctx, slog.LevelInfo, time.Now(), &line)
	if after, _ := viaSlog.lines(); !strings.Contains(strings.TrimPrefix(after, before), `"route":"/healthz"`) {
		t.Fatalf("no line through slog without a RequestLogWriter: %q", after)
	}
}

// BenchmarkRequestLine compares the request log line appended by hand with
// the same line through slog's JSONHandler (slog.Logger.LogAttrs), both to
// io.Discard.
func BenchmarkRequestLine(b *testing.B) {
	line := requestLine{requestID: "0f8fad5b-d9cb-469f-a165-70867728950e", method: "GET",
		route: "/api/workspaces/{workspace_id}", status: 200, bytes: 512, latency: 1234567}
	log := slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	ctx := context.Background()
	b.Run("by-hand", func(b *testing.B) {
		s := New(Deps{Logger: log, RequestLogWriter: io.Discard})
		b.ReportAllocs()
		for b.Loop() {
			s.logRequest(ctx, slog.LevelInfo, time.Now(), &line)
		}
	})
	b.Run("slog", func(b *testing.B) {
		s := New(Deps{Logger: log})
		b.ReportAllocs()
		for b.Loop() {
			s.logRequest(ctx, slog.LevelInfo, time.Now(), &line)
		}
	})
}
