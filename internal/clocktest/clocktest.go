// Package clocktest is the one fake clock of the tests: a Clock that stands
// still until the test moves it. Hand its Now method to whatever takes a
// clock (auth.Config.Now, auth.NewCachedVerifier, …), so that expiry,
// leeway and refresh windows are tested without sleeping.
package clocktest

import (
	"sync"
	"time"
)

// Clock is a manually advanced clock. It is safe for concurrent use: tests
// may advance it while the code under test reads it from other goroutines.
// The zero Clock stands at the zero time; use New to start elsewhere.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// New returns a Clock standing at start.
func New(start time.Time) *Clock {
	return &Clock{now: start}
}

// Now returns the clock's current time. Its signature fits the
// func() time.Time fields and parameters of the code under test.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d (backward when d is negative) and
// returns the new time.
func (c *Clock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	return c.now
}

// Set moves the clock to t, which may be before the current time.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}
