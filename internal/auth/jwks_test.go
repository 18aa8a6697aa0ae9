package auth_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/auth"
	"github.com/praxiom/praxiom-api/internal/clerktest"
	"github.com/praxiom/praxiom-api/internal/devtoken"
)

func verifyOK(t *testing.T, v *auth.Verifier, tok string) {
	t.Helper()
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatalf("Verify: unexpected error %v", err)
	}
}

func verifyErr(t *testing.T, v *auth.Verifier, tok string, want error) {
	t.Helper()
	_, err := v.Verify(context.Background(), tok)
	if !errors.Is(err, want) {
		t.Fatalf("Verify: err = %v, want %v", err, want)
	}
}

func wantFetches(t *testing.T, f *clerktest.Server, want int64) {
	t.Helper()
	if got := f.JWKSFetches(); got != want {
		t.Fatalf("server saw %d JWKS fetches, want %d", got, want)
	}
}

// randomKidToken is signed by a key the JWKS does not hold, with a random kid.
func randomKidToken(t *testing.T) string {
	o := validOpts()
	o.KID = ptr(randomKID())
	return mint(t, keyOther(), o)
}

func TestJWKSRequestCarriesSecret(t *testing.T) {
	f := clerktest.New(t, keyA())
	v := newJWKSVerifier(t, f, newClock(), nil)
	verifyOK(t, v, mint(t, keyA(), validOpts()))
	got := f.AuthHeaders()
	if len(got) != 1 || got[0] != "Bearer "+clerktest.SecretKey {
		t.Fatalf("Authorization headers = %q, want [%q]", got, "Bearer "+clerktest.SecretKey)
	}
}

func TestUnknownKidFlood(t *testing.T) {
	f := clerktest.New(t, keyA())
	v := newJWKSVerifier(t, f, newClock(), nil)
	verifyOK(t, v, mint(t, keyA(), validOpts()))
	wantFetches(t, f, 1)

	toks := make([]string, 50)
	for i := range toks {
		toks[i] = randomKidToken(t)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(toks))
	for i, tok := range toks {
		wg.Go(func() { _, errs[i] = v.Verify(context.Background(), tok) })
	}
	wg.Wait()
	for i, err := range errs {
		if !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("token %d: err = %v, want ErrInvalidToken", i, err)
		}
	}
	if got := f.JWKSFetches(); got > 2 {
		t.Fatalf("50 concurrent random kids caused %d fetches, want at most 1 beyond the first", got-1)
	}

	// The same flood, one after the other, must not get through either.
	for range 50 {
		verifyErr(t, v, randomKidToken(t), auth.ErrInvalidToken)
	}
	if got := f.JWKSFetches(); got > 2 {
		t.Fatalf("100 random kids caused %d fetches, want at most 1 beyond the first", got-1)
	}
	// Known keys keep working throughout.
	verifyOK(t, v, mint(t, keyA(), validOpts()))
}

func TestUnknownKidPerKidLimit(t *testing.T) {
	f := clerktest.New(t, keyA())
	clk := newClock()
	v := newJWKSVerifier(t, f, clk, nil) // per kid 5m, global 1m
	verifyOK(t, v, mint(t, keyA(), validOpts()))
	wantFetches(t, f, 1)

	kidX := randomKID()
	tokX := func() string {
		o := validOpts()
		o.IssuedAt = clk.Now()
		o.KID = ptr(kidX)
		return mint(t, keyOther(), o)
	}
	verifyErr(t, v, tokX(), auth.ErrInvalidToken)
	wantFetches(t, f, 2) // first sight of kid X may refresh

	clk.Advance(2 * time.Minute) // global window over, per-kid window not
	verifyErr(t, v, tokX(), auth.ErrInvalidToken)
	wantFetches(t, f, 2)

	o := validOpts()
	o.IssuedAt = clk.Now()
	o.KID = ptr(randomKID())
	verifyErr(t, v, mint(t, keyOther(), o), auth.ErrInvalidToken)
	wantFetches(t, f, 3) // a new kid may

	clk.Advance(4 * time.Minute) // 6m since kid X last refreshed
	verifyErr(t, v, tokX(), auth.ErrInvalidToken)
	wantFetches(t, f, 4)
}

func TestUnknownKidGlobalLimitWindow(t *testing.T) {
	f := clerktest.New(t, keyA())
	clk := newClock()
	v := newJWKSVerifier(t, f, clk, nil)
	verifyOK(t, v, mint(t, keyA(), validOpts()))

	tok := func() string {
		o := validOpts()
		o.IssuedAt = clk.Now()
		o.KID = ptr(randomKID())
		return mint(t, keyOther(), o)
	}
	verifyErr(t, v, tok(), auth.ErrInvalidToken)
	wantFetches(t, f, 2)
	clk.Advance(59 * time.Second)
	verifyErr(t, v, tok(), auth.ErrInvalidToken)
	wantFetches(t, f, 2)
	clk.Advance(time.Second)
	verifyErr(t, v, tok(), auth.ErrInvalidToken)
	wantFetches(t, f, 3)
}

func TestTriedKidsMemoryIsBounded(t *testing.T) {
	f := clerktest.New(t, keyA())
	clk := newClock()
	v := newJWKSVerifier(t, f, clk, func(c *auth.Config) {
		c.UnknownKidGlobal = time.Nanosecond
		c.UnknownKidPerKid = time.Hour
		c.KeyTTL = 24 * time.Hour
	})
	auth.SetMaxTriedKids(v, 5)
	verifyOK(t, v, mint(t, keyA(), validOpts()))

	var first string
	for i := range 20 {
		clk.Advance(time.Second)
		o := validOpts()
		o.IssuedAt = clk.Now()
		kid := randomKID()
		if i == 0 {
			first = kid
		}
		o.KID = ptr(kid)
		verifyErr(t, v, mint(t, keyOther(), o), auth.ErrInvalidToken)
	}
	wantFetches(t, f, 21)
	if n := auth.TriedKids(v); n != 5 {
		t.Fatalf("remembered %d kids, want the cap of 5", n)
	}
	// The oldest kid was forgotten, so it may refresh again.
	clk.Advance(time.Second)
	o := validOpts()
	o.IssuedAt = clk.Now()
	o.KID = ptr(first)
	verifyErr(t, v, mint(t, keyOther(), o), auth.ErrInvalidToken)
	wantFetches(t, f, 22)
}

func TestKeyRotation(t *testing.T) {
	f := clerktest.New(t, keyA())
	v := newJWKSVerifier(t, f, newClock(), nil)
	verifyOK(t, v, mint(t, keyA(), validOpts()))
	wantFetches(t, f, 1)

	f.SetKeys(keyA(), keyB())
	verifyOK(t, v, mint(t, keyB(), validOpts()))
	wantFetches(t, f, 2)
	verifyOK(t, v, mint(t, keyA(), validOpts()))
	verifyOK(t, v, mint(t, keyB(), validOpts()))
	wantFetches(t, f, 2)
}

func TestJWKSDown(t *testing.T) {
	t.Run("cached kid keeps verifying", func(t *testing.T) {
		f := clerktest.New(t, keyA())
		clk := newClock()
		var logs bytes.Buffer
		var hookMu sync.Mutex
		var hook []bool
		v := newJWKSVerifier(t, f, clk, func(c *auth.Config) {
			c.Logger = slog.New(slog.NewTextHandler(&syncWriter{w: &logs}, nil))
			c.OnJWKSFetch = func(ok bool) {
				hookMu.Lock()
				defer hookMu.Unlock()
				hook = append(hook, ok)
			}
		})
		tokA := func() string {
			o := validOpts()
			o.IssuedAt = clk.Now()
			return mint(t, keyA(), o)
		}
		verifyOK(t, v, tokA())
		f.SetJWKSStatus(http.StatusInternalServerError)

		verifyOK(t, v, tokA()) // within the TTL: no fetch at all
		wantFetches(t, f, 1)

		clk.Advance(61 * time.Minute) // TTL over: refresh fails, last good keys stay
		verifyOK(t, v, tokA())
		wantFetches(t, f, 2)
		verifyOK(t, v, tokA()) // failed refreshes are spaced out
		wantFetches(t, f, 2)

		// An unknown kid while Clerk is down is still just an invalid token.
		clk.Advance(2 * time.Minute)
		o := validOpts()
		o.IssuedAt = clk.Now()
		o.KID = ptr(randomKID())
		verifyErr(t, v, mint(t, keyOther(), o), auth.ErrInvalidToken)
		wantFetches(t, f, 3)

		f.SetKeys(keyA())
		clk.Advance(time.Minute)
		verifyOK(t, v, tokA())
		wantFetches(t, f, 4)
		clk.Advance(time.Minute)
		verifyOK(t, v, tokA()) // fresh again: no fetch
		wantFetches(t, f, 4)

		hookMu.Lock()
		defer hookMu.Unlock()
		if want := []bool{true, false, false, true}; !equalBools(hook, want) {
			t.Errorf("OnJWKSFetch calls = %v, want %v", hook, want)
		}
		if !strings.Contains(logs.String(), "keeping the last good keys") {
			t.Errorf("no warning logged; logs: %s", logs.String())
		}
		if strings.Contains(logs.String(), clerktest.SecretKey) {
			t.Errorf("logs contain the secret key: %s", logs.String())
		}
	})

	t.Run("fresh verifier answers unavailable", func(t *testing.T) {
		f := clerktest.New(t, keyA())
		f.SetJWKSStatus(http.StatusInternalServerError)
		v := newJWKSVerifier(t, f, newClock(), nil)
		tok := mint(t, keyA(), validOpts())
		verifyErr(t, v, tok, auth.ErrUnavailable)
		_, err := v.Verify(context.Background(), tok)
		if errors.Is(err, auth.ErrInvalidToken) {
			t.Errorf("err = %v also wraps ErrInvalidToken", err)
		}
		// A cache without keys may always fetch.
		wantFetches(t, f, 2)

		f.SetKeys(keyA())
		verifyOK(t, v, tok)
		wantFetches(t, f, 3)
	})

	t.Run("unreachable endpoint answers unavailable", func(t *testing.T) {
		f := clerktest.New(t, keyA())
		url := f.URL()
		f.Close()
		v, err := auth.NewVerifier(auth.Config{APIURL: url, SecretKey: clerktest.SecretKey, Now: newClock().Now})
		if err != nil {
			t.Fatal(err)
		}
		verifyErr(t, v, mint(t, keyA(), validOpts()), auth.ErrUnavailable)
	})
}

type syncWriter struct {
	mu sync.Mutex
	w  *bytes.Buffer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

func equalBools(a, b []bool) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestKeyTTL(t *testing.T) {
	f := clerktest.New(t, keyA())
	clk := newClock()
	v := newJWKSVerifier(t, f, clk, nil)
	tok := func(k *devtoken.Key) string {
		o := validOpts()
		o.IssuedAt = clk.Now()
		return mint(t, k, o)
	}
	verifyOK(t, v, tok(keyA()))
	wantFetches(t, f, 1)

	clk.Advance(30 * time.Minute)
	verifyOK(t, v, tok(keyA()))
	wantFetches(t, f, 1)

	clk.Advance(31 * time.Minute) // 61m after the fetch
	verifyOK(t, v, tok(keyA()))
	wantFetches(t, f, 2)

	// A key that Clerk stopped serving dies with the next TTL refresh.
	f.SetKeys(keyB())
	clk.Advance(61 * time.Minute)
	verifyErr(t, v, tok(keyA()), auth.ErrInvalidToken)
	wantFetches(t, f, 3)
	verifyOK(t, v, tok(keyB()))
	wantFetches(t, f, 3)
}

func TestColdCacheSingleflight(t *testing.T) {
	f := clerktest.New(t, keyA())
	f.HoldJWKS()
	v := newJWKSVerifier(t, f, newClock(), nil)
	tok := mint(t, keyA(), validOpts())

	const n = 20
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = v.Verify(context.Background(), tok) })
	}
	deadline := time.Now().Add(5 * time.Second)
	for f.JWKSFetches() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond) // let the other callers pile up
	f.OpenJWKS()
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	wantFetches(t, f, 1)
}

func TestWaitingCallerHonoursContext(t *testing.T) {
	f := clerktest.New(t, keyA())
	f.HoldJWKS()
	v := newJWKSVerifier(t, f, newClock(), nil)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := v.Verify(ctx, mint(t, keyA(), validOpts()))
	if !errors.Is(err, auth.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want ErrUnavailable and DeadlineExceeded", err)
	}
	// The fetch itself was not cancelled with the caller: once Clerk
	// answers, the keys are cached.
	f.OpenJWKS()
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := v.Verify(context.Background(), mint(t, keyA(), validOpts())); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("keys never became available")
		}
		time.Sleep(5 * time.Millisecond)
	}
	wantFetches(t, f, 1)
}

func TestJWKSKeyFiltering(t *testing.T) {
	// kid "no-alg": A's key without alg; kid "hs": an HMAC key; B proper.
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(devtoken.JWKSOf(keyA(), keyB()), &set); err != nil {
		t.Fatal(err)
	}
	noAlg := set.Keys[0]
	delete(noAlg, "alg")
	noAlg["kid"] = "no-alg"
	encKey := map[string]any{}
	for k, val := range set.Keys[0] {
		encKey[k] = val
	}
	encKey["kid"], encKey["alg"], encKey["use"] = "enc", "RS256", "enc"
	hs := map[string]any{"kty": "oct", "kid": "hs", "alg": "RS256", "k": "c2VjcmV0"}
	set.Keys = append(set.Keys, encKey, hs)
	body, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}

	f := clerktest.New(t)
	f.SetJWKSBody(body)
	v := newJWKSVerifier(t, f, newClock(), nil)
	verifyOK(t, v, mint(t, keyB(), validOpts()))
	for _, kid := range []string{"no-alg", "enc", "hs"} {
		o := validOpts()
		o.KID = ptr(kid)
		verifyErr(t, v, mint(t, keyA(), o), auth.ErrInvalidToken)
	}

	t.Run("no usable key at all is unavailable", func(t *testing.T) {
		f := clerktest.New(t)
		f.SetJWKSBody([]byte(`{"keys":[]}`))
		v := newJWKSVerifier(t, f, newClock(), nil)
		verifyErr(t, v, mint(t, keyA(), validOpts()), auth.ErrUnavailable)
	})
}

func TestConcurrentVerifyMixed(t *testing.T) {
	f := clerktest.New(t, keyA(), keyB())
	clk := newClock()
	v := newJWKSVerifier(t, f, clk, func(c *auth.Config) { c.KeyTTL = time.Second })
	good := []string{mint(t, keyA(), validOpts()), mint(t, keyB(), validOpts())}
	bad := randomKidToken(t)
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Go(func() {
			if i%10 == 0 {
				clk.Advance(100 * time.Millisecond)
			}
			if i%3 == 0 {
				if _, err := v.Verify(context.Background(), bad); !errors.Is(err, auth.ErrInvalidToken) {
					t.Errorf("bad token: %v", err)
				}
				return
			}
			if _, err := v.Verify(context.Background(), good[i%2]); err != nil {
				t.Errorf("good token: %v", err)
			}
		})
	}
	wg.Wait()
}

// TestKeyRotationBurst: many requests with a freshly rotated kid arrive
// while the refresh it caused is still running; they wait for that refresh
// instead of being turned away by the unknown-kid limits.
func TestKeyRotationBurst(t *testing.T) {
	f := clerktest.New(t, keyA())
	v := newJWKSVerifier(t, f, newClock(), nil)
	verifyOK(t, v, mint(t, keyA(), validOpts()))
	wantFetches(t, f, 1)

	f.SetKeys(keyA(), keyB())
	f.HoldJWKS()
	tokB := mint(t, keyB(), validOpts())
	first := make(chan error, 1)
	go func() {
		_, err := v.Verify(context.Background(), tokB)
		first <- err
	}()
	deadline := time.Now().Add(5 * time.Second)
	for f.JWKSFetches() < 2 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}

	const n = 10
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { _, errs[i] = v.Verify(context.Background(), tokB) })
	}
	time.Sleep(50 * time.Millisecond) // let them reach the cache
	f.OpenJWKS()
	wg.Wait()
	if err := <-first; err != nil {
		t.Fatalf("first caller: %v", err)
	}
	for i, err := range errs {
		if err != nil {
			t.Fatalf("caller %d: %v", i, err)
		}
	}
	wantFetches(t, f, 2)
}
