package ratelimit_test

import (
	"context"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/clocktest"
	"github.com/praxiom/praxiom-api/internal/ratelimit"
	"github.com/praxiom/praxiom-api/internal/redistest"
)

// TestLocalPerHourBudget: a limit per hour counts over an hour, Peek never
// spends, and an exhausted budget says when to come back.
func TestLocalPerHourBudget(t *testing.T) {
	ctx := context.Background()
	clk := clocktest.New(time.Date(2026, 11, 26, 10, 0, 0, 0, time.UTC))
	l := ratelimit.NewLocal(clk.Now)
	lim := ratelimit.PerHour(10)
	for i := 0; i < 50; i++ {
		if r, err := l.Peek(ctx, "fail:u1", lim); err != nil || !r.Allowed || r.Remaining != 10 || r.Limit != 10 {
			t.Fatalf("peek %d on a fresh budget: %+v %v", i, r, err)
		}
	}
	for i := 0; i < 10; i++ {
		clk.Advance(time.Minute) // failures spread over ten minutes still count
		r, err := l.Consume(ctx, "fail:u1", lim)
		if err != nil || !r.Allowed || r.Remaining != 10-i-1 {
			t.Fatalf("failure %d: %+v %v", i+1, r, err)
		}
	}
	peek, _ := l.Peek(ctx, "fail:u1", lim)
	if peek.Allowed || peek.RetryAfter <= 0 || peek.RetryAfter > time.Hour+time.Hour/10 {
		t.Fatalf("peek after 10 failures: %+v", peek)
	}
	// Far past a minute, still refused: the period is an hour.
	clk.Advance(30 * time.Minute)
	r, _ := l.Consume(ctx, "fail:u1", lim)
	if r.Allowed || r.RetryAfter <= 0 {
		t.Fatalf("failure 11, half an hour later: %+v", r)
	}
	if p, _ := l.Peek(ctx, "fail:u1", lim); p.Allowed || p.RetryAfter != r.RetryAfter {
		t.Errorf("peek %+v disagrees with consume %+v", p, r)
	}
	// Another key, and the same key per minute, have budgets of their own.
	if r, _ := l.Consume(ctx, "fail:u2", lim); !r.Allowed {
		t.Fatal("keys share a budget")
	}
	if r, _ := l.Consume(ctx, "fail:u1", ratelimit.PerMinute(10)); !r.Allowed {
		t.Fatal("periods share a budget")
	}
	// Waiting RetryAfter is enough; two hours restore the whole budget.
	clk.Advance(r.RetryAfter)
	if r, _ := l.Consume(ctx, "fail:u1", lim); !r.Allowed {
		t.Fatalf("refused after waiting RetryAfter: %+v", r)
	}
	clk.Advance(2 * time.Hour)
	if r, _ := l.Peek(ctx, "fail:u1", lim); !r.Allowed || r.Remaining != 10 {
		t.Fatalf("budget not restored: %+v", r)
	}
}

// TestLocalAllowIsConsumePerMinute: the per-request limit and a per-minute
// budget of the same key are one budget.
func TestLocalAllowIsConsumePerMinute(t *testing.T) {
	ctx := context.Background()
	l := ratelimit.NewLocal(nil)
	for i := 0; i < 3; i++ {
		if r, _ := l.Allow(ctx, "k", 5); !r.Allowed {
			t.Fatal(r)
		}
	}
	if r, _ := l.Peek(ctx, "k", ratelimit.PerMinute(5)); !r.Allowed || r.Remaining != 2 {
		t.Fatalf("peek = %+v, want 2 remaining", r)
	}
	if r, _ := l.Consume(ctx, "k", ratelimit.PerMinute(5)); !r.Allowed || r.Remaining != 1 {
		t.Fatalf("consume = %+v", r)
	}
}

func TestLimitRefusals(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	for name, b := range map[string]ratelimit.Budget{"local": ratelimit.NewLocal(nil), "redis": ratelimit.NewRedis(srv.Client(t), nil)} {
		if _, err := b.Consume(ctx, "k", ratelimit.Limit{Count: 1}); err == nil {
			t.Errorf("%s: a limit without a period was accepted", name)
		}
		if _, err := b.Peek(ctx, "k", ratelimit.Limit{Count: 1, Period: -time.Second}); err == nil {
			t.Errorf("%s: a negative period was accepted", name)
		}
		for _, n := range []int{0, -1} {
			r, err := b.Consume(ctx, "k", ratelimit.PerHour(n))
			if err != nil || r.Allowed || r.RetryAfter <= 0 {
				t.Errorf("%s: a budget of %d: %+v %v, want refused", name, n, r, err)
			}
		}
	}
}

// TestRedisPerHourBudget: two instances share a per-hour failure budget in
// Redis; peeks spend nothing and agree with Redis's answer.
func TestRedisPerHourBudget(t *testing.T) {
	ctx := context.Background()
	srv := redistest.Start(t)
	a := ratelimit.NewRedis(srv.Client(t), nil)
	b := ratelimit.NewRedis(srv.Client(t), nil)
	lim := ratelimit.PerHour(10)
	for i := 0; i < 20; i++ {
		if r, err := a.Peek(ctx, "fail:ip:192.0.2.1", lim); err != nil || !r.Allowed || r.Remaining != 10 {
			t.Fatalf("peek %d on a fresh budget: %+v %v", i, r, err)
		}
	}
	allowed := 0
	for i := 0; i < 14; i++ {
		l := a
		if i%2 == 1 {
			l = b
		}
		r, err := l.Consume(ctx, "fail:ip:192.0.2.1", lim)
		if err != nil {
			t.Fatal(err)
		}
		if r.Allowed {
			allowed++
			continue
		}
		// GCRA refills one every period/count: six minutes.
		if r.RetryAfter <= 5*time.Minute || r.RetryAfter > 6*time.Minute {
			t.Fatalf("refusal %d: RetryAfter %v, want about six minutes", i+1, r.RetryAfter)
		}
	}
	if allowed != 10 {
		t.Fatalf("%d failures counted across two instances, want 10", allowed)
	}
	for _, l := range []*ratelimit.Redis{a, b} {
		r, err := l.Peek(ctx, "fail:ip:192.0.2.1", lim)
		if err != nil || r.Allowed || r.RetryAfter <= 5*time.Minute || r.RetryAfter > 6*time.Minute || r.Limit != 10 {
			t.Fatalf("peek of a spent budget: %+v %v", r, err)
		}
		if until := time.Until(r.Reset); until < 55*time.Minute || until > time.Hour {
			t.Errorf("reset in %v, want about an hour", until)
		}
	}
	// The same key per minute is another budget; Allow is the per-minute one.
	if r, _ := a.Consume(ctx, "fail:ip:192.0.2.1", ratelimit.PerMinute(2)); !r.Allowed {
		t.Fatal("periods share a budget in Redis")
	}
	if r, _ := b.Allow(ctx, "fail:ip:192.0.2.1", 2); !r.Allowed || r.Remaining != 0 {
		t.Fatalf("Allow after one per-minute event: %+v, want the last one", r)
	}
	if r, _ := a.Peek(ctx, "fail:ip:192.0.2.1", ratelimit.PerMinute(2)); r.Allowed {
		t.Fatalf("per-minute peek after two events: %+v", r)
	}
	if a.Fallbacks.Load()+b.Fallbacks.Load() != 0 {
		t.Fatal("fell back while Redis was up")
	}

	// Redis down: the per-hour budget falls back to a local one of the same
	// period.
	srv.Stop()
	allowed = 0
	for i := 0; i < 5; i++ {
		r, err := a.Consume(ctx, "fail:user:1", ratelimit.PerHour(3))
		if err != nil {
			t.Fatalf("outage surfaced as an error: %v", err)
		}
		if r.Allowed {
			allowed++
		} else if r.RetryAfter < time.Minute || r.RetryAfter > 2*time.Hour {
			// The local counter's windows are clock hours: how long is
			// left depends on when the test runs, but it is hours, not
			// the seconds of a per-minute budget.
			t.Errorf("local refusal RetryAfter %v, want a per-hour wait (1m..2h)", r.RetryAfter)
		}
	}
	if allowed != 3 || a.Fallbacks.Load() != 5 {
		t.Fatalf("during the outage: %d allowed, %d fallbacks; want 3 and 5", allowed, a.Fallbacks.Load())
	}
	if r, err := a.Peek(ctx, "fail:user:1", ratelimit.PerHour(3)); err != nil || r.Allowed {
		t.Fatalf("peek during the outage: %+v %v", r, err)
	}
}
