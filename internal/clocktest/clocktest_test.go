package clocktest_test

import (
	"sync"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/clocktest"
)

var t0 = time.Date(2026, 3, 27, 10, 30, 0, 0, time.UTC)

func TestClockStandsStillUntilMoved(t *testing.T) {
	c := clocktest.New(t0)
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("Now = %v, want %v", got, t0)
	}
	time.Sleep(time.Millisecond)
	if got := c.Now(); !got.Equal(t0) {
		t.Fatalf("Now moved on its own: %v", got)
	}
	if got := c.Advance(90 * time.Second); !got.Equal(t0.Add(90 * time.Second)) {
		t.Fatalf("Advance returned %v", got)
	}
	if got := c.Now(); !got.Equal(t0.Add(90 * time.Second)) {
		t.Fatalf("Now after Advance = %v", got)
	}
	c.Advance(-time.Minute)
	if got := c.Now(); !got.Equal(t0.Add(30 * time.Second)) {
		t.Fatalf("Now after a negative Advance = %v", got)
	}
	c.Set(t0.Add(-time.Hour))
	if got := c.Now(); !got.Equal(t0.Add(-time.Hour)) {
		t.Fatalf("Now after Set = %v", got)
	}
	var zero clocktest.Clock
	if !zero.Now().IsZero() {
		t.Fatalf("zero Clock = %v, want the zero time", zero.Now())
	}
}

// TestClockConcurrent is for the race detector: readers and writers at once,
// and no advance is lost.
func TestClockConcurrent(t *testing.T) {
	c := clocktest.New(t0)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 100 {
				c.Advance(time.Second)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	if got, want := c.Now(), t0.Add(800*time.Second); !got.Equal(want) {
		t.Fatalf("Now = %v, want %v", got, want)
	}
}
