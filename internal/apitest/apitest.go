// Package apitest is the harness of the HTTP tests: the API server as the
// binary builds it (app.NewAPI) on a throwaway database (pgtest) with an
// offline Clerk key, requests sent in-process with every response held to
// api/openapi.yaml (openapicheck), token minting, signed Svix deliveries,
// Clerk webhook bodies, fixtures written straight to the database, and Race.
package apitest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	svix "github.com/svix/svix-webhooks/go"

	"github.com/praxiom/praxiom-api/internal/app"
	"github.com/praxiom/praxiom-api/internal/auth"
	"github.com/praxiom/praxiom-api/internal/clerktest"
	"github.com/praxiom/praxiom-api/internal/config"
	"github.com/praxiom/praxiom-api/internal/devtoken"
	"github.com/praxiom/praxiom-api/internal/httpapi"
	"github.com/praxiom/praxiom-api/internal/jobs"
	"github.com/praxiom/praxiom-api/internal/mailer"
	"github.com/praxiom/praxiom-api/internal/metrics"
	"github.com/praxiom/praxiom-api/internal/openapicheck"
	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// Options adjust the server under test. The zero value is the production
// wiring (app.NewAPI from the configuration's defaults: PLG gating on, the
// verified-token cache, metrics on) with the test key as CLERK_JWT_KEY,
// users provisioned from token claims, a fresh webhook secret and rate
// limits off, on a fresh database.
type Options struct {
	// PLGGatingOff makes new users start active with product access
	// (PLG_GATING=false).
	PLGGatingOff bool
	// ClerkAPIURL, when set, provisions users from a (fake) Clerk Backend
	// API at that URL (CLERK_API_URL) with secret clerktest.SecretKey
	// (CLERK_SECRET_KEY).
	ClerkAPIURL string
	// Verifier replaces the verifier NewAPI builds (app.WithVerifier).
	Verifier auth.TokenVerifier
	// NoWebhookSecret leaves the webhook unconfigured.
	NoWebhookSecret bool
	// Store tunes the pool.
	Store store.Options
	// DatabaseURL, when set, is the (migrated) database to serve from,
	// instead of a fresh one; it is not dropped at the end.
	DatabaseURL string
	// Readiness replaces the migrator as readiness checker.
	Readiness httpapi.ReadinessChecker
	// RateLimits turn rate limiting on when they have a Limiter or Failures
	// (off by default in tests): RATE_LIMIT_ENABLED with their PerPlan,
	// PerIP and TrustedProxies, and their Limiter and Failures in place of
	// the ones NewAPI builds (app.WithRateLimiter).
	RateLimits httpapi.RateLimits
	// CORSOrigins are the allowed browser origins (CORS_ALLOWED_ORIGINS).
	CORSOrigins []string
	// Metrics, when set, are updated instead of the server's own
	// (app.WithMetrics); scrape either through Env.Metrics.
	Metrics *metrics.Metrics
	// Config, when set, adjusts the configuration last, after the fields
	// above were applied to it.
	Config func(*config.Config)
	// NoSpecCheck turns off the validation of every response against
	// api/openapi.yaml (only for tests that send what the spec cannot know).
	NoSpecCheck bool
	// Email, when set, turns email on (README, "Email").
	Email *Email
}

// Email turns email on for an Env: the store enqueues emails through an
// outbox and, unless NoWorker, a River client (jobs.Start) works the queue
// and sends through a mailer for SMTPURL, tuned for tests.
type Email struct {
	// SMTPURL is where the mailer sends (an smtptest.Server's URL).
	SMTPURL string
	// From and AppURL default to TestMailFrom and TestAppURL.
	From, AppURL string
	// TLS is the mailer's TLS client configuration (smtptest's ClientTLS).
	TLS *tls.Config
	// Jobs overrides the tuning of TestJobs field by field (non-zero
	// fields win); Mailer, Logger and Metrics are the Env's.
	Jobs jobs.Config
	// NoWorker enqueues without working the queue.
	NoWorker bool
	// WrapOutbox wraps the store's outbox, e.g. to fail after the enqueue.
	WrapOutbox func(store.Outbox) store.Outbox
}

// Defaults of Email.
const (
	TestMailFrom = "Praxiom <no-reply@praxiom.test>"
	TestAppURL   = "https://app.praxiom.test"
)

// TestJobs is the queue's tuning in tests: it polls every 50ms, retries a
// failed email after 100ms, doubling up to 400ms, for a minute, and
// rescues a job whose worker died 6s after it started.
var TestJobs = jobs.Config{
	FetchPollInterval: 50 * time.Millisecond,
	RetryBase:         100 * time.Millisecond,
	RetryMax:          400 * time.Millisecond,
	RetryFor:          time.Minute,
	JobTimeout:        5 * time.Second,
	RescueAfter:       6 * time.Second,
	StopTimeout:       2 * time.Second,
}

// Env is a server under test on its own database.
type Env struct {
	TB          testing.TB
	Store       *store.Store
	DatabaseURL string
	Key         *devtoken.Key
	Handler     http.Handler
	// Server is the API server behind Handler.
	Server *httpapi.Server
	// Metrics are the instruments Server updates (scrape them with
	// Metrics.Handler).
	Metrics       *metrics.Metrics
	WebhookSecret string
	logs          *SyncBuffer
}

// SyncBuffer is a goroutine-safe log sink.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var (
	specOnce sync.Once
	spec     *openapicheck.Checker
)

// Spec returns the response validator shared by the tests of one binary, so
// that a test can assert every operation was seen (Spec(t).Uncovered()).
// tb may be nil once the spec was loaded by a test.
func Spec(tb testing.TB) *openapicheck.Checker {
	if tb != nil {
		tb.Helper()
	}
	specOnce.Do(func() { spec = openapicheck.New(tb) })
	return spec
}

// SpecUsed reports whether any test loaded the spec checker.
func SpecUsed() bool { return spec != nil }

var (
	keyOnce sync.Once
	key     *devtoken.Key
)

// Key returns one RSA key per test binary (generating one takes ~100 ms).
func Key(tb testing.TB) *devtoken.Key {
	tb.Helper()
	keyOnce.Do(func() {
		var err error
		key, err = devtoken.Generate()
		if err != nil {
			panic(err)
		}
	})
	return key
}

// New starts the API on a fresh database (or on o.DatabaseURL), built by
// app.NewAPI from the configuration Config returns.
func New(tb testing.TB, o Options) *Env {
	tb.Helper()
	mail := withOutbox(tb, &o)
	url := o.DatabaseURL
	if url == "" {
		url = pgtest.NewDatabase(tb)
	}
	st, err := store.Open(context.Background(), url, o.Store)
	if err != nil {
		tb.Fatalf("apitest: open store: %v", err)
	}
	tb.Cleanup(st.Close)
	e := &Env{TB: tb, Store: st, DatabaseURL: url, Key: Key(tb), logs: &SyncBuffer{}}
	if !o.NoWebhookSecret {
		raw := make([]byte, 24)
		_, _ = rand.Read(raw)
		e.WebhookSecret = "whsec_" + base64.StdEncoding.EncodeToString(raw)
	}
	cfg := Config(tb, url, o)
	cfg.ClerkWebhookSecret = e.WebhookSecret
	if o.Config != nil {
		o.Config(&cfg)
	}
	var opts []app.Option
	if o.Verifier != nil {
		opts = append(opts, app.WithVerifier(o.Verifier))
	}
	if o.RateLimits.Limiter != nil || o.RateLimits.Failures != nil {
		opts = append(opts, app.WithRateLimiter(o.RateLimits.Limiter, o.RateLimits.Failures))
	}
	if o.Metrics != nil {
		opts = append(opts, app.WithMetrics(o.Metrics))
	}
	readiness := o.Readiness
	if readiness == nil {
		m, err := store.NewMigrator(url, nil)
		if err != nil {
			tb.Fatalf("apitest: migrator: %v", err)
		}
		tb.Cleanup(func() { m.Close() })
		readiness = m
	}
	log := app.NewLogger(e.logs, "debug")
	api, err := app.NewAPI(cfg, st, readiness, log, opts...)
	if err != nil {
		tb.Fatalf("apitest: build the API: %v", err)
	}
	tb.Cleanup(func() { _ = api.Close() })
	if o.Email != nil && !o.Email.NoWorker {
		jc := TestJobs
		override(&jc, o.Email.Jobs)
		jc.Mailer, jc.Logger, jc.Metrics = mail, log, api.Metrics
		stop, err := jobs.Start(context.Background(), st, jc)
		if err != nil {
			tb.Fatalf("apitest: jobs: %v", err)
		}
		tb.Cleanup(func() { _ = stop(context.Background()) })
	}
	e.Server, e.Metrics, e.Handler = api.Server, api.Metrics, api.Server
	if !o.NoSpecCheck {
		e.Handler = Spec(tb).Wrap(tb, e.Handler)
	}
	return e
}

// withOutbox builds the mailer of o.Email and puts an outbox into o.Store.
func withOutbox(tb testing.TB, o *Options) *mailer.Mailer {
	tb.Helper()
	if o.Email == nil {
		return nil
	}
	e := *o.Email
	if e.From == "" {
		e.From = TestMailFrom
	}
	if e.AppURL == "" {
		e.AppURL = TestAppURL
	}
	m, err := mailer.New(mailer.Config{SMTPURL: e.SMTPURL, From: e.From, AppURL: e.AppURL, TLSConfig: e.TLS,
		Timeout: 5 * time.Second})
	if err != nil {
		tb.Fatalf("apitest: mailer: %v", err)
	}
	var ob store.Outbox = jobs.NewOutbox()
	if e.WrapOutbox != nil {
		ob = e.WrapOutbox(ob)
	}
	o.Store.Outbox = ob
	return m
}

// NewOn starts a second API server on other's database, as a second
// instance would run: its own pool, caches and limiters.
func NewOn(tb testing.TB, other *Env, o Options) *Env {
	tb.Helper()
	o.DatabaseURL = other.DatabaseURL
	return New(tb, o)
}

// Config returns the configuration New builds the server from for o
// (without the webhook secret and o.Config): the defaults of config.Load
// for databaseURL with the test key (Key) as CLERK_JWT_KEY, and o's PLG
// gating, Clerk API, rate limits and CORS origins. Metrics are on
// (METRICS_ADDR is set, though nothing listens).
func Config(tb testing.TB, databaseURL string, o Options) config.Config {
	tb.Helper()
	env := map[string]string{
		"APP_ENV": "test", "DATABASE_URL": databaseURL, "CLERK_JWT_KEY": Key(tb).PublicPEM(),
		"METRICS_ADDR": "127.0.0.1:0",
	}
	if o.ClerkAPIURL != "" {
		env["CLERK_API_URL"], env["CLERK_SECRET_KEY"] = o.ClerkAPIURL, clerktest.SecretKey
	}
	cfg, err := config.Load(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	if err != nil {
		tb.Fatalf("apitest: %v", err)
	}
	cfg.PLGGating = !o.PLGGatingOff
	cfg.CORSAllowedOrigins = o.CORSOrigins
	rl := o.RateLimits
	cfg.RateLimitEnabled = rl.Limiter != nil || rl.Failures != nil
	for plan, n := range rl.PerPlan {
		cfg.RateLimits[plan] = n
	}
	if rl.PerIP > 0 {
		cfg.RateLimitIP = rl.PerIP
	}
	cfg.TrustedProxies = rl.TrustedProxies
	return cfg
}

// override sets every non-zero duration and count of o in c.
func override(c *jobs.Config, o jobs.Config) {
	for _, f := range []struct{ dst, src *time.Duration }{
		{&c.FetchPollInterval, &o.FetchPollInterval}, {&c.RetryBase, &o.RetryBase}, {&c.RetryMax, &o.RetryMax},
		{&c.RetryFor, &o.RetryFor}, {&c.JobTimeout, &o.JobTimeout}, {&c.RescueAfter, &o.RescueAfter},
		{&c.StopTimeout, &o.StopTimeout}, {&c.PruneInterval, &o.PruneInterval}, {&c.WebhookRetention, &o.WebhookRetention},
	} {
		if *f.src > 0 {
			*f.dst = *f.src
		}
	}
	if o.EmailWorkers > 0 {
		c.EmailWorkers = o.EmailWorkers
	}
	c.PollOnly = c.PollOnly || o.PollOnly
}

// Logs returns everything the server logged so far.
func (e *Env) Logs() string { return e.logs.String() }

// Token mints a valid token for email (sub derived from it, with email and
// name claims so the user is provisioned from claims).
func (e *Env) Token(email string) string {
	e.TB.Helper()
	t, err := e.Key.Mint(devtoken.Options{Subject: devtoken.SubjectForEmail(email), Email: email,
		Name: strings.Split(email, "@")[0], TTL: time.Hour})
	if err != nil {
		e.TB.Fatalf("apitest: mint: %v", err)
	}
	return t
}

// Mint mints a token with o.
func (e *Env) Mint(o devtoken.Options) string {
	e.TB.Helper()
	t, err := e.Key.Mint(o)
	if err != nil {
		e.TB.Fatalf("apitest: mint: %v", err)
	}
	return t
}

// Response is a recorded answer.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// JSON decodes the body into v, failing the test when it is not JSON.
func (r *Response) JSON(tb testing.TB, v any) {
	tb.Helper()
	if err := json.Unmarshal(r.Body, v); err != nil {
		tb.Fatalf("response %d is not JSON: %v: %s", r.Status, err, r.Body)
	}
}

// Code returns error.code of an error envelope ("" when absent).
func (r *Response) Code() string {
	var env struct {
		Error struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	_ = json.Unmarshal(r.Body, &env)
	return env.Error.Code
}

// Request is a request to send with Do.
type Request struct {
	Method, Path, Token string
	// Body is sent as JSON unless it is []byte or string (sent as is).
	Body   any
	Header http.Header
	// RemoteAddr is the client's address as the server sees it ("ip:port");
	// empty means httptest's default, 192.0.2.1:1234.
	RemoteAddr string
}

// Do sends req to the server in-process and records the answer.
func (e *Env) Do(req Request) *Response {
	e.TB.Helper()
	var body io.Reader
	switch b := req.Body.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(b)
	case string:
		body = strings.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.TB.Fatalf("apitest: marshal body: %v", err)
		}
		body = bytes.NewReader(j)
	}
	r := httptest.NewRequestWithContext(context.Background(), req.Method, req.Path, body)
	if req.Body != nil {
		r.Header.Set("Content-Type", "application/json")
	}
	if req.Token != "" {
		r.Header.Set("Authorization", "Bearer "+req.Token)
	}
	for k, vs := range req.Header {
		r.Header.Del(k)
		for _, v := range vs {
			r.Header.Add(k, v)
		}
	}
	if req.RemoteAddr != "" {
		r.RemoteAddr = req.RemoteAddr
	}
	w := httptest.NewRecorder()
	e.Handler.ServeHTTP(w, r)
	return &Response{Status: w.Code, Header: w.Header(), Body: w.Body.Bytes()}
}

// Get is Do with GET and a token.
func (e *Env) Get(path, token string) *Response {
	e.TB.Helper()
	return e.Do(Request{Method: http.MethodGet, Path: path, Token: token})
}

// SignedHeaders signs body as Svix would for message id at time ts.
func SignedHeaders(tb testing.TB, secret, id string, ts time.Time, body []byte) http.Header {
	tb.Helper()
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		tb.Fatalf("apitest: svix: %v", err)
	}
	sig, err := wh.Sign(id, ts, body)
	if err != nil {
		tb.Fatalf("apitest: sign: %v", err)
	}
	h := http.Header{}
	h.Set("svix-id", id)
	h.Set("svix-timestamp", strconv.FormatInt(ts.Unix(), 10))
	h.Set("svix-signature", sig)
	return h
}

// Deliver posts body to the webhook signed with the server's secret now.
func (e *Env) Deliver(id string, body []byte) *Response {
	e.TB.Helper()
	return e.Do(Request{Method: http.MethodPost, Path: "/api/webhooks/clerk", Body: body,
		Header: SignedHeaders(e.TB, e.WebhookSecret, id, time.Now(), body)})
}

// UserEvent builds a Clerk user.created/user.updated body whose one email
// address, the primary one, is verified (clerktest.User.Event).
func UserEvent(typ, clerkID, email, first, last string, updatedAt time.Time) []byte {
	return clerktest.User{ID: clerkID, Emails: clerktest.Emails(email), FirstName: first, LastName: last,
		ImageURL: "https://img.clerk.com/" + clerkID, UpdatedAt: updatedAt}.Event(typ)
}

// DeletedEvent builds a Clerk user.deleted body.
func DeletedEvent(clerkID string, at time.Time) []byte {
	b, _ := json.Marshal(map[string]any{"type": "user.deleted", "object": "event",
		"data": map[string]any{"id": clerkID, "deleted": true, "object": "user"}, "timestamp": at.UnixMilli()})
	return b
}

// WaitFor polls cond every 20 ms until it holds, and fails tb when it
// still does not after d.
func WaitFor(tb testing.TB, d time.Duration, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("condition not met after %s", d)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
