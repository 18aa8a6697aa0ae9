package auth

import (
	"context"
	"hash/maphash"
	"strings"
	"sync"
	"time"
)

// CachedVerifier remembers successful verifications so a client that sends
// the same token again (a browser does, for up to a minute) skips the RS256
// check. Entries are keyed by the token itself, bounded in number, and never
// outlive the token's exp: the expiry is re-checked on every hit, so a
// token is held no longer than it could be used anyway. Only successes are
// cached. It caches the signature check, not the user's state: suspension
// and deletion are read from the database on every request.
//
// The key is the whole token, compared byte for byte: a hit needs the very
// token that was verified, and no cryptographic hash of it is computed per
// request (docs/performance.md). A look-up hashes it twice with the
// runtime's fast hash, once to pick the shard (maphash) and once in the
// shard's map. Both hashes are seeded at random per process, so a client
// can neither choose which entries its token is compared with nor crowd
// one bucket. Only tokens of up to maxCachedToken bytes are kept, which
// bounds the cache's memory.
type CachedVerifier struct {
	// Observe, when set before use, sees every look-up (metrics); a
	// CachedVerifier that does not cache makes none.
	Observe func(hit bool)

	next   TokenVerifier
	now    func() time.Time
	shards [cacheShards]cacheShard
	seed   maphash.Seed // picks a token's shard
	perCap int          // 0: no caching, every call goes to next
}

const cacheShards = 16

// maxCachedToken is the longest token cached: Clerk keeps a session token
// within a cookie's 4 KB, so a longer one (up to MaxTokenLength) is rare,
// and is verified every time. The cache then holds at most 4 KiB of tokens
// per entry.
const maxCachedToken = 4 << 10

type cacheShard struct {
	mu    sync.Mutex
	items map[string]Claims
	// ring holds the keys in insertion order; the oldest is evicted first.
	ring []string
	next int
}

// NewCachedVerifier wraps next with a cache of at most size entries
// (rounded up to a multiple of 16). With a size of 0 or less
// (TOKEN_CACHE_SIZE=0) it caches nothing: every Verify goes straight to next.
// now is the clock; nil means time.Now.
func NewCachedVerifier(next TokenVerifier, size int, now func() time.Time) *CachedVerifier {
	if now == nil {
		now = time.Now
	}
	if size <= 0 {
		return &CachedVerifier{next: next, now: now}
	}
	per := (size + cacheShards - 1) / cacheShards
	c := &CachedVerifier{next: next, now: now, seed: maphash.MakeSeed(), perCap: per}
	for i := range c.shards {
		c.shards[i].items = make(map[string]Claims, per)
	}
	return c
}

// Verify answers from the cache when the token was verified before and has
// not expired, else verifies it with the wrapped verifier and caches a
// success. Its errors are the wrapped verifier's (ErrInvalidToken,
// ErrPendingSession, ErrUnavailable).
func (c *CachedVerifier) Verify(ctx context.Context, token string) (Claims, error) {
	if c.perCap == 0 || len(token) > maxCachedToken || token == "" {
		return c.next.Verify(ctx, token)
	}
	sh := &c.shards[maphash.String(c.seed, token)%cacheShards]
	now := c.now()
	sh.mu.Lock()
	claims, ok := sh.items[token]
	if ok && !now.Before(claims.Expiry) {
		delete(sh.items, token) // expired: its ring slot is reused later
		ok = false
	}
	sh.mu.Unlock()
	if c.Observe != nil {
		c.Observe(ok)
	}
	if ok {
		return claims, nil
	}
	claims, err := c.next.Verify(ctx, token)
	if err != nil || claims.Expiry.IsZero() || !now.Before(claims.Expiry) {
		return claims, err
	}
	// A copy of its own, so that the entry keeps the token alive and not
	// whatever string it was cut from (the Authorization header's value).
	key := strings.Clone(token)
	sh.mu.Lock()
	if _, exists := sh.items[key]; !exists {
		if len(sh.ring) < c.perCap {
			sh.ring = append(sh.ring, key)
		} else {
			delete(sh.items, sh.ring[sh.next])
			sh.ring[sh.next] = key
			sh.next = (sh.next + 1) % c.perCap
		}
	}
	sh.items[key] = claims
	sh.mu.Unlock()
	return claims, nil
}

// Len returns the number of cached entries (tests).
func (c *CachedVerifier) Len() int {
	n := 0
	for i := range c.shards {
		c.shards[i].mu.Lock()
		n += len(c.shards[i].items)
		c.shards[i].mu.Unlock()
	}
	return n
}
