package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
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
	"github.com/praxiom/praxiom-api/internal/webhook"
)

const usage = `usage: praxiom [command]

commands:
  serve                 run the API server (the default)
  migrate               apply pending migrations and exit
  users ACTION EMAIL | users ACTION --clerk-id ID
                        ACTION: grant-admin | revoke-admin | grant-founder | grant-access | suspend | unsuspend
  access-codes create --count N [--max-redemptions M] [--expires-in 720h] [--metadata '{}']
                        create access codes and print them, one a line
  dev                   local stand-in: private PostgreSQL under .data/, dev key pair, the server
  dev token --email E [--name N] [--ttl 1h]
                        print a token signed with the development key
`

// run dispatches the subcommands; main only wires the process to it.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return serve(ctx, getenv, stderr, nil)
	case "migrate":
		return migrate(ctx, getenv, stderr)
	case "users":
		return users(ctx, args, getenv, stdout)
	case "access-codes":
		return accessCodes(ctx, args, getenv, stdout)
	case "dev":
		return dev(ctx, args, getenv, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	_ = l.UnmarshalText([]byte(level))
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: l}))
}

// maxHeaderBytes bounds the request line and headers: room for a 16 KiB
// token and the usual browser headers, nothing like net/http's 1 MiB
// default. A larger head gets 431.
const maxHeaderBytes = 32 << 10

// headerSlop is what net/http reads beyond Server.MaxHeaderBytes before it
// answers 431 (its bufio slop); MaxHeaderBytes leaves it out so that the
// bound above is the real one.
const headerSlop = 4096

// serve runs the API server until ctx ends, then drains in-flight requests.
// ready, when set, receives the listening address.
func serve(ctx context.Context, getenv func(string) string, logw io.Writer, ready chan<- string) error {
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	log := newLogger(logw, cfg.LogLevel)
	log.Info("starting", "config", cfg.String())

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
	st, err := store.Open(ctx, cfg.DatabaseURL, store.Options{MaxConns: cfg.DBMaxConns, StatementTimeout: cfg.DBStatementTimeout,
		Outbox: jobs.OutboxFor(mail)})
	if err != nil {
		return err
	}
	defer st.Close()

	var m *metrics.Metrics
	if cfg.MetricsEnabled {
		m = metrics.New(st.Pool())
	}
	authCfg := auth.Config{
		JWTKeyPEM: cfg.ClerkJWTKey, APIURL: cfg.ClerkAPIURL, SecretKey: cfg.ClerkSecretKey,
		Issuer: cfg.ClerkIssuer, AuthorizedParties: cfg.ClerkAuthorizedParties, Leeway: cfg.ClerkClockSkew,
		Logger: log,
	}
	if m != nil {
		authCfg.OnJWKSFetch = m.JWKSFetch
	}
	verifier, err := auth.NewVerifier(authCfg)
	if err != nil {
		return err
	}
	tokens := auth.NewCachedVerifier(verifier, cfg.TokenCacheSize, nil)
	if c, ok := tokens.(*auth.CachedVerifier); ok && m != nil {
		c.Observe = m.TokenCache
	}
	deps := httpapi.Deps{
		Store: st, Verifier: tokens, Readiness: migrator, Logger: log, TrialDays: cfg.TrialDays,
		Policy:  store.NewUserPolicy{Active: !cfg.PLGGating},
		Metrics: m, CORSOrigins: cfg.CORSAllowedOrigins,
	}
	if cfg.RateLimitEnabled {
		deps.RateLimits = httpapi.RateLimits{PerPlan: cfg.RateLimits, PerIP: cfg.RateLimitIP, TrustedProxies: cfg.TrustedProxies}
		if cfg.RedisURL != "" {
			opts, err := redis.ParseURL(cfg.RedisURL)
			if err != nil {
				return errors.New("config: REDIS_URL is malformed")
			}
			rdb := redis.NewClient(opts)
			defer rdb.Close()
			deps.RateLimits.Limiter = ratelimit.NewRedis(rdb, log)
			log.Info("rate limits shared through Redis", "redis", config.MaskURL(cfg.RedisURL))
		} else {
			deps.RateLimits.Limiter = ratelimit.NewLocal(nil)
		}
	}
	if cfg.ClerkSecretKey != "" {
		deps.Fetcher = clerkuser.NewFetcher(cfg.ClerkAPIURL, cfg.ClerkSecretKey, nil)
	}
	if cfg.ClerkWebhookSecret != "" {
		if deps.Webhook, err = webhook.NewVerifier(cfg.ClerkWebhookSecret); err != nil {
			return err
		}
	} else {
		log.Warn("CLERK_WEBHOOK_SIGNING_SECRET is not set: the Clerk webhook answers 503")
	}

	stopJobs, err := jobs.Start(ctx, st, jobs.Config{Mailer: mail, WebhookRetention: cfg.WebhookRetention,
		PollOnly: cfg.JobQueuePollOnly, StopTimeout: cfg.ShutdownTimeout, Logger: log, Metrics: m})
	if err != nil {
		return err
	}
	defer stopJobs(context.WithoutCancel(ctx)) //nolint:errcheck // bounded by StopTimeout; logs its own failure

	api := httpapi.New(deps)
	go api.Run(ctx)
	var handler http.Handler = api
	if m != nil {
		// Until /metrics has a listener of its own (METRICS_ADDR).
		mux := http.NewServeMux()
		mux.Handle("GET /metrics", m.Handler())
		mux.Handle("/", api)
		handler = mux
	}
	srv := &http.Server{
		Handler:           handler,
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		WriteTimeout:      cfg.WriteTimeout,
		IdleTimeout:       cfg.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes - headerSlop,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.Host, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	log.Info("listening", "addr", ln.Addr().String())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	if cfg.ShutdownDrainDelay > 0 {
		// Keep serving while load balancers see /readyz fail and stop routing here.
		api.Drain()
		log.Info("draining", "delay", cfg.ShutdownDrainDelay.String())
		select {
		case <-time.After(cfg.ShutdownDrainDelay):
		case err := <-errc:
			return fmt.Errorf("serve: %w", err)
		}
	}
	log.Info("shutting down", "timeout", cfg.ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// migrate applies pending migrations and exits.
func migrate(ctx context.Context, getenv func(string) string, logw io.Writer) error {
	url := strings.TrimSpace(getenv("DATABASE_URL"))
	if url == "" {
		return errors.New("config: DATABASE_URL is required")
	}
	m, err := store.NewMigrator(url, newLogger(logw, "info"))
	if err != nil {
		return err
	}
	defer m.Close()
	n, err := m.Up(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(logw, "applied %d migration(s)\n", n)
	return nil
}

// openAdminStore opens a small pool on DATABASE_URL for the command-line
// administration commands.
func openAdminStore(ctx context.Context, getenv func(string) string) (*store.Store, error) {
	url := strings.TrimSpace(getenv("DATABASE_URL"))
	if url == "" {
		return nil, errors.New("config: DATABASE_URL is required")
	}
	return store.Open(ctx, url, store.Options{MaxConns: 2})
}
