package ratelimit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/clocktest"
	"github.com/praxiom/praxiom-api/internal/ratelimit"
)

func TestLocalAllowsExactlyTheLimitPerMinute(t *testing.T) {
	for _, limit := range []int{30, 120, 300, 600} {
		clk := clocktest.New(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
		l := ratelimit.NewLocal(clk.Now)
		for i := 0; i < limit; i++ {
			r, err := l.Allow(context.Background(), "u1", limit)
			if err != nil || !r.Allowed {
				t.Fatalf("limit %d: request %d refused: %+v %v", limit, i+1, r, err)
			}
			if r.Remaining != limit-i-1 || r.Limit != limit {
				t.Fatalf("limit %d: request %d: remaining %d", limit, i+1, r.Remaining)
			}
		}
		r, _ := l.Allow(context.Background(), "u1", limit)
		// The full minute carries into the next one at full weight: one more
		// fits only a minute/limit into it.
		if r.Allowed || r.RetryAfter <= 0 || r.RetryAfter > time.Minute+time.Minute/time.Duration(limit) {
			t.Fatalf("limit %d: request %d: %+v", limit, limit+1, r)
		}
		// Another key has its own budget.
		if r, _ := l.Allow(context.Background(), "u2", limit); !r.Allowed {
			t.Fatalf("limit %d: keys share a budget", limit)
		}
		// Two minutes later the budget is whole again.
		clk.Advance(2 * time.Minute)
		if r, _ := l.Allow(context.Background(), "u1", limit); !r.Allowed || r.Remaining != limit-1 {
			t.Fatalf("limit %d: budget not restored: %+v", limit, r)
		}
	}
}

func TestLocalSlidingWindowCarriesThePreviousMinute(t *testing.T) {
	clk := clocktest.New(time.Date(2026, 11, 26, 10, 0, 59, 0, time.UTC))
	l := ratelimit.NewLocal(clk.Now)
	for i := 0; i < 30; i++ {
		if r, _ := l.Allow(context.Background(), "k", 30); !r.Allowed {
			t.Fatalf("request %d refused", i)
		}
	}
	clk.Advance(2 * time.Second) // a new fixed window, but the last minute is still full
	if r, _ := l.Allow(context.Background(), "k", 30); r.Allowed {
		t.Fatal("a fresh fixed window must not reset a sliding budget")
	}
}

func TestLocalConcurrentNeverExceedsLimit(t *testing.T) {
	l := ratelimit.NewLocal(nil)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			if r, _ := l.Allow(context.Background(), "k", 50); r.Allowed {
				allowed.Add(1)
			}
		}()
	}
	close(start)
	wg.Wait()
	if allowed.Load() != 50 {
		t.Fatalf("%d allowed, want exactly 50", allowed.Load())
	}
}

// TestLocalLateReaderKeepsTheCounts: a request that read the clock just
// before the minute turned, and reached the counter only after another
// request had counted in the new minute, made httprate's counter forget
// every count (a window "back in time" resets it), so a spent budget came
// back whole. Local reads the clock under its lock: the windows only move
// forward, and the spent budget stays spent.
func TestLocalLateReaderKeepsTheCounts(t *testing.T) {
	ctx := context.Background()
	before := time.Date(2026, 11, 26, 10, 0, 59, 999_000_000, time.UTC)
	after := before.Add(2 * time.Millisecond) // 10:01:00.001
	var (
		mu      sync.Mutex
		current = before
		hold    chan struct{} // when set, the next clock read waits on it
	)
	now := func() time.Time {
		mu.Lock()
		t, h := current, hold
		hold = nil
		mu.Unlock()
		if h != nil {
			select { // a reader delayed after reading the time
			case <-h:
			case <-time.After(300 * time.Millisecond):
			}
		}
		return t
	}
	l := ratelimit.NewLocal(now)
	for i := 0; i < 10; i++ {
		if r, _ := l.Allow(ctx, "spent", 10); !r.Allowed {
			t.Fatalf("request %d refused", i+1)
		}
	}
	released := make(chan struct{})
	mu.Lock()
	hold = released
	mu.Unlock()
	late := make(chan ratelimit.Result)
	go func() { r, _ := l.Allow(ctx, "late", 10); late <- r }()
	time.Sleep(50 * time.Millisecond) // the late reader has read 10:00:59.999
	mu.Lock()
	current = after
	mu.Unlock()
	done := make(chan struct{})
	go func() {
		l.Allow(ctx, "other", 10) // counts in the new minute
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(100 * time.Millisecond):
	}
	close(released)
	if r := <-late; !r.Allowed {
		t.Fatalf("late reader: %+v", r)
	}
	<-done
	// Ten requests in the last two milliseconds: the sliding minute is full.
	if r, _ := l.Allow(ctx, "spent", 10); r.Allowed {
		t.Fatalf("a spent budget came back whole after a late reader: %+v", r)
	}
}
