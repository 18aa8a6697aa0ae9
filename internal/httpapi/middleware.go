package httpapi

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"runtime/debug"
	"time"

	"github.com/go-chi/chi/v5"
	chimw "github.com/go-chi/chi/v5/middleware"

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
// in one allocation.
func newRequestID() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
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

// withRequestID gives every request an id, echoed in X-Request-ID, and the
// state the rest of the chain fills in.
func (s *Server) withRequestID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id := r.Header.Get("X-Request-ID")
		if !validRequestID(id) {
			id = newRequestID()
		}
		w.Header()["X-Request-Id"] = []string{id} // canonical key: no canonicalizing copy
		ctx := context.WithValue(r.Context(), ctxKey{}, &reqState{id: id, log: s.log})
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// logRequests writes one JSON line per request: method (from a fixed set),
// route pattern, status, bytes, latency and, for an impersonated session,
// the impersonator; when traced, it names the request's span after the
// route and adds the trace id to the line. It never logs headers, bodies,
// the query or the path itself (GET /api/invitations/{token} carries a
// secret in it).
func (s *Server) logRequests(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		ww := chimw.NewWrapResponseWriter(w, r.ProtoMajor)
		next.ServeHTTP(ww, r)
		status := ww.Status()
		if status == 0 {
			status = http.StatusOK
		}
		end := time.Now()
		latency := end.Sub(start)
		route := s.routeOf(r)
		method := metrics.Method(r.Method)
		level := slog.LevelInfo
		if status >= 500 && status != statusClientClosed {
			level = slog.LevelError
		}
		line := requestLine{method: method, route: route, status: status, bytes: ww.BytesWritten(), latency: latency}
		if st, ok := r.Context().Value(ctxKey{}).(*reqState); ok {
			line.requestID, line.impersonator = st.id, st.impersonator()
		}
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
	})
}

// routeOf is the pattern of the route r's path and method lead to: the
// router is flat and routes before any route's middleware runs, so a
// request a middleware answered (401, 403, 429) has its route too;
// "unmatched" when no route takes it (404, 405, a CORS preflight).
func (s *Server) routeOf(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" {
			return p
		}
	}
	return routeUnmatched
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
