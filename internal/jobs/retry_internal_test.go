package jobs

import (
	"testing"
	"time"
)

// TestRetryPolicyGrowsForADay: with the production defaults a failed email
// is retried after 10s, 20s, 40s, … up to an hour apart, and the attempts
// that fit in 24 hours are counted (the last one marks it failed).
func TestRetryPolicyGrowsForADay(t *testing.T) {
	p := retryPolicy{base: DefaultRetryBase, max: DefaultRetryMax}
	want := []time.Duration{10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second}
	for i, w := range want {
		if got := p.delay(i + 1); got != w {
			t.Errorf("delay after attempt %d = %s, want %s", i+1, got, w)
		}
	}
	if got := p.delay(50); got != time.Hour {
		t.Errorf("delay after attempt 50 = %s, want the 1h cap", got)
	}
	// Walk the schedule as the worker's deadline check does.
	elapsed, attempts := time.Duration(0), 1
	for elapsed+p.delay(attempts) <= DefaultRetryFor {
		elapsed += p.delay(attempts)
		attempts++
	}
	if attempts < 20 || attempts > 40 || attempts >= emailMaxAttempts {
		t.Errorf("%d attempts in 24h", attempts)
	}
	t.Logf("production schedule: %d attempts over %s, then failed", attempts, elapsed.Round(time.Minute))
}
