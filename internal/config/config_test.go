package config_test

import (
	"strings"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/config"
)

const pem = "-----BEGIN PUBLIC KEY-----\nMIIB\n-----END PUBLIC KEY-----"

func env(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func base() map[string]string {
	return map[string]string{
		"DATABASE_URL":     "postgres://app:s3cret-pw@db.internal:5432/praxiom",
		"CLERK_SECRET_KEY": "sk_live_supersecret",
	}
}

func TestLoadDefaults(t *testing.T) {
	c, err := config.Load(env(base()))
	if err != nil {
		t.Fatal(err)
	}
	if c.Port != 8000 || c.AppEnv != "development" || !c.PLGGating || c.TrialDays != 14 ||
		c.ClerkClockSkew != 5*time.Second || c.ShutdownTimeout != 20*time.Second ||
		c.ClerkAPIURL != config.DefaultClerkAPIURL || !c.MigrateOnStart || c.DBMaxConns != 10 ||
		c.TokenCacheSize != 10000 || c.WebhookRetention != 7*24*time.Hour || !c.RateLimitEnabled ||
		c.RateLimits["trial"] != 30 || c.RateLimits["power"] != 600 || c.RateLimitIP != 60 || c.MetricsAddr != "127.0.0.1:9090" {
		t.Fatalf("unexpected defaults: %+v", c)
	}
}

func TestLoadRejectsWithOneLineReason(t *testing.T) {
	cases := map[string]struct {
		set   map[string]string
		unset []string
		want  string
	}{
		"no database":          {unset: []string{"DATABASE_URL"}, want: "DATABASE_URL is required"},
		"database not a url":   {set: map[string]string{"DATABASE_URL": "mysql://x"}, want: "DATABASE_URL"},
		"no clerk key":         {unset: []string{"CLERK_SECRET_KEY"}, want: "CLERK_SECRET_KEY or CLERK_JWT_KEY"},
		"jwt key not pem":      {set: map[string]string{"CLERK_JWT_KEY": "abc"}, want: "CLERK_JWT_KEY"},
		"bad port":             {set: map[string]string{"PORT": "70000"}, want: "PORT"},
		"bad skew":             {set: map[string]string{"CLERK_CLOCK_SKEW": "soon"}, want: "CLERK_CLOCK_SKEW"},
		"skew too large":       {set: map[string]string{"CLERK_CLOCK_SKEW": "1h"}, want: "CLERK_CLOCK_SKEW"},
		"bad gating":           {set: map[string]string{"PLG_GATING": "maybe"}, want: "PLG_GATING"},
		"bad app env":          {set: map[string]string{"APP_ENV": "staging"}, want: "APP_ENV"},
		"bad webhook secret":   {set: map[string]string{"CLERK_WEBHOOK_SIGNING_SECRET": "abc"}, want: "whsec_"},
		"bad api url":          {set: map[string]string{"CLERK_API_URL": "ftp://x"}, want: "CLERK_API_URL"},
		"bad token cache size": {set: map[string]string{"TOKEN_CACHE_SIZE": "-1"}, want: "TOKEN_CACHE_SIZE"},
		"retention too short":  {set: map[string]string{"WEBHOOK_EVENTS_RETENTION": "1h"}, want: "WEBHOOK_EVENTS_RETENTION"},
		"bad redis url":        {set: map[string]string{"REDIS_URL": "http://x"}, want: "REDIS_URL"},
		"bad cors origin":      {set: map[string]string{"CORS_ALLOWED_ORIGINS": "app.praxiom.ai"}, want: "CORS_ALLOWED_ORIGINS"},
		"bad trusted proxy":    {set: map[string]string{"TRUSTED_PROXIES": "10.0.0.0/33"}, want: "TRUSTED_PROXIES"},
		"bad host":             {set: map[string]string{"HOST": "example.com"}, want: "HOST"},
		"bad smtp scheme":      {set: map[string]string{"SMTP_URL": "http://u:s3cret-pw@mail:25", "MAIL_FROM": "a@b.co"}, want: "SMTP_URL"},
		"bad smtp port":        {set: map[string]string{"SMTP_URL": "smtp://u:s3cret-pw@mail:0", "MAIL_FROM": "a@b.co"}, want: "SMTP_URL"},
		"smtp without from":    {set: map[string]string{"SMTP_URL": "smtp://u:s3cret-pw@mail:587"}, want: "MAIL_FROM is required"},
		"bad mail from":        {set: map[string]string{"SMTP_URL": "smtp://mail:587", "MAIL_FROM": "Praxiom"}, want: "MAIL_FROM"},
		"mail from two lines":  {set: map[string]string{"MAIL_FROM": "a@b.co\r\nBcc: c@d.co"}, want: "MAIL_FROM"},
		"bad app url":          {set: map[string]string{"APP_URL": "app.praxiom.ai"}, want: "APP_URL"},
		"app url with query":   {set: map[string]string{"APP_URL": "https://app.praxiom.ai/?x=1"}, want: "APP_URL"},
		"bad poll only":        {set: map[string]string{"JOB_QUEUE_POLL_ONLY": "sometimes"}, want: "JOB_QUEUE_POLL_ONLY"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			kv := base()
			for k, v := range tc.set {
				kv[k] = v
			}
			for _, k := range tc.unset {
				delete(kv, k)
			}
			_, err := config.Load(env(kv))
			if err == nil {
				t.Fatal("accepted")
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Fatalf("reason %q should be one line naming %q", msg, tc.want)
			}
			for _, secret := range []string{"s3cret-pw", "sk_live_supersecret"} {
				if strings.Contains(msg, secret) {
					t.Fatalf("reason leaks a secret: %q", msg)
				}
			}
		})
	}
}

func TestStringMasksSecrets(t *testing.T) {
	kv := base()
	kv["CLERK_WEBHOOK_SIGNING_SECRET"] = "whsec_c2VjcmV0c2VjcmV0"
	kv["CLERK_JWT_KEY"] = pem
	kv["SMTP_URL"] = "smtp://apikey:smtp-Pa55word@smtp.relay.example:587"
	kv["MAIL_FROM"] = "Praxiom <no-reply@praxiomai.xyz>"
	c, err := config.Load(env(kv))
	if err != nil {
		t.Fatal(err)
	}
	s := c.String()
	for _, secret := range []string{"s3cret-pw", "sk_live_supersecret", "whsec_c2VjcmV0c2VjcmV0", "MIIB", "smtp-Pa55word"} {
		if strings.Contains(s, secret) {
			t.Fatalf("String() leaks %q: %s", secret, s)
		}
	}
	if !strings.Contains(s, "db.internal") {
		t.Fatalf("String() should still show the database host: %s", s)
	}
	if !strings.Contains(s, "smtp://apikey:xxxxx@smtp.relay.example:587") || !strings.Contains(s, "app_url=http://localhost:3000") {
		t.Fatalf("String() should show the SMTP relay with its password masked, and APP_URL: %s", s)
	}
}

func TestEmailSettings(t *testing.T) {
	c, err := config.Load(env(base()))
	if err != nil {
		t.Fatal(err)
	}
	if c.SMTPURL != "" || c.AppURL != config.DefaultAppURL || !strings.Contains(c.String(), "smtp_url=unset") {
		t.Fatalf("email defaults: %+v", c)
	}
	kv := base()
	kv["SMTP_URL"] = " smtps://mail.example.com "
	kv["MAIL_FROM"] = "no-reply@example.com"
	kv["APP_URL"] = "https://app.example.com/praxiom/"
	kv["JOB_QUEUE_POLL_ONLY"] = "true"
	if c, err = config.Load(env(kv)); err != nil {
		t.Fatal(err)
	}
	if c.SMTPURL != "smtps://mail.example.com" || c.AppURL != "https://app.example.com/praxiom" || !c.JobQueuePollOnly {
		t.Fatalf("email settings: %q %q", c.SMTPURL, c.AppURL)
	}
}

func TestJWTKeyNewlineEscapes(t *testing.T) {
	kv := base()
	kv["CLERK_JWT_KEY"] = strings.ReplaceAll(pem, "\n", `\n`)
	c, err := config.Load(env(kv))
	if err != nil {
		t.Fatal(err)
	}
	if c.ClerkJWTKey != pem {
		t.Fatalf("escaped newlines not restored: %q", c.ClerkJWTKey)
	}
}

func TestAuthorizedPartiesList(t *testing.T) {
	kv := base()
	kv["CLERK_AUTHORIZED_PARTIES"] = " https://app.praxiom.ai, ,https://staging.praxiom.ai "
	c, err := config.Load(env(kv))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.ClerkAuthorizedParties) != 2 || c.ClerkAuthorizedParties[1] != "https://staging.praxiom.ai" {
		t.Fatalf("parties: %q", c.ClerkAuthorizedParties)
	}
}

// TestLoadRejectsBoundsAndTimeouts covers the refusals of Load that
// TestLoadRejectsWithOneLineReason does not reach: each lower bound of the
// clock skew, the shutdown and statement timeouts, the HTTP timeouts, the
// host of the Clerk API URL and the parser's integer and enum bounds.
func TestLoadRejectsBoundsAndTimeouts(t *testing.T) {
	cases := map[string]struct {
		set  map[string]string
		want string
	}{
		"negative skew":             {set: map[string]string{"CLERK_CLOCK_SKEW": "-1s"}, want: "CLERK_CLOCK_SKEW must be between"},
		"api url without host":      {set: map[string]string{"CLERK_API_URL": "https://"}, want: "CLERK_API_URL must be an http(s) URL"},
		"negative statement":        {set: map[string]string{"DB_STATEMENT_TIMEOUT": "-1s"}, want: "DB_STATEMENT_TIMEOUT and SHUTDOWN_DRAIN_DELAY"},
		"zero shutdown timeout":     {set: map[string]string{"SHUTDOWN_TIMEOUT": "0s"}, want: "SHUTDOWN_TIMEOUT positive"},
		"negative drain delay":      {set: map[string]string{"SHUTDOWN_DRAIN_DELAY": "-1s"}, want: "SHUTDOWN_DRAIN_DELAY must be 0 or more"},
		"zero read header timeout":  {set: map[string]string{"HTTP_READ_HEADER_TIMEOUT": "0s"}, want: "HTTP_*_TIMEOUT"},
		"zero read timeout":         {set: map[string]string{"HTTP_READ_TIMEOUT": "0s"}, want: "HTTP_*_TIMEOUT"},
		"negative write timeout":    {set: map[string]string{"HTTP_WRITE_TIMEOUT": "-5s"}, want: "HTTP_*_TIMEOUT"},
		"zero idle timeout":         {set: map[string]string{"HTTP_IDLE_TIMEOUT": "0s"}, want: "HTTP_*_TIMEOUT"},
		"bad http timeout":          {set: map[string]string{"HTTP_READ_TIMEOUT": "fast"}, want: "HTTP_READ_TIMEOUT must be a duration"},
		"trial days zero":           {set: map[string]string{"TRIAL_DAYS": "0"}, want: "TRIAL_DAYS must be an integer from 1"},
		"db max conns zero":         {set: map[string]string{"DB_MAX_CONNS": "0"}, want: "DB_MAX_CONNS must be an integer from 1"},
		"rate limit not a number":   {set: map[string]string{"RATE_LIMIT_PRO": "lots"}, want: "RATE_LIMIT_PRO"},
		"bad log level":             {set: map[string]string{"LOG_LEVEL": "verbose"}, want: "LOG_LEVEL must be one of"},
		"metrics enabled is gone":   {set: map[string]string{"METRICS_ENABLED": "false"}, want: "METRICS_ENABLED was replaced by METRICS_ADDR"},
		"metrics addr without port": {set: map[string]string{"METRICS_ADDR": "127.0.0.1"}, want: "METRICS_ADDR must be host:port"},
		"metrics addr port range":   {set: map[string]string{"METRICS_ADDR": "127.0.0.1:65536"}, want: "METRICS_ADDR must be host:port"},
		"metrics addr host name":    {set: map[string]string{"METRICS_ADDR": "metrics.internal:9090"}, want: "METRICS_ADDR must be host:port"},
		"jwt key not pem with sk":   {set: map[string]string{"CLERK_JWT_KEY": "MIIB"}, want: "CLERK_JWT_KEY must be a PEM public key"},
		"bad host after good proxy": {set: map[string]string{"TRUSTED_PROXIES": "10.0.0.1", "HOST": "not-an-ip"}, want: "HOST must be an IP address"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			kv := base()
			for k, v := range tc.set {
				kv[k] = v
			}
			_, err := config.Load(env(kv))
			if err == nil {
				t.Fatal("accepted")
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") {
				t.Fatalf("reason %q should be one line containing %q", msg, tc.want)
			}
		})
	}
}

// TestLoadAcceptsBoundaryValues pins the accepting side of the same checks,
// so that a refusal made too eager fails here.
func TestLoadAcceptsBoundaryValues(t *testing.T) {
	kv := base()
	kv["DATABASE_URL"] = "postgresql://app@db.internal/praxiom"
	kv["CLERK_CLOCK_SKEW"] = "5m"
	kv["DB_STATEMENT_TIMEOUT"] = "0s"
	kv["SHUTDOWN_DRAIN_DELAY"] = "0s"
	kv["WEBHOOK_EVENTS_RETENTION"] = "24h"
	kv["HOST"] = "localhost"
	kv["REDIS_URL"] = "rediss://cache.internal:6380"
	kv["CORS_ALLOWED_ORIGINS"] = "http://localhost:3000"
	kv["CLERK_API_URL"] = "http://clerk.test/v1/"
	if _, err := config.Load(env(kv)); err != nil {
		t.Fatalf("rejected boundary values: %v", err)
	}
	delete(kv, "CLERK_SECRET_KEY")
	kv["CLERK_JWT_KEY"] = pem
	if _, err := config.Load(env(kv)); err != nil {
		t.Fatalf("rejected a JWT key without a secret key: %v", err)
	}
}

// TestMetricsAddr: unset is the loopback default, an empty value turns
// metrics off, and host:port forms with an IP, localhost or no host (every
// interface) are taken as given.
func TestMetricsAddr(t *testing.T) {
	for set, want := range map[string]string{
		"":               "",
		"  ":             "",
		":9090":          ":9090",
		"localhost:0":    "localhost:0",
		"10.0.0.5:9100":  "10.0.0.5:9100",
		"[::1]:9090":     "[::1]:9090",
		" 0.0.0.0:9090 ": "0.0.0.0:9090",
	} {
		kv := base()
		kv["METRICS_ADDR"] = set
		c, err := config.Load(env(kv))
		if err != nil {
			t.Fatalf("METRICS_ADDR=%q: %v", set, err)
		}
		if c.MetricsAddr != want {
			t.Errorf("METRICS_ADDR=%q: MetricsAddr %q, want %q", set, c.MetricsAddr, want)
		}
	}
}

// TestTracing: without an endpoint tracing is off whatever else is set; the
// generic endpoint is a base URL (/v1/traces appended), the per-signal one
// is taken as it is and wins; OTEL_SDK_DISABLED turns it off; the service
// name, sampler and ratio are read; String masks the endpoint's password.
func TestTracing(t *testing.T) {
	cases := map[string]struct {
		set  map[string]string
		want config.Tracing
	}{
		"unset": {want: config.Tracing{}},
		"exporter settings without an endpoint": {set: map[string]string{
			"OTEL_TRACES_SAMPLER": "nonsense", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc", "OTEL_SERVICE_NAME": "x",
		}, want: config.Tracing{}},
		"base endpoint": {set: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"},
			want: config.Tracing{Endpoint: "http://collector:4318/v1/traces", Sampler: "parentbased_always_on", SamplerArg: 1}},
		"base endpoint with a path": {set: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "https://otlp.example.com/tenant/"},
			want: config.Tracing{Endpoint: "https://otlp.example.com/tenant/v1/traces", Sampler: "parentbased_always_on", SamplerArg: 1}},
		"traces endpoint as it is": {set: map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://ignored:4318", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/custom",
		}, want: config.Tracing{Endpoint: "http://collector:4318/custom", Sampler: "parentbased_always_on", SamplerArg: 1}},
		"disabled": {set: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "true"},
			want: config.Tracing{}},
		"not disabled": {set: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SDK_DISABLED": "false"},
			want: config.Tracing{Endpoint: "http://collector:4318/v1/traces", Sampler: "parentbased_always_on", SamplerArg: 1}},
		"service name and ratio": {set: map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_SERVICE_NAME": " praxiom-api-eu ",
			"OTEL_TRACES_SAMPLER": "ParentBased_TraceIDRatio", "OTEL_TRACES_SAMPLER_ARG": "0.25",
			"OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
		}, want: config.Tracing{Endpoint: "http://collector:4318/v1/traces", ServiceName: "praxiom-api-eu",
			Sampler: "parentbased_traceidratio", SamplerArg: 0.25}},
		"ratio argument ignored by other samplers": {set: map[string]string{
			"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_SAMPLER": "always_on", "OTEL_TRACES_SAMPLER_ARG": "x",
		}, want: config.Tracing{Endpoint: "http://collector:4318/v1/traces", Sampler: "always_on", SamplerArg: 1}},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			kv := base()
			for k, v := range tc.set {
				kv[k] = v
			}
			c, err := config.Load(env(kv))
			if err != nil {
				t.Fatal(err)
			}
			if c.Tracing != tc.want {
				t.Fatalf("Tracing = %+v, want %+v", c.Tracing, tc.want)
			}
		})
	}

	kv := base()
	kv["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "https://user:otlp-pw@collector.internal/v1/traces"
	c, err := config.Load(env(kv))
	if err != nil {
		t.Fatal(err)
	}
	if s := c.String(); strings.Contains(s, "otlp-pw") || !strings.Contains(s, "tracing=https://user:xxxxx@collector.internal/v1/traces sampler=parentbased_always_on") {
		t.Fatalf("String() = %s", s)
	}
	if s := (config.Tracing{}).String(); s != "off" {
		t.Fatalf("off tracing prints %q", s)
	}
}

// TestTracingRejects: a malformed endpoint, protocol, sampler or ratio
// stops the start with a one-line reason naming the variable.
func TestTracingRejects(t *testing.T) {
	endpoint := map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318"}
	with := func(kv map[string]string) map[string]string {
		for k, v := range endpoint {
			if _, set := kv[k]; !set {
				kv[k] = v
			}
		}
		return kv
	}
	for name, tc := range map[string]struct {
		set  map[string]string
		want string
	}{
		"endpoint not a url":       {set: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, want: "OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL"},
		"endpoint grpc scheme":     {set: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "grpc://collector:4317"}, want: "OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL"},
		"endpoint without host":    {set: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://"}, want: "OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL"},
		"endpoint with a query":    {set: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318/?x=1"}, want: "OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL"},
		"traces endpoint":          {set: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "/v1/traces"}, want: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT must be an http(s) URL"},
		"grpc protocol":            {set: with(map[string]string{"OTEL_EXPORTER_OTLP_PROTOCOL": "grpc"}), want: "OTEL_EXPORTER_OTLP_PROTOCOL must be http/protobuf or http/json"},
		"grpc traces protocol":     {set: with(map[string]string{"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"}), want: "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"},
		"unknown sampler":          {set: with(map[string]string{"OTEL_TRACES_SAMPLER": "jaeger_remote"}), want: "OTEL_TRACES_SAMPLER must be one of"},
		"ratio not a number":       {set: with(map[string]string{"OTEL_TRACES_SAMPLER": "traceidratio", "OTEL_TRACES_SAMPLER_ARG": "half"}), want: "OTEL_TRACES_SAMPLER_ARG must be a ratio"},
		"ratio above one":          {set: with(map[string]string{"OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "1.5"}), want: "OTEL_TRACES_SAMPLER_ARG must be a ratio"},
		"disabled not a boolean":   {set: with(map[string]string{"OTEL_SDK_DISABLED": "yes please"}), want: "OTEL_SDK_DISABLED must be true or false"},
		"endpoint leaks no secret": {set: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://u:otlp-pw@c"}, want: "OTEL_EXPORTER_OTLP_ENDPOINT must be an http(s) URL"},
	} {
		t.Run(name, func(t *testing.T) {
			kv := base()
			for k, v := range tc.set {
				kv[k] = v
			}
			_, err := config.Load(env(kv))
			if err == nil {
				t.Fatal("accepted")
			}
			if msg := err.Error(); !strings.Contains(msg, tc.want) || strings.Contains(msg, "\n") || strings.Contains(msg, "otlp-pw") {
				t.Fatalf("reason %q should be one line containing %q", msg, tc.want)
			}
		})
	}
}
