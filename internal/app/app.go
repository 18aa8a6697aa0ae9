// Package app runs the service. NewAPI builds the HTTP handler from a
// config.Config (token verifier, rate limiter, Clerk fetcher, webhook
// verifier, metrics); Run adds what a process needs around it: migrations,
// tracing (OTEL_*), the store, the job queue (emails, pruning), the public and metrics
// listeners and a graceful shutdown. cmd/praxiom and cmd/praxiom-dev both
// call Serve; the tests build their servers with NewAPI too
// (internal/apitest).
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/praxiom/praxiom-api/internal/auth"
	"github.com/praxiom/praxiom-api/internal/clerkuser"
	"github.com/praxiom/praxiom-api/internal/config"
	"github.com/praxiom/praxiom-api/internal/httpapi"
	"github.com/praxiom/praxiom-api/internal/jobs"
	"github.com/praxiom/praxiom-api/internal/metrics"
	"github.com/praxiom/praxiom-api/internal/ratelimit"
	"github.com/praxiom/praxiom-api/internal/store"
	"github.com/praxiom/praxiom-api/internal/tracing"
	"github.com/praxiom/praxiom-api/internal/webhook"
)

// API is the service's HTTP handler with what was built for it.
type API struct {
	*httpapi.Server
	// Metrics are the instruments the server updates; nil when
	// cfg.MetricsAddr is empty (and WithMetrics was not given). Run serves
	// them on their own listener.
	Metrics *metrics.Metrics
	close   func() error
}

// Close releases what NewAPI opened (the Redis client of the rate limiter).
func (a *API) Close() error {
	if a.close == nil {
		return nil
	}
	return a.close()
}

// Option adds to what NewAPI builds from the configuration (Run passes the
// tracing provider it started) or replaces a part of it (tests pass what a
// configuration cannot say).
type Option func(*options)

type options struct {
	verifier   auth.TokenVerifier
	limiterSet bool
	limiter    ratelimit.Limiter
	failures   ratelimit.Budget
	metrics    *metrics.Metrics
	tracing    *tracing.Provider
}

// WithTracing makes the server trace every request and its calls to Clerk
// with tp (nil: no tracing). st's pool should then have been opened with
// tp.QueryTracer (storeOptions).
func WithTracing(tp *tracing.Provider) Option {
	return func(o *options) { o.tracing = tp }
}

// WithVerifier makes the server verify tokens with v instead of the verifier
// NewAPI builds from the Clerk settings (and its verified-token cache).
func WithVerifier(v auth.TokenVerifier) Option {
	return func(o *options) { o.verifier = v }
}

// WithRateLimiter makes the server count requests with limiter and failed
// guesses with failures instead of the limiter NewAPI builds (in memory, or
// shared through REDIS_URL). It applies only when RATE_LIMIT_ENABLED is true;
// a nil limiter or budget turns that part of the limits off.
func WithRateLimiter(limiter ratelimit.Limiter, failures ratelimit.Budget) Option {
	return func(o *options) { o.limiterSet, o.limiter, o.failures = true, limiter, failures }
}

// WithMetrics makes the server update m, whether METRICS_ADDR is set or not,
// instead of instruments of its own.
func WithMetrics(m *metrics.Metrics) Option {
	return func(o *options) { o.metrics = m }
}

// NewAPI builds the API from cfg on st: the token verifier (CLERK_JWT_KEY or
// Clerk's JWKS, behind the verified-token cache), the rate limiter (in
// memory, or shared through REDIS_URL), the Clerk user fetcher when
// CLERK_SECRET_KEY is set, the webhook verifier when the signing secret is
// set, and the metrics when METRICS_ADDR is. readiness reports pending
// migrations (a store.Migrator). opts add tracing (WithTracing, as Run does)
// or replace some of these (tests). The caller closes the API after its last
// request. It is the one place that builds an httpapi.Server.
func NewAPI(cfg config.Config, st *store.Store, readiness httpapi.ReadinessChecker, log *slog.Logger, opts ...Option) (*API, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	tp := o.tracing
	a := &API{Metrics: o.metrics}
	if a.Metrics == nil && cfg.MetricsAddr != "" {
		a.Metrics = metrics.New(st.Pool())
	}
	verifier := o.verifier
	if verifier == nil {
		authCfg := auth.Config{
			JWTKeyPEM: cfg.ClerkJWTKey, APIURL: cfg.ClerkAPIURL, SecretKey: cfg.ClerkSecretKey,
			Issuer: cfg.ClerkIssuer, AuthorizedParties: cfg.ClerkAuthorizedParties, Leeway: cfg.ClerkClockSkew,
			Logger: log,
		}
		if a.Metrics != nil {
			authCfg.OnJWKSFetch = a.Metrics.JWKSFetch
		}
		if tp != nil {
			authCfg.HTTPClient = tp.Client(&http.Client{Timeout: auth.DefaultHTTPTimeout}, "Clerk GET /jwks")
		}
		v, err := auth.NewVerifier(authCfg)
		if err != nil {
			return nil, err
		}
		tokens := auth.NewCachedVerifier(v, cfg.TokenCacheSize, nil)
		if a.Metrics != nil {
			tokens.Observe = a.Metrics.TokenCache
		}
		verifier = tokens
	}
	deps := httpapi.Deps{
		Store: st, Verifier: verifier, Readiness: readiness, Logger: log, TrialDays: cfg.TrialDays,
		Policy:  store.NewUserPolicy{Active: !cfg.PLGGating},
		Metrics: a.Metrics, CORSOrigins: cfg.CORSAllowedOrigins, Tracing: tp,
		// The request log line by hand when log is NewLogger's.
		RequestLogWriter: requestLogWriter(log),
	}
	if cfg.RateLimitEnabled {
		deps.RateLimits = httpapi.RateLimits{PerPlan: cfg.RateLimits, PerIP: cfg.RateLimitIP, TrustedProxies: cfg.TrustedProxies}
		switch {
		case o.limiterSet:
			deps.RateLimits.Limiter, deps.RateLimits.Failures = o.limiter, o.failures
		case cfg.RedisURL != "":
			ropts, err := redis.ParseURL(cfg.RedisURL)
			if err != nil {
				return nil, errors.New("config: REDIS_URL is malformed")
			}
			// The limiter's own 250 ms deadline reaches go-redis only with
			// this set; without it a stalled Redis holds each request for
			// the client's read time-out.
			ropts.ContextTimeoutEnabled = true
			rdb := redis.NewClient(ropts)
			a.close = rdb.Close
			if err := tp.InstrumentRedis(rdb); err != nil {
				_ = a.Close()
				return nil, err
			}
			rl := ratelimit.NewRedis(rdb, log)
			deps.RateLimits.Limiter, deps.RateLimits.Failures = rl, rl
			log.Info("rate limits shared through Redis", "redis", config.MaskURL(cfg.RedisURL))
		default:
			rl := ratelimit.NewLocal(nil)
			deps.RateLimits.Limiter, deps.RateLimits.Failures = rl, rl
		}
	}
	if cfg.ClerkSecretKey != "" {
		var hc *http.Client
		if tp != nil {
			hc = tp.Client(&http.Client{Timeout: clerkuser.DefaultTimeout}, "Clerk GET /users/{user_id}")
		}
		deps.Fetcher = clerkuser.NewFetcher(cfg.ClerkAPIURL, cfg.ClerkSecretKey, hc)
	}
	if cfg.ClerkWebhookSecret != "" {
		var err error
		if deps.Webhook, err = webhook.NewVerifier(cfg.ClerkWebhookSecret); err != nil {
			_ = a.Close()
			return nil, err
		}
	} else {
		log.Warn("CLERK_WEBHOOK_SIGNING_SECRET is not set: the Clerk webhook answers 503")
	}
	a.Server = httpapi.New(deps)
	return a, nil
}

// NewLogger returns the service's JSON logger on w at level (debug, info,
// warn, error; anything else is info). An API built with it (NewAPI)
// writes its request log lines to w directly, appended by hand in the same
// format (httpapi.Deps.RequestLogWriter), not through the handler and its
// lock: w must be safe for concurrent use, as LogWriter and *os.File are.
func NewLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(&jsonHandler{slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}), w})
}

// jsonHandler is the handler of NewLogger's loggers: slog's JSON handler
// and the writer it writes to. Its WithAttrs and WithGroup return the
// plain JSON handler.
type jsonHandler struct {
	*slog.JSONHandler
	w io.Writer
}

// requestLogWriter is the writer the server may append its request log
// lines to by hand for log (httpapi.Deps.RequestLogWriter): the writer of
// a logger NewLogger built, nil for any other logger, including one with
// attributes or a group added (its lines would carry them).
func requestLogWriter(log *slog.Logger) io.Writer {
	if log == nil {
		return nil
	}
	if h, ok := log.Handler().(*jsonHandler); ok {
		return h.w
	}
	return nil
}

// Addrs are the addresses Run listens on; Metrics is empty when metrics
// are off.
type Addrs struct {
	API, Metrics string
}

// Serve loads the configuration through lookup (os.LookupEnv), logs JSON
// lines to logw and runs the service until ctx ends (Run). A configuration
// error is one line naming the variable.
func Serve(ctx context.Context, lookup func(string) (string, bool), logw io.Writer, ready func(Addrs)) error {
	cfg, err := config.Load(lookup)
	if err != nil {
		return err
	}
	lw := NewLogWriter(logw)
	defer lw.Close()
	log := NewLogger(lw, cfg.LogLevel)
	log.Info("starting", "config", cfg.String(), "gc", tuneGC(lookup))
	return Run(ctx, cfg, log, ready)
}

// gcPercent is the garbage collector's target when GOGC is unset: the live
// heap of the service is a few MiB, so collecting at 5× it (instead of the
// runtime's 2×) costs little memory and a fifth of the collections.
// gcMemoryLimit, when GOMEMLIMIT is unset, makes the collector work harder
// as the heap nears it, whatever GOGC says.
const (
	gcPercent     = 400
	gcMemoryLimit = 256 << 20
)

// tuneGC applies gcPercent and gcMemoryLimit where GOGC and GOMEMLIMIT
// (which the runtime reads itself) are unset, and describes the result.
func tuneGC(lookup func(string) (string, bool)) string {
	if _, ok := lookup("GOGC"); !ok {
		debug.SetGCPercent(gcPercent)
	}
	if _, ok := lookup("GOMEMLIMIT"); !ok {
		debug.SetMemoryLimit(gcMemoryLimit)
	}
	percent := debug.SetGCPercent(-1)
	debug.SetGCPercent(percent)
	return fmt.Sprintf("GOGC=%d GOMEMLIMIT=%dMiB", percent, debug.SetMemoryLimit(-1)>>20)
}

// maxHeaderBytes bounds the request line and headers: room for a 16 KiB
// token and the usual browser headers, nothing like net/http's 1 MiB
// default. A larger head gets 431.
const maxHeaderBytes = 32 << 10

// headerSlop is what net/http reads beyond Server.MaxHeaderBytes before it
// answers 431 (its bufio slop); MaxHeaderBytes leaves it out so that the
// bound above is the real one.
const headerSlop = 4096

// tracingFlushTimeout bounds the export of the last spans at shutdown.
const tracingFlushTimeout = 5 * time.Second

// storeOptions are the pool's options from cfg: its size, the statement
// time-out and, when tracing is on, tp's query tracer; otherwise no tracer.
func storeOptions(cfg config.Config, tp *tracing.Provider) store.Options {
	return store.Options{MaxConns: cfg.DBMaxConns, StatementTimeout: cfg.DBStatementTimeout, Tracer: tp.QueryTracer()}
}

// Run applies pending migrations (MIGRATE_ON_START), opens the store, builds
// the API and serves it on HOST:PORT, and /metrics on METRICS_ADDR, until
// ctx ends. ready, when set, is called with the listening addresses. With
// an OTLP endpoint configured, requests, queries and calls to Clerk are
// traced, and the provider becomes the process's global one. On shutdown
// it keeps serving for SHUTDOWN_DRAIN_DELAY with /readyz at 503, then stops
// accepting and waits up to SHUTDOWN_TIMEOUT for in-flight requests; the
// last spans are flushed after that. It returns nil after a clean shutdown.
func Run(ctx context.Context, cfg config.Config, log *slog.Logger, ready func(Addrs)) error {
	tp, err := tracing.New(ctx, cfg.Tracing)
	if err != nil {
		return err
	}
	if tp != nil {
		tp.SetGlobal(log)
		// Deferred first, so it runs last: after the servers and the
		// background work stopped, every span has ended.
		defer func() {
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tracingFlushTimeout)
			defer cancel()
			if err := tp.Shutdown(fctx); err != nil {
				log.Warn("tracing: the last spans were not all exported", "error", err.Error())
			}
		}()
	}

	migrator, err := store.NewMigrator(cfg.DatabaseURL, log)
	if err != nil {
		return err
	}
	defer migrator.Close()
	if cfg.MigrateOnStart {
		n, err := migrator.Up(ctx)
		if err != nil {
			return fmt.Errorf("migrations: %w", err)
		}
		log.Info("migrations applied", "count", n)
	}

	mail, err := jobs.NewMailer(cfg, log)
	if err != nil {
		return err
	}
	so := storeOptions(cfg, tp)
	so.Outbox = jobs.OutboxFor(mail)
	st, err := store.Open(ctx, cfg.DatabaseURL, so)
	if err != nil {
		return err
	}
	defer st.Close()

	api, err := NewAPI(cfg, st, migrator, log, WithTracing(tp))
	if err != nil {
		return err
	}
	defer api.Close()

	// The job queue (River): emails, and the periodic pruning of what is
	// past its retention. It stops after the listeners, so the last
	// requests' emails are enqueued before it goes.
	stopJobs, err := jobs.Start(ctx, st, jobs.Config{Mailer: mail, WebhookRetention: cfg.WebhookRetention,
		AuditRetention: cfg.AuditRetention, PollOnly: cfg.JobQueuePollOnly, StopTimeout: cfg.ShutdownTimeout,
		Logger: log, Metrics: api.Metrics, Tracer: tp.TracerProvider()})
	if err != nil {
		return err
	}
	defer stopJobs(context.WithoutCancel(ctx)) //nolint:errcheck // bounded by StopTimeout; logs its own failure

	errorLog := slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	servers := []*http.Server{{
		Handler:           api,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes - headerSlop,
		ErrorLog:          errorLog,
	}}
	listeners := []net.Listener{}
	defer func() {
		for _, ln := range listeners {
			_ = ln.Close()
		}
	}()
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	listeners = append(listeners, ln)
	addrs := Addrs{API: ln.Addr().String()}
	log.Info("listening", "addr", addrs.API)
	if api.Metrics != nil {
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", api.Metrics.Handler())
		servers = append(servers, &http.Server{Handler: mux, ReadHeaderTimeout: cfg.ReadHeaderTimeout,
			ReadTimeout: cfg.ReadTimeout, WriteTimeout: cfg.WriteTimeout, IdleTimeout: cfg.IdleTimeout, ErrorLog: errorLog})
		mln, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("listen for metrics (METRICS_ADDR): %w", err)
		}
		listeners = append(listeners, mln)
		addrs.Metrics = mln.Addr().String()
		log.Info("metrics listening", "addr", addrs.Metrics)
	}
	if ready != nil {
		ready(addrs)
	}

	errc := make(chan error, len(servers))
	for i, srv := range servers {
		go func() { errc <- srv.Serve(listeners[i]) }()
	}
	// The API's background work (API keys' last use) flushes once more when
	// it stops, after the listeners closed.
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	bgDone := make(chan struct{})
	go func() { defer close(bgDone); api.Server.Run(bgCtx) }()
	defer func() { stopBackground(); <-bgDone }()

	var serveErr error
	select {
	case err := <-errc:
		serveErr = fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	if serveErr == nil && cfg.ShutdownDrainDelay > 0 {
		// Keep serving while load balancers see /readyz fail and stop routing here.
		api.Drain()
		log.Info("draining", "delay", cfg.ShutdownDrainDelay.String())
		select {
		case <-time.After(cfg.ShutdownDrainDelay):
		case err := <-errc:
			serveErr = fmt.Errorf("serve: %w", err)
		}
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		if err := srv.Shutdown(sctx); err != nil && serveErr == nil {
			serveErr = fmt.Errorf("shutdown: %w", err)
		}
	}
	if serveErr != nil {
		return serveErr
	}
	for range servers {
		if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	log.Info("stopped")
	return nil
}
