package auth_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

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
	clk := newClock()
	next := &countingVerifier{expiry: t0.Add(time.Minute)}
	v := auth.NewCachedVerifier(next, 100, clk.Now)
	var hits []bool
	v.Observe = func(hit bool) { hits = append(hits, hit) }
	for i := 0; i < 5; i++ {
		c, err := v.Verify(context.Background(), "ok-a")
		if err != nil || c.Subject != "user_ok-a" {
			t.Fatalf("verify: %v %+v", err, c)
		}
	}
	if got := next.calls.Load(); got != 1 {
		t.Fatalf("wrapped verifier called %d times, want 1", got)
	}
	if want := []bool{false, true, true, true, true}; !equalBools(hits, want) {
		t.Errorf("Observe saw %v, want %v", hits, want)
	}
}

func TestTokenCacheNeverOutlivesExp(t *testing.T) {
	clk := newClock()
	next := &countingVerifier{expiry: t0.Add(time.Minute)}
	v := auth.NewCachedVerifier(next, 100, clk.Now)
	if _, err := v.Verify(context.Background(), "ok-a"); err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Minute - time.Nanosecond) // just before exp: still cached
	if _, err := v.Verify(context.Background(), "ok-a"); err != nil {
		t.Fatal(err)
	}
	if got := next.calls.Load(); got != 1 {
		t.Fatalf("live entry not served from cache: wrapped called %d times, want 1", got)
	}
	next.expiry = clk.Advance(time.Nanosecond) // exactly exp: the entry is dead
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
	v := auth.NewCachedVerifier(next, 64, nil)
	for i := 0; i < 10_000; i++ {
		if _, err := v.Verify(context.Background(), fmt.Sprintf("ok-%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	if n := v.Len(); n > 64+16 { // per-shard rounding
		t.Fatalf("cache holds %d entries, bound is about 64", n)
	}
}

// TestTokenCacheKeepsShortTokensOnly: a token longer than 4 KiB (Clerk's
// stay within a cookie's 4 KB) is verified every time and never kept, so
// the cache holds at most 4 KiB of tokens per entry; one of 4 KiB is
// cached.
func TestTokenCacheKeepsShortTokensOnly(t *testing.T) {
	next := &countingVerifier{expiry: time.Now().Add(time.Hour)}
	v := auth.NewCachedVerifier(next, 100, nil)
	long := "ok" + strings.Repeat("a", 4<<10-1)
	for range 3 {
		if _, err := v.Verify(context.Background(), long); err != nil {
			t.Fatal(err)
		}
	}
	if got := next.calls.Load(); got != 3 || v.Len() != 0 {
		t.Fatalf("a %d-byte token: wrapped called %d times, %d entries; want 3 calls, none kept", len(long), got, v.Len())
	}
	atLimit := long[:4<<10]
	for range 3 {
		if _, err := v.Verify(context.Background(), atLimit); err != nil {
			t.Fatal(err)
		}
	}
	if got := next.calls.Load(); got != 4 || v.Len() != 1 {
		t.Fatalf("a 4 KiB token: wrapped called %d times in all, %d entries; want 4 calls, 1 kept", got, v.Len())
	}
}

func TestTokenCacheOff(t *testing.T) {
	for _, size := range []int{0, -1} {
		next := &countingVerifier{expiry: time.Now().Add(time.Hour)}
		v := auth.NewCachedVerifier(next, size, nil)
		observed := 0
		v.Observe = func(bool) { observed++ }
		for range 3 {
			c, err := v.Verify(context.Background(), "ok-a")
			if err != nil || c.Subject != "user_ok-a" {
				t.Fatalf("size %d: verify: %v %+v", size, err, c)
			}
		}
		if _, err := v.Verify(context.Background(), "bad"); !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("size %d: bad token: %v", size, err)
		}
		if got := next.calls.Load(); got != 4 {
			t.Errorf("size %d: wrapped verifier called %d times, want every call (4)", size, got)
		}
		if v.Len() != 0 || observed != 0 {
			t.Errorf("size %d: Len = %d, Observe calls = %d; want 0, 0", size, v.Len(), observed)
		}
	}
}

// TestTokenVerifierImplementations pins the one interface the HTTP layer
// uses: both verifiers satisfy it.
func TestTokenVerifierImplementations(t *testing.T) {
	var _ auth.TokenVerifier = (*auth.Verifier)(nil)
	var _ auth.TokenVerifier = (*auth.CachedVerifier)(nil)
}

// TestTokenCachePendingNotCached: a refused token (a pending session
// included) is asked about again every time.
func TestTokenCachePendingNotCached(t *testing.T) {
	real, err := auth.NewVerifier(auth.Config{JWTKeyPEM: keyA().PublicPEM(), Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	v := auth.NewCachedVerifier(real, 10, newClock().Now)
	o := validOpts()
	o.Status = "pending"
	tok := mint(t, keyA(), o)
	for range 2 {
		if _, err := v.Verify(context.Background(), tok); !errors.Is(err, auth.ErrPendingSession) {
			t.Fatalf("err = %v, want ErrPendingSession", err)
		}
	}
	if v.Len() != 0 {
		t.Fatalf("cache holds %d entries after refusals", v.Len())
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
	// A hit needs the very token: one changed byte anywhere (the header,
	// the claims, the signature's first or last byte), a byte cut off or
	// one added is verified again, and refused.
	for _, bad := range []string{
		"X" + tok[1:],
		tok[:len(tok)/2] + string(tok[len(tok)/2]^1) + tok[len(tok)/2+1:],
		tok[:strings.LastIndexByte(tok, '.')+1] + string(tok[strings.LastIndexByte(tok, '.')+1]^1) + tok[strings.LastIndexByte(tok, '.')+2:],
		tok[:len(tok)-2] + "AA",
		tok[:len(tok)-1],
		tok + "A",
	} {
		if bad == tok {
			t.Fatalf("the tampering left the token as it was")
		}
		if _, err := v.Verify(context.Background(), bad); !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("tampered token %q…%q accepted: %v", bad[:8], bad[len(bad)-8:], err)
		}
	}
	if v.Len() != 1 {
		t.Fatalf("cache holds %d entries, want the one valid token", v.Len())
	}
}

// TestTokenCacheKeepsItsOwnCopy: the cache's key is a copy, so a caller
// that reuses the token's bytes (a string cut from a buffer) changes no
// entry, and the entry does not pin the buffer.
func TestTokenCacheKeepsItsOwnCopy(t *testing.T) {
	clk := newClock()
	next := &countingVerifier{expiry: t0.Add(time.Minute)}
	v := auth.NewCachedVerifier(next, 100, clk.Now)
	buf := []byte("ok-aaaa")
	tok := unsafe.String(&buf[0], len(buf)) // aliases buf, as a cut string may
	if _, err := v.Verify(context.Background(), tok); err != nil {
		t.Fatal(err)
	}
	copy(buf, "ok-bbbb") // the bytes the first call saw are gone
	if _, err := v.Verify(context.Background(), "ok-aaaa"); err != nil {
		t.Fatal(err)
	}
	if got := next.calls.Load(); got != 1 {
		t.Fatalf("the entry changed with its caller's bytes: wrapped called %d times, want 1", got)
	}
}
