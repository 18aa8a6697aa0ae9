package httpapi

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/go-chi/chi/v5"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/metrics"
	"github.com/praxiom/praxiom-api/internal/tracing"
)

// logger returns the server's logger with the request's id. It is built on
// demand: most requests log one line and need none.
func logger(r *http.Request) *slog.Logger {
	if st, ok := r.Context().Value(ctxKey{}).(*reqState); ok {
		return st.log.With(slog.String("request_id", st.id))
	}
	return slog.Default()
}

// validRequestID reports whether a caller's X-Request-ID may be echoed:
// 1..128 characters of [A-Za-z0-9._-].
func validRequestID(s string) bool {
	if len(s) == 0 || len(s) > 128 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// newRequestID returns a fresh random (version 4) UUID in its string form,
// in one allocation. A request id must be unique, not secret: its bits come
// from math/rand/v2's global generator (ChaCha8, a state per thread, seeded
// by the runtime from the operating system), where crypto/rand's cost the
// server ≈ 0.6 µs a request (docs/performance.md).
func newRequestID() string {
	var b [16]byte
	binary.LittleEndian.PutUint64(b[:8], rand.Uint64())
	binary.LittleEndian.PutUint64(b[8:], rand.Uint64())
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	var out [36]byte
	hex.Encode(out[0:8], b[0:4])
	out[8] = '-'
	hex.Encode(out[9:13], b[4:6])
	out[13] = '-'
	hex.Encode(out[14:18], b[6:8])
	out[18] = '-'
	hex.Encode(out[19:23], b[8:10])
	out[23] = '-'
	hex.Encode(out[24:], b[10:])
	return string(out[:])
}

// reqContext is a request's context inside the server: the connection's
// context, the request's state, chi's routing context and the writer that
// records the answer for the request log, in one allocation. The request is
// copied once, by served; chi, finding its routing context already there,
// copies it no more.
type reqContext struct {
	context.Context
	st    reqState
	route *chi.Context
	w     answerWriter
	idHdr [1]string
}

// Value answers the request's state and chi's routing context itself, and
// asks the connection's context for anything else.
func (c *reqContext) Value(key any) any {
	switch key {
	case ctxKey{}:
		return &c.st
	case chi.RouteCtxKey:
		return c.route
	}
	return c.Context.Value(key)
}

// routeContexts recycles chi's routing contexts, as chi's own router does:
// their slices keep their capacity from one request to the next.
var routeContexts = sync.Pool{New: func() any { return chi.NewRouteContext() }}

// served runs every request through the router with an id, echoed in
// X-Request-ID, and the state the chain fills in; then it writes the
// request's log line and metrics (record). It is what ServeHTTP calls when
// tracing is off.
type served struct {
	s      *Server
	router *chi.Mux
}

func (e served) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	id := r.Header.Get("X-Request-Id") // canonical spelling: "X-Request-ID" would be canonicalized into a new string on every request
	if !validRequestID(id) {
		id = newRequestID()
	}
	c := &reqContext{Context: r.Context(), st: reqState{id: id, log: e.s.log, start: start}, route: routeContexts.Get().(*chi.Context)}
	c.route.Reset()
	c.route.Routes = e.router
	c.w.ResponseWriter = w
	c.idHdr[0] = id
	w.Header()["X-Request-Id"] = c.idHdr[:] // canonical key: no canonicalizing copy
	e.router.ServeHTTP(&c.w, r.WithContext(c))
	e.s.record(r, c)
	routeContexts.Put(c.route)
}

// answerWriter records the status and the size of an answer. A second
// WriteHeader is dropped (1xx informational answers pass through).
type answerWriter struct {
	http.ResponseWriter
	status int
	bytes  int
}

func (w *answerWriter) WriteHeader(status int) {
	if status >= 100 && status <= 199 && status != http.StatusSwitchingProtocols {
		w.ResponseWriter.WriteHeader(status)
		return
	}
	if w.status == 0 {
		w.status = status
		w.ResponseWriter.WriteHeader(status)
	}
}

func (w *answerWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += n
	return n, err
}

// FlushError flushes the answer, or returns the connection's reason it
// cannot (http.ErrNotSupported); http.ResponseController calls it. A
// flush before any status commits 200, as net/http's own does, and only
// when the flush goes through: a handler that cannot flush may still
// answer with another status.
func (w *answerWriter) FlushError() error {
	err := http.NewResponseController(w.ResponseWriter).Flush()
	if err == nil && w.status == 0 {
		w.status = http.StatusOK
	}
	return err
}

// Flush is FlushError for an http.Flusher, which has no error to return.
func (w *answerWriter) Flush() { _ = w.FlushError() }

// Unwrap lets http.ResponseController reach the connection's writer.
func (w *answerWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// record writes the request's one JSON line: method (from a fixed set),
// route pattern, status, bytes, latency and, for an impersonated session,
// the impersonator; when traced, it names the request's span after the
// route and adds the trace id to the line. It never logs headers, bodies,
// the query or the path itself (GET /api/invitations/{token} carries a
// secret in it). It also records the request's metrics.
func (s *Server) record(r *http.Request, c *reqContext) {
	status := c.w.status
	if status == 0 {
		status = http.StatusOK
	}
	end := time.Now()
	latency := end.Sub(c.st.start)
	route := routeUnmatched
	if p := c.route.RoutePattern(); p != "" {
		route = p
	}
	method := metrics.Method(r.Method)
	level := slog.LevelInfo
	if status >= 500 && status != statusClientClosed {
		level = slog.LevelError
	}
	line := requestLine{method: method, route: route, status: status, bytes: c.w.bytes, latency: latency,
		requestID: c.st.id, impersonator: c.st.impersonator()}
	if s.traced {
		line.traceID = tracing.NameServerSpan(r.Context(), tracing.ServerSpan{
			Name: spanName(method, route), Route: httpRoute(route), RequestID: line.requestID,
			ClientAddress: clientIP(r, s.limits.TrustedProxies),
		})
	}
	s.logRequest(r.Context(), level, end, &line)
	if s.metrics != nil {
		s.metrics.ObserveRequest(method, route, status, latency)
	}
}

// routeUnmatched is the route of a request that matches no route, in logs,
// metrics and as its span's name.
const routeUnmatched = "unmatched"

// spanName is the name of a request's server span: the method (from a
// fixed set) and the route pattern, such as
// "GET /api/workspaces/{workspace_id}"; "unmatched" for a request that
// matches no route. Never the path the client sent.
func spanName(method, route string) string {
	if route == routeUnmatched {
		return routeUnmatched
	}
	return method + " " + route
}

// httpRoute is the http.route of a request's span: the pattern, none when
// the request matched no route.
func httpRoute(route string) string {
	if route == routeUnmatched {
		return ""
	}
	return route
}

// recoverPanics turns a panic into a 500 envelope and a logged stack.
func recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			rec := recover()
			if rec == nil {
				return
			}
			if rec == http.ErrAbortHandler {
				panic(rec)
			}
			logger(r).Error("panic", slog.String("panic", fmt.Sprint(rec)), slog.String("stack", string(debug.Stack())))
			writeError(w, r, apperr.Wrap(apperr.Internal, "Internal server error.", errors.New("panic")))
		}()
		next.ServeHTTP(w, r)
	})
}
