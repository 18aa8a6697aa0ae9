// Package ratelimit counts requests per key and minute: in memory with
// go-chi/httprate's sliding-window counter by default, or in Redis (GCRA,
// go-redis/redis_rate) so that several instances share one budget.
package ratelimit

import (
	"context"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-chi/httprate"
	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Window is the period every limit counts over.
const Window = time.Minute

// Result is one decision.
type Result struct {
	Allowed   bool
	Limit     int
	Remaining int
	// Reset is when the budget is whole again.
	Reset time.Time
	// RetryAfter is how long a refused caller should wait.
	RetryAfter time.Duration
}

// Limiter decides whether one more request under key fits limit per minute.
type Limiter interface {
	Allow(ctx context.Context, key string, limit int) (Result, error)
}

// Local is an in-process sliding-window limiter (httprate's counter).
type Local struct {
	mu      sync.Mutex
	counter httprate.LimitCounter
	now     func() time.Time
}

// NewLocal returns an in-memory limiter; now may be nil (time.Now).
func NewLocal(now func() time.Time) *Local {
	if now == nil {
		now = time.Now
	}
	return &Local{counter: httprate.NewLocalLimitCounter(Window), now: now}
}

// Allow counts one request under key when it fits limit per minute. The
// rate is httprate's: this window's count plus the previous window's,
// weighted by how much of it still overlaps the last minute.
func (l *Local) Allow(_ context.Context, key string, limit int) (Result, error) {
	now := l.now().UTC()
	cur := now.Truncate(Window)
	prev := cur.Add(-Window)
	elapsed := now.Sub(cur)
	l.mu.Lock()
	defer l.mu.Unlock()
	c, p, err := l.counter.Get(key, cur, prev)
	if err != nil {
		return Result{}, err
	}
	weight := float64(Window-elapsed) / float64(Window)
	rate := float64(p)*weight + float64(c)
	res := Result{Limit: limit, Reset: cur.Add(Window)}
	if int(math.Ceil(rate))+1 > limit {
		res.RetryAfter = retryAfter(c, p, limit, elapsed)
		// A caller who waits for Reset must find room for one more.
		if at := now.Add(res.RetryAfter); at.After(res.Reset) {
			res.Reset = at
		}
		return res, nil
	}
	if err := l.counter.IncrementBy(key, cur, 1); err != nil {
		return Result{}, err
	}
	res.Allowed = true
	res.Remaining = max(0, limit-int(math.Ceil(rate))-1)
	return res, nil
}

// retryAfter is the time until one more request fits: when the previous
// window's share has decayed enough, or when this window ends; when this
// window alone is full, its count carries into the next window at full
// weight, so one more fits only once that share has decayed too.
func retryAfter(c, p, limit int, elapsed time.Duration) time.Duration {
	untilEnd := Window - elapsed
	if c+1 > limit || p == 0 {
		if c == 0 {
			return untilEnd
		}
		// Next window: c*(W-d)/W + 1 <= limit, i.e. d >= W*(1-(limit-1)/c).
		// Rounded up, so that waiting this long is always enough.
		n := int64(c - limit + 1)
		return untilEnd + time.Duration((int64(Window)*n+int64(c)-1)/int64(c))
	}
	// Need p*(W-d)/W + c + 1 <= limit, i.e. d >= W*(1-(limit-c-1)/p).
	need := time.Duration(float64(Window) * (1 - float64(limit-c-1)/float64(p)))
	if wait := need - elapsed; wait > 0 && wait < untilEnd {
		return wait
	}
	return untilEnd
}

// Redis shares the budget of every instance through Redis. When Redis does
// not answer it falls back to a per-instance Local limiter (fail open to
// local limits: an outage of the rate limiter must not take the API down),
// logs a warning at most once a minute and counts the fallbacks. After a
// failure it stops asking Redis for a few seconds (a circuit breaker), so an
// outage does not add a time-out to every request.
type Redis struct {
	limiter   *redis_rate.Limiter
	fallback  *Local
	log       *slog.Logger
	lastWarn  atomic.Int64
	downUntil atomic.Int64 // unix nanoseconds
	Fallbacks atomic.Int64
	timeout   time.Duration
}

// redisRetry is how long the breaker stays open after a Redis failure.
const redisRetry = 2 * time.Second

// NewRedis returns a limiter over client.
func NewRedis(client *redis.Client, log *slog.Logger) *Redis {
	if log == nil {
		log = slog.Default()
	}
	return &Redis{limiter: redis_rate.NewLimiter(client), fallback: NewLocal(nil), log: log, timeout: 250 * time.Millisecond}
}

// Allow asks Redis (GCRA, limit per minute with a burst of limit).
func (r *Redis) Allow(ctx context.Context, key string, limit int) (Result, error) {
	if time.Now().UnixNano() < r.downUntil.Load() {
		r.Fallbacks.Add(1)
		return r.fallback.Allow(ctx, key, limit)
	}
	rctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	res, err := r.limiter.Allow(rctx, "praxiom:rl:"+key, redis_rate.PerMinute(limit))
	if err != nil {
		r.Fallbacks.Add(1)
		r.downUntil.Store(time.Now().Add(redisRetry).UnixNano())
		now := time.Now().Unix()
		if last := r.lastWarn.Load(); now-last >= 60 && r.lastWarn.CompareAndSwap(last, now) {
			r.log.Warn("rate limiter: Redis unavailable, using per-instance limits", "error", err.Error())
		}
		return r.fallback.Allow(ctx, key, limit)
	}
	out := Result{Allowed: res.Allowed > 0, Limit: limit, Remaining: res.Remaining,
		Reset: time.Now().Add(res.ResetAfter)}
	if !out.Allowed {
		out.RetryAfter = res.RetryAfter
	}
	return out, nil
}

// Trip opens the breaker for d (tests; a negative d closes it).
func (r *Redis) Trip(d time.Duration) { r.downUntil.Store(time.Now().Add(d).UnixNano()) }
