package auth_test

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/auth"
	"github.com/praxiom/praxiom-api/internal/devtoken"
)

const (
	testSecret = "sk_test_secret"
	devIssuer  = "http://localhost:8000/dev"
	webAZP     = "http://localhost:3000"
)

// Keys are generated once per test binary: RSA generation is slow under -race.
var (
	keyA     = sync.OnceValue(func() *devtoken.Key { return mustKey() })
	keyB     = sync.OnceValue(func() *devtoken.Key { return mustKey() })
	keyOther = sync.OnceValue(func() *devtoken.Key { return mustKey() })
)

func mustKey() *devtoken.Key {
	k, err := devtoken.Generate()
	if err != nil {
		panic(err)
	}
	return k
}

// t0 is the fixed "now" of the tests.
var t0 = time.Date(2026, 3, 27, 10, 30, 0, 0, time.UTC)

// clock is an injectable, manually advanced clock.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: t0} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// fakeClerk serves a JWKS at /v1/jwks and counts the requests it gets.
type fakeClerk struct {
	srv     *httptest.Server
	fetches atomic.Int64

	mu     sync.Mutex
	body   []byte
	status int
	gate   chan struct{} // when non-nil, requests wait for it to close
	auth   []string      // Authorization headers received
}

func newFakeClerk(t *testing.T, keys ...*devtoken.Key) *fakeClerk {
	t.Helper()
	f := &fakeClerk{}
	f.serve(keys...)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/jwks", func(w http.ResponseWriter, r *http.Request) {
		f.fetches.Add(1)
		f.mu.Lock()
		f.auth = append(f.auth, r.Header.Get("Authorization"))
		gate := f.gate
		f.mu.Unlock()
		if gate != nil {
			<-gate
		}
		f.mu.Lock()
		body, status := f.body, f.status
		f.mu.Unlock()
		if status != http.StatusOK {
			http.Error(w, `{"errors":[{"code":"internal","message":"down"}]}`, status)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	})
	f.srv = httptest.NewServer(mux)
	t.Cleanup(func() {
		f.open()
		f.srv.Close()
	})
	return f
}

// URL is the CLERK_API_URL of the fake.
func (f *fakeClerk) URL() string { return f.srv.URL + "/v1" }

func (f *fakeClerk) serve(keys ...*devtoken.Key) { f.serveRaw(devtoken.JWKSOf(keys...)) }

func (f *fakeClerk) serveRaw(body []byte) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.body, f.status = body, http.StatusOK
}

func (f *fakeClerk) fail(status int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.status = status
}

// hold makes requests block until open is called.
func (f *fakeClerk) hold() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.gate = make(chan struct{})
}

func (f *fakeClerk) open() {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.gate != nil {
		close(f.gate)
		f.gate = nil
	}
}

func (f *fakeClerk) authHeaders() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.auth...)
}

func jwksConfig(f *fakeClerk, clk *clock) auth.Config {
	return auth.Config{
		APIURL:    f.URL(),
		SecretKey: testSecret,
		Leeway:    5 * time.Second,
		Now:       clk.Now,
	}
}

func newJWKSVerifier(t *testing.T, f *fakeClerk, clk *clock, mod func(*auth.Config)) *auth.Verifier {
	t.Helper()
	cfg := jwksConfig(f, clk)
	if mod != nil {
		mod(&cfg)
	}
	v, err := auth.NewVerifier(cfg)
	if err != nil {
		t.Fatalf("NewVerifier: %v", err)
	}
	return v
}

func mint(t *testing.T, k *devtoken.Key, o devtoken.Options) string {
	t.Helper()
	if o.IssuedAt.IsZero() {
		o.IssuedAt = t0
	}
	tok, err := k.Mint(o)
	if err != nil {
		t.Fatalf("Mint: %v", err)
	}
	return tok
}

// validOpts are the claims of an ordinary session token at t0.
func validOpts() devtoken.Options {
	return devtoken.Options{
		Subject: "user_2abc", Issuer: devIssuer, AZP: webAZP,
		Email: "ada@example.com", Name: "Ada Lovelace",
	}
}

func randomKID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "ins_" + hex.EncodeToString(b)
}

func ptr[T any](v T) *T { return &v }
