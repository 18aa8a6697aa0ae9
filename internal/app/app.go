// Package app runs the service. NewAPI builds the HTTP handler from a
// config.Config (token verifier, rate limiter, Clerk fetcher, webhook
// verifier, metrics); Run adds what a process needs around it: migrations,
// the store, the public and metrics listeners, the pruning of webhook
// records and a graceful shutdown. cmd/praxiom and cmd/praxiom-dev both
// call Serve.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/praxiom/praxiom-api/internal/auth"
	"github.com/praxiom/praxiom-api/internal/clerkuser"
	"github.com/praxiom/praxiom-api/internal/config"
	"github.com/praxiom/praxiom-api/internal/httpapi"
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
	// cfg.MetricsAddr is empty. Run serves them on their own listener.
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

// NewAPI builds the API from cfg on st: the token verifier (CLERK_JWT_KEY or
// Clerk's JWKS, behind the verified-token cache), the rate limiter (in
// memory, or shared through REDIS_URL), the Clerk user fetcher when
// CLERK_SECRET_KEY is set, the webhook verifier when the signing secret is
// set, and the metrics when METRICS_ADDR is. readiness reports pending
// migrations (a store.Migrator). tp, when tracing is on (else nil), traces
// every request and the calls to Clerk; st's pool should then have been
// opened with tp.QueryTracer (storeOptions). The caller closes the API
// after its last request.
func NewAPI(cfg config.Config, st *store.Store, readiness httpapi.ReadinessChecker, log *slog.Logger, tp *tracing.Provider) (*API, error) {
	a := &API{}
	if cfg.MetricsAddr != "" {
		a.Metrics = metrics.New(st.Pool())
	}
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
	verifier, err := auth.NewVerifier(authCfg)
	if err != nil {
		return nil, err
	}
	tokens := auth.NewCachedVerifier(verifier, cfg.TokenCacheSize, nil)
	if a.Metrics != nil {
		tokens.Observe = a.Metrics.TokenCache
	}
	deps := httpapi.Deps{
		Store: st, Verifier: tokens, Readiness: readiness, Logger: log, TrialDays: cfg.TrialDays,
		Policy:  store.NewUserPolicy{Active: !cfg.PLGGating},
		Metrics: a.Metrics, CORSOrigins: cfg.CORSAllowedOrigins, Tracing: tp,
	}
	if cfg.RateLimitEnabled {
		deps.RateLimits = httpapi.RateLimits{PerPlan: cfg.RateLimits, PerIP: cfg.RateLimitIP, TrustedProxies: cfg.TrustedProxies}
		if cfg.RedisURL != "" {
			opts, err := redis.ParseURL(cfg.RedisURL)
			if err != nil {
				return nil, errors.New("config: REDIS_URL is malformed")
			}
			// The limiter's own 250 ms deadline reaches go-redis only with
			// this set; without it a stalled Redis holds each request for
			// the client's read time-out.
			opts.ContextTimeoutEnabled = true
			rdb := redis.NewClient(opts)
			a.close = rdb.Close
			deps.RateLimits.Limiter = ratelimit.NewRedis(rdb, log)
			log.Info("rate limits shared through Redis", "redis", config.MaskURL(cfg.RedisURL))
		} else {
			deps.RateLimits.Limiter = ratelimit.NewLocal(nil)
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
// warn, error; anything else is info).
func NewLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
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
	log := NewLogger(logw, cfg.LogLevel)
	log.Info("starting", "config", cfg.String())
	return Run(ctx, cfg, log, ready)
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

	st, err := store.Open(ctx, cfg.DatabaseURL, storeOptions(cfg, tp))
	if err != nil {
		return err
	}
	defer st.Close()

	api, err := NewAPI(cfg, st, migrator, log, tp)
	if err != nil {
		return err
	}
	defer api.Close()

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
	// Background work: pruning, and the API's own (API keys' last use),
	// which flushes once more when it stops, after the listeners closed.
	bgCtx, stopBackground := context.WithCancel(context.WithoutCancel(ctx))
	var bg sync.WaitGroup
	bg.Go(func() { prune(bgCtx, st, cfg, log) })
	bg.Go(func() { api.Server.Run(bgCtx) })
	defer func() { stopBackground(); bg.Wait() }()

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

// prune deletes old webhook de-duplication records and audit events at
// start-up and then hourly until ctx ends. Several instances may do it at
// once: the deletes are idempotent.
func prune(ctx context.Context, st *store.Store, cfg config.Config, log *slog.Logger) {
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		for _, p := range []struct {
			what      string
			retention time.Duration
			fn        func(context.Context, time.Duration) (int64, error)
		}{
			{"webhook events", cfg.WebhookRetention, st.PruneWebhookEvents},
			{"audit events", cfg.AuditRetention, st.PruneAuditEvents},
		} {
			n, err := p.fn(ctx, p.retention)
			switch {
			case err != nil && ctx.Err() == nil:
				log.Warn("prune "+p.what, "error", err.Error())
			case n > 0:
				log.Info("pruned "+p.what, "count", n, "retention", p.retention.String())
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
