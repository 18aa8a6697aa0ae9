package auth

import (
	"container/list"
	"context"
	"crypto/rsa"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/jwks"
	"golang.org/x/sync/singleflight"
)

const (
	// defaultMaxTriedKids caps how many unknown kids are remembered for the
	// per-kid refresh limit; the oldest are forgotten first.
	defaultMaxTriedKids = 10_000
	// staleRetryInterval spaces out refresh attempts of an expired (but
	// non-empty) key set while the JWKS endpoint keeps failing, so an outage
	// does not turn every request into a fetch.
	staleRetryInterval = 30 * time.Second
	// fetchTimeout bounds one JWKS fetch even when the HTTP client has no
	// timeout of its own.
	fetchTimeout = 10 * time.Second
	// maxErrLen bounds fetch errors in logs (the SDK puts raw response
	// bodies into its errors).
	maxErrLen = 200
)

type keyCacheConfig struct {
	apiURL, secret string
	httpClient     *http.Client
	now            func() time.Time
	ttl            time.Duration
	perKid         time.Duration
	global         time.Duration
	logger         *slog.Logger
	onFetch        func(ok bool) // may be nil
}

// keyCache holds the JWKS keys by kid. All fields below mu are guarded by it.
type keyCache struct {
	cfg    keyCacheConfig
	client *jwks.Client
	sf     singleflight.Group

	mu sync.Mutex
	// keys are the usable (RSA, RS256) keys of the last good fetch.
	keys map[string]*clerk.JSONWebKey
	// fetchedAt is when keys were fetched; zero before the first success.
	fetchedAt time.Time
	// lastFailure is when the last fetch attempt failed (zero after success).
	lastFailure time.Time
	// fetching is true while a fetch started through start is running;
	// callers that may not start one can still wait for it.
	fetching bool
	// lastUnknownRefresh is when a refresh caused by an unknown kid started.
	lastUnknownRefresh time.Time
	// tried remembers when each unknown kid last caused a refresh, oldest
	// first, bounded by maxTried.
	tried    map[string]*list.Element
	triedLRU *list.List
	maxTried int
}

type triedKid struct {
	kid string
	at  time.Time
}

func newKeyCache(cfg keyCacheConfig) *keyCache {
	apiURL, secret := cfg.apiURL, cfg.secret
	return &keyCache{
		cfg: cfg,
		client: jwks.NewClient(&clerk.ClientConfig{BackendConfig: clerk.BackendConfig{
			URL:        &apiURL,
			Key:        &secret,
			HTTPClient: cfg.httpClient,
		}}),
		tried:    make(map[string]*list.Element),
		triedLRU: list.New(),
		maxTried: defaultMaxTriedKids,
	}
}

// get returns the key for kid, refreshing the set when it is empty, older
// than the TTL, or (within the unknown-kid limits) does not hold kid.
func (c *keyCache) get(ctx context.Context, kid string) (*clerk.JSONWebKey, error) {
	c.mu.Lock()
	now := c.cfg.now()
	var wait <-chan singleflight.Result
	switch {
	case len(c.keys) == 0:
		// Nothing usable yet: always fetch (or join the running fetch).
		wait = c.startLocked(ctx)
	case now.Sub(c.fetchedAt) >= c.cfg.ttl:
		// Expired set: refresh, unless a recent attempt failed; then keep
		// using the last good keys until staleRetryInterval has passed.
		if c.fetching || c.lastFailure.IsZero() || now.Sub(c.lastFailure) >= staleRetryInterval {
			wait = c.startLocked(ctx)
		}
	default:
		if k, ok := c.keys[kid]; ok {
			c.mu.Unlock()
			return k, nil
		}
		switch {
		case c.fetching:
			// A refresh is under way anyway: wait for it for free.
			wait = c.startLocked(ctx)
		case c.unknownRefreshAllowedLocked(kid, now):
			c.lastUnknownRefresh = now
			c.rememberLocked(kid, now)
			wait = c.startLocked(ctx)
		default:
			c.mu.Unlock()
			return nil, invalid("unknown kid (refresh rate-limited)")
		}
	}
	c.mu.Unlock()

	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
		}
	}

	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.keys) == 0 {
		if c.fetchedAt.IsZero() {
			return nil, fmt.Errorf("%w: fetch failed", ErrUnavailable)
		}
		return nil, fmt.Errorf("%w: key set holds no usable RS256 key", ErrUnavailable)
	}
	if k, ok := c.keys[kid]; ok {
		return k, nil
	}
	return nil, invalid("unknown kid")
}

// unknownRefreshAllowedLocked applies the per-kid and global limits.
func (c *keyCache) unknownRefreshAllowedLocked(kid string, now time.Time) bool {
	if !c.lastUnknownRefresh.IsZero() && now.Sub(c.lastUnknownRefresh) < c.cfg.global {
		return false
	}
	if el, ok := c.tried[kid]; ok && now.Sub(el.Value.(*triedKid).at) < c.cfg.perKid {
		return false
	}
	return true
}

// rememberLocked records that kid caused a refresh at now, evicting the
// oldest entries beyond maxTried.
func (c *keyCache) rememberLocked(kid string, now time.Time) {
	if el, ok := c.tried[kid]; ok {
		el.Value.(*triedKid).at = now
		c.triedLRU.MoveToBack(el)
	} else {
		c.tried[kid] = c.triedLRU.PushBack(&triedKid{kid: kid, at: now})
	}
	for c.triedLRU.Len() > c.maxTried {
		oldest := c.triedLRU.Front()
		c.triedLRU.Remove(oldest)
		delete(c.tried, oldest.Value.(*triedKid).kid)
	}
}

// startLocked starts a fetch, or joins the one in flight, and returns a
// channel that yields once the fetch has stored its result. Only one fetch
// runs at a time. The fetch stores its result, clears c.fetching and makes
// the singleflight group forget the call in one critical section under mu,
// so a caller that saw fetching joins exactly that call, and a caller that
// comes later starts a new one instead of joining a finished call. A fetch
// started here runs with ctx's values (the trace span of the request that
// caused it, so the fetch is traced under it) but not its cancellation.
func (c *keyCache) startLocked(ctx context.Context) <-chan singleflight.Result {
	c.fetching = true
	fetchCtx := context.WithoutCancel(ctx)
	return c.sf.DoChan("jwks", func() (any, error) {
		keys, err := c.fetch(fetchCtx)
		c.mu.Lock()
		defer c.mu.Unlock()
		c.fetching = false
		c.sf.Forget("jwks")
		now := c.cfg.now()
		if err != nil {
			c.lastFailure = now
			if len(c.keys) > 0 {
				c.cfg.logger.Warn("auth: JWKS refresh failed; keeping the last good keys",
					"error", truncate(err.Error()), "cached_keys", len(c.keys))
			} else {
				c.cfg.logger.Warn("auth: JWKS fetch failed; no keys cached",
					"error", truncate(err.Error()))
			}
			return nil, err
		}
		c.keys = keys
		c.fetchedAt = now
		c.lastFailure = time.Time{}
		return nil, nil
	})
}

// fetch downloads the key set. ctx carries no cancellation of a caller's,
// so one caller giving up does not fail the fetch for everybody waiting on
// it; fetchTimeout bounds it.
func (c *keyCache) fetch(ctx context.Context) (map[string]*clerk.JSONWebKey, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	set, err := c.client.Get(ctx, &jwks.GetParams{})
	if err == nil && set == nil {
		err = fmt.Errorf("empty response")
	}
	if c.cfg.onFetch != nil {
		c.cfg.onFetch(err == nil)
	}
	if err != nil {
		return nil, fmt.Errorf("auth: fetch JWKS: %w", err)
	}
	keys := make(map[string]*clerk.JSONWebKey, len(set.Keys))
	for _, k := range set.Keys {
		if k == nil || k.KeyID == "" || k.Algorithm != algRS256 {
			continue
		}
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if _, ok := k.Key.(*rsa.PublicKey); !ok {
			continue
		}
		keys[k.KeyID] = k
	}
	return keys, nil
}

func truncate(s string) string {
	if len(s) > maxErrLen {
		return s[:maxErrLen] + "…"
	}
	return s
}
