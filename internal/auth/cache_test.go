package auth_test

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/auth"
)

// countingVerifier accepts tokens starting with "ok" until a fixed expiry.
type countingVerifier struct {
	calls  atomic.Int64
	expiry time.Time
}

func (c *countingVerifier) Verify(_ context.Context, token string) (auth.Claims, error) {
	c.calls.Add(1)
	if len(token) >= 2 && token[:2] == "ok" {
		return auth.Claims{Subject: "user_" + token, Expiry: c.expiry}, nil
	}
	return auth.Claims{}, fmt.Errorf("%w: nope", auth.ErrInvalidToken)
}

func TestTokenCacheHitsSkipVerification(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	next := &countingVerifier{expiry: now.Add(time.Minute)}
	v := auth.NewCachedVerifier(next, 100, func() time.Time { return now })
	for i := 0; i < 5; i++ {
		c, err := v.Verify(context.Background(), "ok-a")
		if err != nil || c.Subject != "user_ok-a" {
			t.Fatalf("verify: %v %+v", err, c)
		}
	}
	if got := next.calls.Load(); got != 1 {
		t.Fatalf("wrapped verifier called %d times, want 1", got)
	}
}

func TestTokenCacheNeverOutlivesExp(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	clock := func() time.Time { return now }
	next := &countingVerifier{expiry: now.Add(time.Minute)}
	v := auth.NewCachedVerifier(next, 100, clock)
	if _, err := v.Verify(context.Background(), "ok-a"); err != nil {
		t.Fatal(err)
	}
	now = now.Add(time.Minute) // exactly exp: the entry is dead
	next.expiry = now          // and the wrapped verifier now says expired too
	if _, err := v.Verify(context.Background(), "ok-a"); err != nil {
		// countingVerifier still accepts; the point is that it was asked again
		t.Fatal(err)
	}
	if got := next.calls.Load(); got != 2 {
		t.Fatalf("expired entry served from cache: wrapped called %d times, want 2", got)
	}
}

func TestTokenCacheDoesNotCacheFailures(t *testing.T) {
	next := &countingVerifier{expiry: time.Now().Add(time.Minute)}
	v := auth.NewCachedVerifier(next, 100, nil)
	for i := 0; i < 3; i++ {
		if _, err := v.Verify(context.Background(), "bad"); !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("want ErrInvalidToken, got %v", err)
		}
	}
	if got := next.calls.Load(); got != 3 {
		t.Fatalf("failures cached: wrapped called %d times, want 3", got)
	}
}

func TestTokenCacheIsBounded(t *testing.T) {
	next := &countingVerifier{expiry: time.Now().Add(time.Hour)}
	v := auth.NewCachedVerifier(next, 64, nil).(*auth.CachedVerifier)
	for i := 0; i < 10_000; i++ {
		if _, err := v.Verify(context.Background(), fmt.Sprintf("ok-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.Len(); n > 64+16 { // per-shard rounding
		t.Fatalf("cache holds %d entries, bound is about 64", n)
	}
}

func TestTokenCacheOff(t *testing.T) {
	next := &countingVerifier{expiry: time.Now().Add(time.Hour)}
	v := auth.NewCachedVerifier(next, 0, nil)
	if v != auth.TokenVerifier(next) {
		t.Fatal("size 0 must return the wrapped verifier itself")
	}
}

func TestTokenCacheWithRealVerifier(t *testing.T) {
	k := mustKey()
	real, err := auth.NewVerifier(auth.Config{JWTKeyPEM: k.PublicPEM(), Leeway: 0})
	if err != nil {
		t.Fatal(err)
	}
	v := auth.NewCachedVerifier(real, 10, nil)
	o := validOpts()
	o.IssuedAt = time.Now()
	o.TTL = time.Minute
	tok := mint(t, k, o)
	c1, err := v.Verify(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	c2, err := v.Verify(context.Background(), tok)
	if err != nil || c1 != c2 {
		t.Fatalf("cached claims differ: %v %+v %+v", err, c1, c2)
	}
	// A tampered token (different hash) is verified, and refused.
	if _, err := v.Verify(context.Background(), tok[:len(tok)-2]+"AA"); !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("tampered token accepted: %v", err)
	}
}
