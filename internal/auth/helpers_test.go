package auth_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/auth"
	"github.com/praxiom/praxiom-api/internal/clerktest"
	"github.com/praxiom/praxiom-api/internal/clocktest"
	"github.com/praxiom/praxiom-api/internal/devtoken"
)

const (
	devIssuer = "http://localhost:8000/dev"
	webAZP    = "http://localhost:3000"
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

// newClock returns a fake clock standing at t0.
func newClock() *clocktest.Clock { return clocktest.New(t0) }

func jwksConfig(f *clerktest.Server, clk *clocktest.Clock) auth.Config {
	return auth.Config{
		APIURL:    f.URL(),
		SecretKey: clerktest.SecretKey,
		Leeway:    5 * time.Second,
		Now:       clk.Now,
	}
}

func newJWKSVerifier(t *testing.T, f *clerktest.Server, clk *clocktest.Clock, mod func(*auth.Config)) *auth.Verifier {
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

// fetchCounter counts fetch attempts through Config.OnJWKSFetch.
type fetchCounter struct{ n atomic.Int64 }

func (c *fetchCounter) hook(cfg *auth.Config) { cfg.OnJWKSFetch = func(bool) { c.n.Add(1) } }

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

// signRaw signs header and payload, given as raw JSON, with k: for tokens
// Mint never makes (duplicate keys, odd headers), with a valid signature.
func signRaw(t *testing.T, k *devtoken.Key, header, payload string) string {
	t.Helper()
	enc := base64.RawURLEncoding.EncodeToString
	return signSegments(t, k, enc([]byte(header)), enc([]byte(payload)))
}

// signSegments signs the two base64url segments exactly as given.
func signSegments(t *testing.T, k *devtoken.Key, header, payload string) string {
	t.Helper()
	tok, err := k.SignCompact(header, payload)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func randomKID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b)
	return "ins_" + hex.EncodeToString(b)
}

func ptr[T any](v T) *T { return &v }
