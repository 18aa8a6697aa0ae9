// Package config reads the service's configuration from the environment
// once, validates it, and masks secrets when it is printed.
package config

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/praxiom/praxiom-api/internal/mailer"
)

// Config is the validated configuration of the service.
type Config struct {
	AppEnv string // development | test | production
	Host   string // listen address; empty = every interface
	Port   int
	// ShutdownDrainDelay keeps serving, with /readyz answering 503, this
	// long after SIGTERM before the listener closes.
	ShutdownDrainDelay time.Duration

	DatabaseURL        string
	DBMaxConns         int32
	DBStatementTimeout time.Duration
	MigrateOnStart     bool

	ClerkSecretKey         string
	ClerkJWTKey            string
	ClerkAPIURL            string
	ClerkIssuer            string
	ClerkAuthorizedParties []string
	ClerkClockSkew         time.Duration
	ClerkWebhookSecret     string
	// WebhookRetention is how long processed svix-ids are kept for
	// de-duplication before they are pruned.
	WebhookRetention time.Duration
	// AuditRetention is how long audit events are kept.
	AuditRetention time.Duration

	TokenCacheSize int
	PLGGating      bool

	RateLimitEnabled bool
	// RateLimits are requests per user per minute by plan.
	RateLimits map[string]int
	// RateLimitIP is requests per client IP per minute on routes without a user.
	RateLimitIP        int
	RedisURL           string
	TrustedProxies     []netip.Prefix
	CORSAllowedOrigins []string
	// MetricsAddr is the host:port of the Prometheus listener, apart from
	// the public port; empty turns metrics off.
	MetricsAddr     string
	TrialDays       int
	ShutdownTimeout time.Duration
	LogLevel        string

	// Email (README, "Email"). SMTPURL empty turns email off.
	SMTPURL  string
	MailFrom string
	// AppURL is the web app's base URL for links in emails, without a
	// trailing slash.
	AppURL string
	// JobQueuePollOnly makes the job queue's workers poll instead of
	// LISTENing (behind PgBouncer in transaction mode).
	JobQueuePollOnly bool

	// The HTTP server's edge (internal/app).
	ReadHeaderTimeout time.Duration
	ReadTimeout       time.Duration
	WriteTimeout      time.Duration
	IdleTimeout       time.Duration

	// Tracing is the OpenTelemetry configuration; tracing is off when its
	// Endpoint is empty.
	Tracing Tracing
}

// DefaultAppURL is the web app's base URL when APP_URL is unset.
const DefaultAppURL = "http://localhost:3000"

// Tracing is what the standard OTEL_* variables say about trace export
// (README, "Tracing"). The exporter's transport settings (headers,
// compression, time-out, certificates), OTEL_RESOURCE_ATTRIBUTES and the
// batch processor's OTEL_BSP_* are read by the OpenTelemetry SDK itself.
type Tracing struct {
	// Endpoint is the URL spans are POSTed to (OTLP/HTTP): the value of
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT as it is, or
	// OTEL_EXPORTER_OTLP_ENDPOINT with /v1/traces appended to its path.
	// Empty (neither set, or OTEL_SDK_DISABLED=true): tracing is off.
	Endpoint string
	// ServiceName is OTEL_SERVICE_NAME; empty means the service.name of
	// OTEL_RESOURCE_ATTRIBUTES, else DefaultServiceName.
	ServiceName string
	// Sampler is OTEL_TRACES_SAMPLER, one of the SDK's names (Samplers);
	// default parentbased_always_on.
	Sampler string
	// SamplerArg is OTEL_TRACES_SAMPLER_ARG, the ratio of the
	// *traceidratio samplers, from 0 to 1; default 1.
	SamplerArg float64
}

// DefaultServiceName is the service.name of the spans when neither
// OTEL_SERVICE_NAME nor OTEL_RESOURCE_ATTRIBUTES names one.
const DefaultServiceName = "praxiom-api"

// Samplers are the values OTEL_TRACES_SAMPLER may take: those the
// OpenTelemetry Go SDK reads from it.
var Samplers = []string{"parentbased_always_on", "parentbased_always_off", "parentbased_traceidratio",
	"always_on", "always_off", "traceidratio"}

// DefaultClerkAPIURL is Clerk's Backend API base URL.
const DefaultClerkAPIURL = "https://api.clerk.com/v1"

// DefaultMetricsAddr is where /metrics is served when METRICS_ADDR is unset.
const DefaultMetricsAddr = "127.0.0.1:9090"

// Load reads and validates the configuration through lookup (os.LookupEnv:
// an unset variable and an empty one differ for METRICS_ADDR). The error is
// one line naming the first offending variable; it never contains a secret
// value.
func Load(lookup func(string) (string, bool)) (Config, error) {
	getenv := func(k string) string { v, _ := lookup(k); return v }
	p := parser{getenv: getenv}
	c := Config{
		AppEnv:                 p.enum("APP_ENV", "development", "development", "test", "production"),
		Host:                   strings.TrimSpace(getenv("HOST")),
		Port:                   p.int("PORT", 8000, 0, 65535),
		ShutdownDrainDelay:     p.duration("SHUTDOWN_DRAIN_DELAY", 0),
		DatabaseURL:            strings.TrimSpace(getenv("DATABASE_URL")),
		DBMaxConns:             int32(p.int("DB_MAX_CONNS", 10, 1, 1000)),
		DBStatementTimeout:     p.duration("DB_STATEMENT_TIMEOUT", 5*time.Second),
		MigrateOnStart:         p.bool("MIGRATE_ON_START", true),
		ClerkSecretKey:         strings.TrimSpace(getenv("CLERK_SECRET_KEY")),
		ClerkJWTKey:            strings.TrimSpace(strings.ReplaceAll(getenv("CLERK_JWT_KEY"), `\n`, "\n")),
		ClerkAPIURL:            strings.TrimRight(p.str("CLERK_API_URL", DefaultClerkAPIURL), "/"),
		ClerkIssuer:            strings.TrimSpace(getenv("CLERK_ISSUER")),
		ClerkAuthorizedParties: p.list("CLERK_AUTHORIZED_PARTIES"),
		ClerkClockSkew:         p.duration("CLERK_CLOCK_SKEW", 5*time.Second),
		ClerkWebhookSecret:     strings.TrimSpace(getenv("CLERK_WEBHOOK_SIGNING_SECRET")),
		TokenCacheSize:         p.int("TOKEN_CACHE_SIZE", 10000, 0, 1000000),
		PLGGating:              p.bool("PLG_GATING", true),
		WebhookRetention:       p.duration("WEBHOOK_EVENTS_RETENTION", 7*24*time.Hour),
		AuditRetention:         p.duration("AUDIT_RETENTION", 400*24*time.Hour),
		TrialDays:              p.int("TRIAL_DAYS", 14, 1, 3650),
		ShutdownTimeout:        p.duration("SHUTDOWN_TIMEOUT", 20*time.Second),
		LogLevel:               p.enum("LOG_LEVEL", "info", "debug", "info", "warn", "error"),
		ReadHeaderTimeout:      p.duration("HTTP_READ_HEADER_TIMEOUT", 5*time.Second),
		ReadTimeout:            p.duration("HTTP_READ_TIMEOUT", 15*time.Second),
		WriteTimeout:           p.duration("HTTP_WRITE_TIMEOUT", 30*time.Second),
		IdleTimeout:            p.duration("HTTP_IDLE_TIMEOUT", 120*time.Second),
		RateLimitEnabled:       p.bool("RATE_LIMIT_ENABLED", true),
		RateLimits: map[string]int{
			"trial":  p.int("RATE_LIMIT_TRIAL", 30, 1, 1000000),
			"pro":    p.int("RATE_LIMIT_PRO", 120, 1, 1000000),
			"growth": p.int("RATE_LIMIT_GROWTH", 300, 1, 1000000),
			"power":  p.int("RATE_LIMIT_POWER", 600, 1, 1000000),
		},
		RateLimitIP:        p.int("RATE_LIMIT_IP", 60, 1, 1000000),
		RedisURL:           strings.TrimSpace(getenv("REDIS_URL")),
		TrustedProxies:     p.prefixes("TRUSTED_PROXIES"),
		CORSAllowedOrigins: p.list("CORS_ALLOWED_ORIGINS"),
		SMTPURL:            strings.TrimSpace(getenv("SMTP_URL")),
		MailFrom:           strings.TrimSpace(getenv("MAIL_FROM")),
		AppURL:             strings.TrimRight(p.str("APP_URL", DefaultAppURL), "/"),
		JobQueuePollOnly:   p.bool("JOB_QUEUE_POLL_ONLY", false),
	}
	if p.err != nil {
		return Config{}, p.err
	}
	if _, set := lookup("METRICS_ENABLED"); set {
		return Config{}, errors.New("config: METRICS_ENABLED was replaced by METRICS_ADDR (host:port of the metrics listener; empty turns metrics off)")
	}
	c.MetricsAddr = DefaultMetricsAddr
	if v, set := lookup("METRICS_ADDR"); set {
		c.MetricsAddr = strings.TrimSpace(v)
	}
	if c.MetricsAddr != "" && !validListenAddr(c.MetricsAddr) {
		return Config{}, errors.New("config: METRICS_ADDR must be host:port such as 127.0.0.1:9090 (empty turns metrics off)")
	}
	if c.DatabaseURL == "" {
		return Config{}, errors.New("config: DATABASE_URL is required")
	}
	if u, err := url.Parse(c.DatabaseURL); err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return Config{}, errors.New("config: DATABASE_URL must be a postgres:// URL")
	}
	if c.ClerkSecretKey == "" && c.ClerkJWTKey == "" {
		return Config{}, errors.New("config: CLERK_SECRET_KEY or CLERK_JWT_KEY is required")
	}
	if c.ClerkJWTKey != "" && !strings.Contains(c.ClerkJWTKey, "-----BEGIN PUBLIC KEY-----") {
		return Config{}, errors.New("config: CLERK_JWT_KEY must be a PEM public key (-----BEGIN PUBLIC KEY-----)")
	}
	if u, err := url.Parse(c.ClerkAPIURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return Config{}, errors.New("config: CLERK_API_URL must be an http(s) URL")
	}
	if c.ClerkClockSkew < 0 || c.ClerkClockSkew > 5*time.Minute {
		return Config{}, errors.New("config: CLERK_CLOCK_SKEW must be between 0s and 5m")
	}
	if c.ClerkWebhookSecret != "" && !strings.HasPrefix(c.ClerkWebhookSecret, "whsec_") {
		return Config{}, errors.New("config: CLERK_WEBHOOK_SIGNING_SECRET must start with whsec_")
	}
	if c.AuditRetention < 24*time.Hour {
		return Config{}, errors.New("config: AUDIT_RETENTION must be at least 24h")
	}
	if c.WebhookRetention < 24*time.Hour {
		return Config{}, errors.New("config: WEBHOOK_EVENTS_RETENTION must be at least 24h (Svix retries for about a day)")
	}
	if c.RedisURL != "" {
		if u, err := url.Parse(c.RedisURL); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") {
			return Config{}, errors.New("config: REDIS_URL must be a redis:// or rediss:// URL")
		}
	}
	for _, o := range c.CORSAllowedOrigins {
		if u, err := url.Parse(o); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Path != "" {
			return Config{}, errors.New("config: CORS_ALLOWED_ORIGINS must list origins such as https://app.example.com")
		}
	}
	if c.DBStatementTimeout < 0 || c.ShutdownTimeout <= 0 || c.ShutdownDrainDelay < 0 {
		return Config{}, errors.New("config: DB_STATEMENT_TIMEOUT and SHUTDOWN_DRAIN_DELAY must be 0 or more, SHUTDOWN_TIMEOUT positive")
	}
	if c.Host != "" {
		if _, err := netip.ParseAddr(c.Host); err != nil && c.Host != "localhost" {
			return Config{}, errors.New("config: HOST must be an IP address or localhost")
		}
	}
	if c.ReadHeaderTimeout <= 0 || c.ReadTimeout <= 0 || c.WriteTimeout <= 0 || c.IdleTimeout <= 0 {
		return Config{}, errors.New("config: the HTTP_*_TIMEOUT durations must be positive")
	}
	if c.SMTPURL != "" {
		if _, _, _, err := mailer.ParseSMTPURL(c.SMTPURL); err != nil {
			return Config{}, fmt.Errorf("config: SMTP_URL %w (smtp://[user:password@]host:port or smtps://…)", err)
		}
		if c.MailFrom == "" {
			return Config{}, errors.New("config: MAIL_FROM is required with SMTP_URL (e.g. Praxiom <no-reply@example.com>)")
		}
	}
	if c.MailFrom != "" {
		if _, err := mailer.ParseFrom(c.MailFrom); err != nil {
			return Config{}, fmt.Errorf("config: MAIL_FROM %w", err)
		}
	}
	if u, err := url.Parse(c.AppURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" ||
		u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return Config{}, errors.New("config: APP_URL must be an http(s) URL without query or fragment, such as https://app.example.com")
	}
	tracing, err := loadTracing(getenv)
	if err != nil {
		return Config{}, err
	}
	c.Tracing = tracing
	return c, nil
}

// loadTracing reads the OTEL_* variables this service acts on. Those that
// only matter to an exporter are checked only when an endpoint is set.
func loadTracing(getenv func(string) string) (Tracing, error) {
	if disabled := strings.TrimSpace(getenv("OTEL_SDK_DISABLED")); disabled != "" {
		off, err := strconv.ParseBool(disabled)
		if err != nil {
			return Tracing{}, errors.New("config: OTEL_SDK_DISABLED must be true or false")
		}
		if off {
			return Tracing{}, nil
		}
	}
	name, raw := "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"))
	if raw == "" {
		name, raw = "OTEL_EXPORTER_OTLP_ENDPOINT", strings.TrimSpace(getenv("OTEL_EXPORTER_OTLP_ENDPOINT"))
	}
	if raw == "" {
		return Tracing{}, nil
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		return Tracing{}, fmt.Errorf("config: %s must be an http(s) URL such as http://otel-collector:4318", name)
	}
	if name == "OTEL_EXPORTER_OTLP_ENDPOINT" {
		// A base URL: the traces path is appended, as the SDK does.
		u.Path = path.Join("/", u.Path, "v1/traces")
		u.RawPath = ""
	}
	t := Tracing{
		Endpoint:    u.String(),
		ServiceName: strings.TrimSpace(getenv("OTEL_SERVICE_NAME")),
		Sampler:     strings.ToLower(strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER"))),
		SamplerArg:  1,
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL", "OTEL_EXPORTER_OTLP_PROTOCOL"} {
		if v := strings.TrimSpace(getenv(k)); v != "" && v != "http/protobuf" && v != "http/json" {
			return Tracing{}, fmt.Errorf("config: %s must be http/protobuf or http/json (spans are sent over OTLP/HTTP)", k)
		}
	}
	if t.Sampler == "" {
		t.Sampler = "parentbased_always_on"
	}
	if !slices.Contains(Samplers, t.Sampler) {
		return Tracing{}, errors.New("config: OTEL_TRACES_SAMPLER must be one of " + strings.Join(Samplers, ", "))
	}
	if arg := strings.TrimSpace(getenv("OTEL_TRACES_SAMPLER_ARG")); arg != "" && strings.HasSuffix(t.Sampler, "traceidratio") {
		f, err := strconv.ParseFloat(arg, 64)
		if err != nil || f < 0 || f > 1 {
			return Tracing{}, errors.New("config: OTEL_TRACES_SAMPLER_ARG must be a ratio from 0 to 1")
		}
		t.SamplerArg = f
	}
	return t, nil
}

// validListenAddr reports whether s is host:port with a port from 0 to
// 65535 and a host that is empty (every interface), an IP address or
// localhost.
func validListenAddr(s string) bool {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return false
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return false
	}
	if _, err := netip.ParseAddr(host); err != nil && host != "" && host != "localhost" {
		return false
	}
	return true
}

// String describes the configuration with every secret masked.
func (c Config) String() string {
	smtp := "unset"
	if c.SMTPURL != "" {
		smtp = MaskURL(c.SMTPURL)
	}
	return fmt.Sprintf("app_env=%s port=%d database_url=%s clerk_secret_key=%s clerk_jwt_key=%t clerk_api_url=%s clerk_issuer=%q authorized_parties=%v clock_skew=%s webhook_secret=%s plg_gating=%t rate_limit=%t redis_url=%s trusted_proxies=%v cors_origins=%v metrics_addr=%q smtp_url=%s mail_from=%q app_url=%s tracing=%s",
		c.AppEnv, c.Port, MaskURL(c.DatabaseURL), mask(c.ClerkSecretKey), c.ClerkJWTKey != "", c.ClerkAPIURL,
		c.ClerkIssuer, c.ClerkAuthorizedParties, c.ClerkClockSkew, mask(c.ClerkWebhookSecret), c.PLGGating,
		c.RateLimitEnabled, MaskURL(c.RedisURL), c.TrustedProxies, c.CORSAllowedOrigins, c.MetricsAddr,
		smtp, c.MailFrom, c.AppURL, c.Tracing)
}

// String describes the tracing configuration, the endpoint's password
// masked: "off", or the endpoint and the sampler.
func (t Tracing) String() string {
	if t.Endpoint == "" {
		return "off"
	}
	s := MaskURL(t.Endpoint) + " sampler=" + t.Sampler
	if strings.HasSuffix(t.Sampler, "traceidratio") {
		s += ":" + strconv.FormatFloat(t.SamplerArg, 'g', -1, 64)
	}
	return s
}

func mask(s string) string {
	if s == "" {
		return "unset"
	}
	return "set"
}

// MaskURL returns u with any password replaced, for logs.
func MaskURL(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return "(unparseable)"
	}
	if _, has := parsed.User.Password(); has {
		parsed.User = url.UserPassword(parsed.User.Username(), "xxxxx")
	}
	return parsed.Redacted()
}

type parser struct {
	getenv func(string) string
	err    error
}

func (p *parser) fail(name, want string) {
	if p.err == nil {
		p.err = fmt.Errorf("config: %s must be %s", name, want)
	}
}

func (p *parser) str(name, def string) string {
	if v := strings.TrimSpace(p.getenv(name)); v != "" {
		return v
	}
	return def
}

func (p *parser) enum(name, def string, allowed ...string) string {
	v := strings.ToLower(p.str(name, def))
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	p.fail(name, "one of "+strings.Join(allowed, ", "))
	return def
}

func (p *parser) int(name string, def, lo, hi int) int {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < lo || n > hi {
		p.fail(name, fmt.Sprintf("an integer from %d to %d", lo, hi))
		return def
	}
	return n
}

func (p *parser) bool(name string, def bool) bool {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.fail(name, "true or false")
		return def
	}
	return b
}

func (p *parser) duration(name string, def time.Duration) time.Duration {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.fail(name, "a duration such as 5s")
		return def
	}
	return d
}

// prefixes reads a comma-separated list of CIDRs or single addresses.
func (p *parser) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	for _, s := range p.list(name) {
		if pre, err := netip.ParsePrefix(s); err == nil {
			out = append(out, pre.Masked())
			continue
		}
		addr, err := netip.ParseAddr(s)
		if err != nil {
			p.fail(name, "a comma-separated list of IP addresses or CIDRs")
			return nil
		}
		out = append(out, netip.PrefixFrom(addr.Unmap(), addr.Unmap().BitLen()))
	}
	return out
}

func (p *parser) list(name string) []string {
	var out []string
	for _, s := range strings.Split(p.getenv(name), ",") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
