// Package httpapi is the HTTP layer: every route in routes.go, the
// middleware chain (request id, logging, panics, credential verification,
// the principal — a user with a session or a workspace API key — rate
// limits, suspension, workspace roles), JSON helpers and one handler file
// per resource.
package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync/atomic"

	"github.com/go-chi/chi/v5"
	"golang.org/x/sync/singleflight"

	"github.com/praxiom/praxiom-api/internal/auth"
	"github.com/praxiom/praxiom-api/internal/metrics"
	"github.com/praxiom/praxiom-api/internal/store"
	"github.com/praxiom/praxiom-api/internal/tracing"
	"github.com/praxiom/praxiom-api/internal/webhook"
)

// ReadinessChecker reports whether a migration is pending (store.Migrator).
type ReadinessChecker interface {
	Pending(ctx context.Context) (bool, error)
}

// Deps are what the server is built from; internal/app wires them.
type Deps struct {
	Store    *store.Store
	Verifier auth.TokenVerifier
	// Fetcher provisions users from Clerk; nil provisions from token claims.
	Fetcher ProfileFetcher
	// Webhook verifies Clerk deliveries; nil answers 503 (secret not set).
	Webhook   *webhook.Verifier
	Readiness ReadinessChecker
	// Policy says how users start (PLG gating), whether provisioned on
	// first sight or created by the webhook.
	Policy    store.NewUserPolicy
	TrialDays int
	Logger    *slog.Logger
	// RequestLogWriter, when set, is the writer of Logger's handler, a
	// slog.JSONHandler with no options but its level, and safe for
	// concurrent use: the request log line is then appended by hand in that
	// handler's format and written to it in one Write instead of through
	// slog (≈ 2 µs less a request). Nil logs every line through Logger. It is
	// ignored when Logger is nil.
	RequestLogWriter io.Writer
	// Metrics, when set, are updated; internal/app serves them on their own listener.
	Metrics *metrics.Metrics
	// RateLimits are the rate limits; a nil Limiter turns them off.
	RateLimits RateLimits
	// CORSOrigins are the allowed browser origins (CORS_ALLOWED_ORIGINS).
	CORSOrigins []string
	// Tracing, when set, makes every request a server span named by its
	// route pattern, with the trace id in the request log line; nil (tracing
	// off) leaves the handler chain as it is.
	Tracing *tracing.Provider
}

// Server holds the dependencies of the handlers.
type Server struct {
	store        *store.Store
	verifier     auth.TokenVerifier
	fetcher      ProfileFetcher
	webhook      *webhook.Verifier
	applier      *webhook.Applier
	readiness    ReadinessChecker
	policy       store.NewUserPolicy
	trialDays    int
	log          *slog.Logger
	requestLog   io.Writer // Deps.RequestLogWriter
	metrics      *metrics.Metrics
	limits       RateLimits
	limitValues  limitValues
	lastReset    atomic.Pointer[resetValue]
	corsOrigins  []string
	provisioning singleflight.Group
	keyUsage     keyUsage
	draining     atomic.Bool
	// handler is the router; entry is what ServeHTTP calls: the router
	// behind served (the request's id, state, log line and metrics), inside
	// the tracing span when traced.
	handler *chi.Mux
	entry   http.Handler
	traced  bool
}

// New builds the server and its router.
func New(d Deps) *Server {
	if d.Logger == nil {
		d.Logger, d.RequestLogWriter = slog.Default(), nil
	}
	s := &Server{
		store: d.Store, verifier: d.Verifier, fetcher: d.Fetcher, webhook: d.Webhook,
		applier:   &webhook.Applier{Store: d.Store, Policy: d.Policy},
		readiness: d.Readiness, policy: d.Policy, trialDays: d.TrialDays, log: d.Logger,
		requestLog: d.RequestLogWriter, metrics: d.Metrics,
		limits: d.RateLimits, limitValues: d.RateLimits.resolve(), corsOrigins: d.CORSOrigins,
	}
	s.handler = s.routes()
	s.entry = served{s, s.handler}
	if d.Tracing != nil {
		s.entry, s.traced = d.Tracing.Handler(s.entry), true
	}
	return s
}

// Drain makes /readyz answer 503 so that load balancers stop routing here
// while in-flight and late requests are still served (graceful shutdown).
func (s *Server) Drain() { s.draining.Store(true) }

// ServeHTTP serves a request through the router (in a server span when
// traced).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.entry.ServeHTTP(w, r) }
