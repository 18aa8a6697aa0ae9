package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
)

type connKey struct{}

// TestServedContext: behind served, a handler finds the request's state,
// chi's routing context with this request's path parameters (never a
// previous request's: the routing contexts are recycled) and every value
// of the connection's context.
func TestServedContext(t *testing.T) {
	s := New(Deps{Logger: slog.New(slog.DiscardHandler)})
	mux := chi.NewRouter()
	var seen []string
	mux.Get("/a/{x}", func(w http.ResponseWriter, r *http.Request) {
		if r.Context().Value(connKey{}) != "conn" {
			t.Error("the connection's context value is lost")
		}
		if rc := chi.RouteContext(r.Context()); rc == nil || rc.Routes != mux {
			t.Errorf("routing context %v", rc)
		}
		seen = append(seen, chi.URLParam(r, "x")+" "+r.PathValue("x")+" "+state(r).id+" "+requestID(r.Context()))
	})
	mux.Get("/b", func(w http.ResponseWriter, r *http.Request) {
		seen = append(seen, "b:"+chi.URLParam(r, "x")+":"+chi.RouteContext(r.Context()).RoutePattern())
	})
	e := served{s, mux}
	for _, p := range []string{"/a/1", "/b", "/a/2"} {
		req := httptest.NewRequest(http.MethodGet, p, nil)
		req.Header.Set("X-Request-ID", "id"+p[len(p)-1:])
		req = req.WithContext(context.WithValue(req.Context(), connKey{}, "conn"))
		w := httptest.NewRecorder()
		e.ServeHTTP(w, req)
		if got := w.Header().Get("X-Request-ID"); got != "id"+p[len(p)-1:] {
			t.Fatalf("%s: X-Request-ID %q", p, got)
		}
	}
	want := []string{"1 1 id1 id1", "b::/b", "2 2 id2 id2"}
	if len(seen) != len(want) {
		t.Fatalf("seen %q, want %q", seen, want)
	}
	for i := range want {
		if seen[i] != want[i] {
			t.Fatalf("seen %q, want %q", seen, want)
		}
	}
}

// codesWriter records the statuses written to it and whether it was
// flushed.
type codesWriter struct {
	headerWriter
	codes   []int
	flushed bool
}

func (w *codesWriter) WriteHeader(code int) { w.codes = append(w.codes, code) }
func (w *codesWriter) Flush()               { w.flushed = true }

// TestAnswerWriter: the request log's status is the first final status
// written (200 when the handler only writes a body), a 1xx passes through
// without being taken for it, a second WriteHeader is dropped, bytes are
// counted, and Flush and http.ResponseController reach the connection.
func TestAnswerWriter(t *testing.T) {
	conn := &codesWriter{headerWriter: headerWriter{hdr: http.Header{}}}
	w := &answerWriter{ResponseWriter: conn}
	w.WriteHeader(http.StatusEarlyHints)
	if w.status != 0 {
		t.Fatalf("a 1xx was taken for the status: %d", w.status)
	}
	w.WriteHeader(http.StatusCreated)
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = io.WriteString(w, "hello")
	_, _ = w.Write([]byte(", world"))
	if w.status != http.StatusCreated || w.bytes != 12 || fmt.Sprint(conn.codes) != "[103 201]" {
		t.Fatalf("status %d, bytes %d, the connection got %v", w.status, w.bytes, conn.codes)
	}
	if err := http.NewResponseController(w).Flush(); err != nil || !conn.flushed {
		t.Fatalf("Flush through the controller: %v (flushed %t)", err, conn.flushed)
	}

	rec := httptest.NewRecorder()
	w = &answerWriter{ResponseWriter: rec}
	_, _ = w.Write([]byte("x"))
	if w.status != http.StatusOK || w.bytes != 1 || rec.Code != http.StatusOK {
		t.Fatalf("a body alone: status %d, bytes %d", w.status, w.bytes)
	}

	rec = httptest.NewRecorder()
	w = &answerWriter{ResponseWriter: rec}
	w.Flush()
	if w.status != http.StatusOK || !rec.Flushed {
		t.Fatalf("a flush alone: status %d, flushed %t", w.status, rec.Flushed)
	}

	// What the writer does not do itself, the controller finds through
	// Unwrap; a connection that cannot flush says so.
	dl := &deadlineWriter{headerWriter: headerWriter{hdr: http.Header{}}}
	w = &answerWriter{ResponseWriter: dl}
	at := time.Unix(1_800_000_000, 0)
	if err := http.NewResponseController(w).SetWriteDeadline(at); err != nil || !dl.deadline.Equal(at) {
		t.Fatalf("SetWriteDeadline through Unwrap: %v (deadline %v)", err, dl.deadline)
	}
	if err := http.NewResponseController(w).Flush(); !errors.Is(err, http.ErrNotSupported) {
		t.Fatalf("Flush on a connection that cannot: %v, want ErrNotSupported", err)
	}
	// That flush committed nothing: the handler's status still goes out.
	w.WriteHeader(http.StatusServiceUnavailable)
	if w.status != http.StatusServiceUnavailable || fmt.Sprint(dl.codes) != "[503]" {
		t.Fatalf("after a flush that could not be: status %d, the connection got %v", w.status, dl.codes)
	}
}

// deadlineWriter takes write deadlines, records statuses and cannot
// flush.
type deadlineWriter struct {
	headerWriter
	deadline time.Time
	codes    []int
}

func (w *deadlineWriter) WriteHeader(code int) { w.codes = append(w.codes, code) }

func (w *deadlineWriter) SetWriteDeadline(t time.Time) error { w.deadline = t; return nil }

// TestReqContextIsCancelledInPlace: contexts derived from a request's
// context (pgx's, a handler's timeouts) hang on the connection's context
// directly, as they would on a plain one: no goroutine per derived context,
// and its cancellation reaches them.
func TestReqContextIsCancelledInPlace(t *testing.T) {
	parent, cancel := context.WithCancel(context.Background())
	c := &reqContext{Context: parent}
	before := runtime.NumGoroutine()
	children := make([]context.Context, 100)
	for i := range children {
		var stop context.CancelFunc
		children[i], stop = context.WithCancel(c)
		defer stop()
	}
	if n := runtime.NumGoroutine() - before; n > 0 {
		t.Fatalf("%d goroutines started for 100 derived contexts", n)
	}
	cancel()
	for _, child := range children {
		<-child.Done()
	}
}

// TestWriteJSONFailureIsThe500Envelope: a value that cannot be encoded (a
// bug) answers the contract's 500 envelope, JSON with the request's id, and
// logs the cause at ERROR, as any panic does; not a text/plain 500 without
// an id.
func TestWriteJSONFailureIsThe500Envelope(t *testing.T) {
	var logs bytes.Buffer
	s := New(Deps{Logger: slog.New(slog.NewJSONHandler(&logs, nil))})
	mux := chi.NewRouter()
	mux.Use(recoverPanics)
	mux.Get("/nan", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]float64{"x": math.NaN()})
	})
	req := httptest.NewRequest(http.MethodGet, "/nan", nil)
	req.Header.Set("X-Request-ID", "req-nan")
	w := httptest.NewRecorder()
	served{s, mux}.ServeHTTP(w, req)
	var body struct {
		Error struct{ Code, Message, RequestID string } `json:"error"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatalf("body %q: %v", w.Body, err)
	}
	if w.Code != http.StatusInternalServerError || w.Header().Get("Content-Type") != jsonContentType[0] ||
		body.Error.Code != "INTERNAL" || body.Error.Message != "Internal server error." {
		t.Fatalf("answer %d %q %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	if !strings.Contains(w.Body.String(), `"request_id":"req-nan"`) {
		t.Fatalf("body without the request's id: %s", w.Body)
	}
	if !strings.Contains(logs.String(), `"level":"ERROR"`) || !strings.Contains(logs.String(), "unsupported value: NaN") {
		t.Fatalf("the cause is not logged at ERROR: %s", logs.String())
	}
}
