package ratelimit

import (
	"context"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/go-chi/httprate"

	"github.com/praxiom/praxiom-api/internal/clocktest"
)

// httprateLocal is Local as it was over httprate's LocalLimitCounter (two
// look-ups per decision): the reference the counter of our own is held to.
type httprateLocal struct {
	mu       sync.Mutex
	counters map[time.Duration]httprate.LimitCounter
	now      func() time.Time
}

func (l *httprateLocal) decide(key string, lim Limit, count bool) (Result, error) {
	w := lim.Period
	if w <= 0 {
		return Result{}, errPeriod
	}
	now := l.now().UTC()
	cur := now.Truncate(w)
	prev := cur.Add(-w)
	elapsed := now.Sub(cur)
	l.mu.Lock()
	defer l.mu.Unlock()
	counter := l.counters[w]
	if counter == nil {
		counter = httprate.NewLocalLimitCounter(w)
		l.counters[w] = counter
	}
	c, p, err := counter.Get(key, cur, prev)
	if err != nil {
		return Result{}, err
	}
	weight := float64(w-elapsed) / float64(w)
	used := int(math.Ceil(float64(p)*weight + float64(c)))
	res := Result{Limit: lim.Count, Reset: cur.Add(w)}
	if used+1 > lim.Count {
		res.RetryAfter = retryAfter(c, p, lim.Count, elapsed, w)
		if at := now.Add(res.RetryAfter); at.After(res.Reset) {
			res.Reset = at
		}
		return res, nil
	}
	res.Allowed = true
	res.Remaining = lim.Count - used
	if count {
		if err := counter.IncrementBy(key, cur, 1); err != nil {
			return Result{}, err
		}
		res.Remaining--
	}
	return res, nil
}

// TestLocalAnswersAsHttprate: over random sequences of Allow, Peek and
// Consume (a few keys; periods of a minute, an hour, 7 s and 90 s; limits
// from -1 to 6, so that refusals are frequent) while the clock moves by
// nothing, milliseconds, seconds, whole windows, hours and sometimes back,
// Local gives exactly the answers of the httprate-based limiter it
// replaces: the same Allowed, Remaining, RetryAfter and Reset (to the
// nanosecond, in UTC).
func TestLocalAnswersAsHttprate(t *testing.T) {
	keys := []string{"user:a", "user:b", "key:c", "ip:192.0.2.1", "fail:redeem:user:a"}
	periods := []time.Duration{time.Minute, time.Minute, time.Minute, time.Hour, 7 * time.Second, 90 * time.Second}
	steps := []time.Duration{0, time.Millisecond, 250 * time.Millisecond, time.Second, 7 * time.Second,
		29 * time.Second, time.Minute, 61 * time.Second, 119 * time.Second, 20 * time.Minute, 2 * time.Hour}
	starts := []time.Time{
		time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC),
		time.Date(2026, 11, 26, 10, 0, 59, 999_999_999, time.UTC),
		time.Date(2026, 11, 26, 10, 59, 31, 123_456_789, time.FixedZone("X", 5*3600+1800)),
		time.Unix(0, 0).Add(-90 * time.Second), // before 1970: windows of negative Unix times
	}
	for seed := range uint64(40) {
		t.Run(fmt.Sprint(seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 7))
			clk := clocktest.New(starts[int(seed)%len(starts)])
			got := NewLocal(clk.Now)
			want := &httprateLocal{counters: map[time.Duration]httprate.LimitCounter{}, now: clk.Now}
			for i := range 3000 {
				switch r := rng.IntN(100); {
				case r < 45:
				case r < 95:
					clk.Advance(steps[rng.IntN(len(steps))] / time.Duration(1+rng.IntN(3)))
				default:
					clk.Advance(-time.Duration(rng.Int64N(int64(90 * time.Second))))
				}
				key := keys[rng.IntN(len(keys))]
				lim := Limit{Count: rng.IntN(8) - 1, Period: periods[rng.IntN(len(periods))]}
				var g, w Result
				var gerr, werr error
				op := rng.IntN(3)
				switch op {
				case 0:
					g, gerr = got.Allow(context.Background(), key, lim.Count)
					w, werr = want.decide(key, PerMinute(lim.Count), true)
				case 1:
					g, gerr = got.Peek(context.Background(), key, lim)
					w, werr = want.decide(key, lim, false)
				case 2:
					g, gerr = got.Consume(context.Background(), key, lim)
					w, werr = want.decide(key, lim, true)
				}
				if gerr != nil || werr != nil || g.Allowed != w.Allowed || g.Limit != w.Limit || g.Remaining != w.Remaining ||
					g.RetryAfter != w.RetryAfter || !g.Reset.Equal(w.Reset) || g.Reset.Location() != time.UTC {
					t.Fatalf("step %d (op %d, %s, %+v at %v):\n got %+v %v\nwant %+v %v",
						i, op, key, lim, clk.Now(), g, gerr, w, werr)
				}
			}
		})
	}
}
