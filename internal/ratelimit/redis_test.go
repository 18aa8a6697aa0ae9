package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/ratelimit"
	"github.com/praxiom/praxiom-api/internal/redistest"
)

// Two instances (two clients, two limiters) share one budget in Redis.
func TestRedisBudgetIsShared(t *testing.T) {
	srv := redistest.Start(t)
	a := ratelimit.NewRedis(srv.Client(t), nil)
	b := ratelimit.NewRedis(srv.Client(t), nil)
	allowed := 0
	for i := 0; i < 40; i++ {
		l := a
		if i%2 == 1 {
			l = b
		}
		r, err := l.Allow(context.Background(), "user:shared", 30)
		if err != nil {
			t.Fatal(err)
		}
		if r.Allowed {
			allowed++
		} else if r.RetryAfter <= 0 {
			t.Fatalf("refusal without Retry-After: %+v", r)
		}
	}
	if allowed != 30 {
		t.Fatalf("%d allowed across two instances, want 30 (one shared budget)", allowed)
	}
	if a.Fallbacks.Load()+b.Fallbacks.Load() != 0 {
		t.Fatal("fell back while Redis was up")
	}
}

// With Redis down, each instance falls back to its own local limits: the
// API keeps answering and limits still apply, per instance.
func TestRedisDownFallsBackToLocalLimits(t *testing.T) {
	srv := redistest.Start(t)
	l := ratelimit.NewRedis(srv.Client(t), nil)
	srv.Stop()
	allowed := 0
	for i := 0; i < 12; i++ {
		r, err := l.Allow(context.Background(), "user:x", 10)
		if err != nil {
			t.Fatalf("Redis outage surfaced as an error: %v", err)
		}
		if r.Allowed {
			allowed++
		}
	}
	if allowed != 10 {
		t.Fatalf("%d allowed during the outage, want 10 (local limit)", allowed)
	}
	if l.Fallbacks.Load() != 12 {
		t.Fatalf("fallbacks = %d, want 12", l.Fallbacks.Load())
	}
}

// The breaker asks Redis again once it is back.
func TestRedisRecoversAfterOutage(t *testing.T) {
	srv := redistest.Start(t)
	c := srv.Client(t)
	l := ratelimit.NewRedis(c, nil)
	if r, err := l.Allow(context.Background(), "k", 5); err != nil || !r.Allowed {
		t.Fatal(r, err)
	}
	if err := c.Set(context.Background(), "probe", "1", 0).Err(); err != nil {
		t.Fatal(err)
	}
	// Force the breaker open as an outage would, then let it close.
	l.Trip(-time.Second)
	before := l.Fallbacks.Load()
	if _, err := l.Allow(context.Background(), "k", 5); err != nil {
		t.Fatal(err)
	}
	if l.Fallbacks.Load() != before {
		t.Fatal("did not ask Redis again after the breaker closed")
	}
}
