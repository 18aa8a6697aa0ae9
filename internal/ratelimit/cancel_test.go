package ratelimit_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/praxiom/praxiom-api/internal/ratelimit"
	"github.com/praxiom/praxiom-api/internal/redistest"
)

// pause makes srv hold every client's commands for d (CLIENT PAUSE … ALL),
// as an overloaded Redis would, and returns when the pause has begun.
func pause(t *testing.T, srv *redistest.Server, d time.Duration) {
	t.Helper()
	if err := srv.Client(t).Do(context.Background(), "CLIENT", "PAUSE", d.Milliseconds(), "ALL").Err(); err != nil {
		t.Fatalf("CLIENT PAUSE: %v", err)
	}
}

// slowClient waits for Redis longer than the limiter's own time-out, so the
// limiter's deadline, not the client's, ends a call to a paused server. It
// honours context deadlines, as NewRedis requires.
func slowClient(t *testing.T, srv *redistest.Server) *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: srv.Addr, ReadTimeout: 5 * time.Second, WriteTimeout: 5 * time.Second,
		MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { c.Close() })
	return c
}

// TestRedisClientCancelIsNotAnOutage: a request whose client went away
// (its context cancelled before or during the call to Redis) answers the
// context's error; it neither counts as a fallback nor opens the breaker,
// so the next request still shares the budget through Redis. Only Redis not
// answering within the limiter's own time-out is an outage.
func TestRedisClientCancelIsNotAnOutage(t *testing.T) {
	srv := redistest.Start(t)
	l := ratelimit.NewRedis(slowClient(t, srv), nil)
	peer := ratelimit.NewRedis(srv.Client(t), nil)

	t.Run("cancelled before the call", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := l.Allow(ctx, "user:gone", 5)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if n := l.Fallbacks.Load(); n != 0 {
			t.Fatalf("fallbacks = %d, want 0", n)
		}
	})

	t.Run("cancelled while Redis is slow", func(t *testing.T) {
		pause(t, srv, 600*time.Millisecond)
		ctx, cancel := context.WithCancel(context.Background())
		time.AfterFunc(50*time.Millisecond, cancel)
		_, err := l.Allow(ctx, "user:gone", 5)
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if n := l.Fallbacks.Load(); n != 0 {
			t.Fatalf("fallbacks = %d, want 0: a client's disconnect was taken for a Redis outage", n)
		}
		time.Sleep(700 * time.Millisecond) // the pause is over
	})

	t.Run("the budget is still shared", func(t *testing.T) {
		// With the breaker closed, both instances count in Redis: five in
		// all. An open breaker would give this one a fresh local budget.
		for i := 0; i < 5; i++ {
			lim := l
			if i%2 == 1 {
				lim = peer
			}
			if r, err := lim.Allow(context.Background(), "user:shared", 5); err != nil || !r.Allowed {
				t.Fatalf("request %d: %+v %v", i+1, r, err)
			}
		}
		if r, err := l.Allow(context.Background(), "user:shared", 5); err != nil || r.Allowed {
			t.Fatalf("request 6: %+v %v, want refused by the shared budget", r, err)
		}
		if n := l.Fallbacks.Load() + peer.Fallbacks.Load(); n != 0 {
			t.Fatalf("fallbacks = %d, want 0", n)
		}
	})

	t.Run("the limiter's own time-out is an outage", func(t *testing.T) {
		pause(t, srv, 1500*time.Millisecond)
		start := time.Now()
		r, err := l.Allow(context.Background(), "user:slow", 5)
		if err != nil || !r.Allowed {
			t.Fatalf("during a stall: %+v %v, want the local fallback's answer", r, err)
		}
		if d := time.Since(start); d > time.Second {
			t.Errorf("waited %v for Redis, want the limiter's time-out (250 ms)", d)
		}
		if n := l.Fallbacks.Load(); n != 1 {
			t.Fatalf("fallbacks = %d, want 1", n)
		}
		// The breaker is open: the next call does not wait for Redis.
		start = time.Now()
		if _, err := l.Allow(context.Background(), "user:slow", 5); err != nil {
			t.Fatal(err)
		}
		if d, n := time.Since(start), l.Fallbacks.Load(); d > 100*time.Millisecond || n != 2 {
			t.Fatalf("second call took %v with %d fallbacks; want an immediate fallback", d, n)
		}
	})
}
