// Package ratelimit counts events per key and period (a minute, an hour):
// in memory with go-chi/httprate's sliding-window algorithm by default, or in
// Redis (GCRA, go-redis/redis_rate) so that several instances share one
// budget. Allow is the per-request limit (per minute); Peek and Consume
// serve failure budgets, which are checked before an attempt and spent only
// when it fails.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"
)

// Window is the period of Allow: every per-request limit counts per minute.
const Window = time.Minute

// Limit is a budget of Count events per Period. A Count of zero or less
// allows nothing.
type Limit struct {
	Count  int
	Period time.Duration
}

// PerMinute is a budget of n events a minute.
func PerMinute(n int) Limit { return Limit{Count: n, Period: time.Minute} }

// PerHour is a budget of n events an hour.
func PerHour(n int) Limit { return Limit{Count: n, Period: time.Hour} }

// errPeriod refuses a limit without a period: a programming error.
var errPeriod = errors.New("ratelimit: a limit needs a positive period")

// Result is one decision.
type Result struct {
	// Allowed: the event fits (Consume counted it; Peek says one more would).
	Allowed bool
	Limit   int
	// Remaining is how many more events fit after this call.
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

// Budget counts events under a key against a Limit of any period, and says
// whether budget remains without spending it. A failure budget (at most 10
// failed attempts an hour) peeks before each attempt, refuses when nothing
// remains, and consumes after an attempt that failed. Attempts that run at
// the same moment may all pass the peek, so the count may overshoot by the
// number of attempts in flight, after which every peek refuses.
type Budget interface {
	// Peek reports whether one more event under key fits l, counting
	// nothing.
	Peek(ctx context.Context, key string, l Limit) (Result, error)
	// Consume counts one event under key when it fits l; when it does not,
	// it counts nothing and says when one more will fit.
	Consume(ctx context.Context, key string, l Limit) (Result, error)
}

// Both limiters serve per-request limits and failure budgets.
var (
	_ Limiter = (*Local)(nil)
	_ Budget  = (*Local)(nil)
	_ Limiter = (*Redis)(nil)
	_ Budget  = (*Redis)(nil)
)

// Local is an in-process sliding-window limiter: httprate's algorithm (the
// counts of this window and the one before), over a counter of its own
// (windows), one per period.
type Local struct {
	mu sync.Mutex
	// minute serves Allow (and every per-minute budget) without a look-up
	// in counters, which holds the other periods.
	minute   *windows
	counters map[time.Duration]*windows
	seed     maphash.Seed
	now      func() time.Time
}

// NewLocal returns an in-memory limiter; now may be nil (time.Now).
func NewLocal(now func() time.Time) *Local {
	if now == nil {
		now = time.Now
	}
	return &Local{minute: newWindows(time.Minute), counters: map[time.Duration]*windows{},
		seed: maphash.MakeSeed(), now: now}
}

// Allow counts one request under key when it fits limit per minute. The
// rate is httprate's: this window's count plus the previous window's,
// weighted by how much of it still overlaps the last minute.
func (l *Local) Allow(_ context.Context, key string, limit int) (Result, error) {
	return l.decide(key, PerMinute(limit), true)
}

// Peek reports whether one more event under key fits lim (the rate as
// Allow computes it, over lim's period), counting nothing.
func (l *Local) Peek(_ context.Context, key string, lim Limit) (Result, error) {
	return l.decide(key, lim, false)
}

// Consume counts one event under key when it fits lim.
func (l *Local) Consume(_ context.Context, key string, lim Limit) (Result, error) {
	return l.decide(key, lim, true)
}

// decide computes the sliding-window rate of key over lim.Period and, when
// one more fits and count is set, counts it. The clock is read under the
// lock, so that the windows only move forward with it: a request that read
// the time before another moved to the next window cannot count in the
// window before.
func (l *Local) decide(key string, lim Limit, count bool) (Result, error) {
	w := lim.Period
	if w <= 0 {
		return Result{}, errPeriod
	}
	h := maphash.String(l.seed, key)
	l.mu.Lock()
	defer l.mu.Unlock()
	ws := l.minute
	if w != time.Minute {
		if ws = l.counters[w]; ws == nil {
			ws = newWindows(w)
			l.counters[w] = ws
		}
	}
	now := l.now()
	cur := ws.windowOf(now)
	elapsed := time.Duration(now.UnixNano() - cur)
	c, p, slot := ws.get(h, cur)
	weight := float64(w-elapsed) / float64(w)
	used := int(math.Ceil(float64(p)*weight + float64(c)))
	res := Result{Limit: lim.Count, Reset: time.Unix(0, cur+int64(w)).UTC()}
	if used+1 > lim.Count {
		res.RetryAfter = retryAfter(c, p, lim.Count, elapsed, w)
		// A caller who waits for Reset must find room for one more.
		if at := now.Add(res.RetryAfter); at.After(res.Reset) {
			res.Reset = at.UTC()
		}
		return res, nil
	}
	res.Allowed = true
	res.Remaining = lim.Count - used
	if count {
		ws.add(h, cur, slot)
		res.Remaining--
	}
	return res, nil
}

// retryAfter is the time until one more event fits in window w: when the
// previous window's share has decayed enough, or when this window ends;
// when this window alone is full, its count carries into the next window at
// full weight, so one more fits only once that share has decayed too.
func retryAfter(c, p, limit int, elapsed, w time.Duration) time.Duration {
	untilEnd := w - elapsed
	if limit <= 0 {
		return untilEnd
	}
	if c+1 > limit || p == 0 {
		if c == 0 {
			return untilEnd
		}
		// Next window: c*(W-d)/W + 1 <= limit, i.e. d >= W*(1-(limit-1)/c).
		// Rounded up, so that waiting this long is always enough.
		n := int64(c - limit + 1)
		return untilEnd + time.Duration((int64(w)*n+int64(c)-1)/int64(c))
	}
	// Need p*(W-d)/W + c + 1 <= limit, i.e. d >= W*(1-(limit-c-1)/p).
	need := time.Duration(float64(w) * (1 - float64(limit-c-1)/float64(p)))
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
//
// A call whose own context ends (its client went away, or its deadline
// passed) says nothing about Redis: it answers that context's error, without
// a fallback and without opening the breaker. Only Redis failing, or not
// answering within the limiter's own time-out, counts as an outage.
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

// NewRedis returns a limiter over client. The limiter gives Redis 250 ms
// per call, through the call's context; go-redis honours that only when the
// client's ContextTimeoutEnabled option is set (otherwise a stalled Redis
// holds each request for the client's ReadTimeout, 3 s by default), so
// NewRedis logs a warning when it is not.
func NewRedis(client *redis.Client, log *slog.Logger) *Redis {
	if log == nil {
		log = slog.Default()
	}
	if !client.Options().ContextTimeoutEnabled {
		log.Warn("rate limiter: the Redis client ignores context deadlines (ContextTimeoutEnabled is off); a stalled Redis delays requests by its ReadTimeout")
	}
	return &Redis{limiter: redis_rate.NewLimiter(client), fallback: NewLocal(nil), log: log, timeout: 250 * time.Millisecond}
}

// Allow asks Redis (GCRA, limit per minute with a burst of limit). Returns
// the caller's context error when ctx ends first.
func (r *Redis) Allow(ctx context.Context, key string, limit int) (Result, error) {
	return r.decide(ctx, key, PerMinute(limit), 1)
}

// Peek asks Redis whether one more event under key fits l (GCRA, l.Count
// per l.Period with a burst of l.Count), counting nothing. Returns the
// caller's context error when ctx ends first.
func (r *Redis) Peek(ctx context.Context, key string, l Limit) (Result, error) {
	return r.decide(ctx, key, l, 0)
}

// Consume counts one event under key in Redis when it fits l. Returns the
// caller's context error when ctx ends first.
func (r *Redis) Consume(ctx context.Context, key string, l Limit) (Result, error) {
	return r.decide(ctx, key, l, 1)
}

// redisKey is key's Redis key for period: per-minute keys keep the name
// they always had, other periods have their own.
func redisKey(key string, period time.Duration) string {
	if period == time.Minute {
		return "praxiom:rl:" + key
	}
	return "praxiom:rl:" + strconv.FormatInt(int64(period/time.Millisecond), 10) + "ms:" + key
}

// decide asks Redis about n events (0: peek, 1: consume) under key.
func (r *Redis) decide(ctx context.Context, key string, l Limit, n int) (Result, error) {
	if l.Period <= 0 {
		return Result{}, errPeriod
	}
	if err := ctx.Err(); err != nil {
		return Result{}, fmt.Errorf("ratelimit: %w", err)
	}
	if l.Count <= 0 {
		return Result{Limit: l.Count, Reset: time.Now().Add(l.Period), RetryAfter: l.Period}, nil
	}
	if time.Now().UnixNano() < r.downUntil.Load() {
		r.Fallbacks.Add(1)
		return r.fallback.decide(key, l, n > 0)
	}
	rctx, cancel := context.WithTimeout(ctx, r.timeout)
	defer cancel()
	res, err := r.limiter.AllowN(rctx, redisKey(key, l.Period),
		redis_rate.Limit{Rate: l.Count, Burst: l.Count, Period: l.Period}, n)
	if err != nil {
		if cerr := ctx.Err(); cerr != nil {
			// The caller's context ended (a client that closed its
			// connection): not an outage of Redis.
			return Result{}, fmt.Errorf("ratelimit: %w", cerr)
		}
		r.Fallbacks.Add(1)
		r.downUntil.Store(time.Now().Add(redisRetry).UnixNano())
		now := time.Now().Unix()
		if last := r.lastWarn.Load(); now-last >= 60 && r.lastWarn.CompareAndSwap(last, now) {
			r.log.Warn("rate limiter: Redis unavailable, using per-instance limits", "error", err.Error())
		}
		return r.fallback.decide(key, l, n > 0)
	}
	out := Result{Limit: l.Count, Remaining: res.Remaining, Reset: time.Now().Add(res.ResetAfter)}
	if n > 0 {
		out.Allowed = res.Allowed > 0
		if !out.Allowed {
			out.RetryAfter = res.RetryAfter
		}
		return out, nil
	}
	// A peek counts nothing, so Redis reports how much remains (rounded
	// down) and when the budget is whole: one more fits once the time to
	// whole is at most Count-1 emission intervals.
	out.Allowed = res.Remaining >= 1
	if !out.Allowed {
		interval := l.Period / time.Duration(l.Count)
		out.RetryAfter = max(res.ResetAfter-time.Duration(l.Count-1)*interval, time.Millisecond)
	}
	return out, nil
}

// Trip opens the breaker for d (tests; a negative d closes it).
func (r *Redis) Trip(d time.Duration) { r.downUntil.Store(time.Now().Add(d).UnixNano()) }
