package httpapi

import (
	"context"
	"sync"
	"time"

	"github.com/google/uuid"
)

// KeyUsageInterval is how often the API keys' last_used_at is written: a
// request with a key adds no database round trip, and last_used_at stays
// true to within a minute.
const KeyUsageInterval = 30 * time.Second

// keyUsage remembers when this instance last saw each API key until the
// next flush.
type keyUsage struct {
	mu   sync.Mutex
	seen map[uuid.UUID]time.Time
}

// touch records that key id was used at at.
func (u *keyUsage) touch(id uuid.UUID, at time.Time) {
	u.mu.Lock()
	if u.seen == nil {
		u.seen = make(map[uuid.UUID]time.Time)
	}
	u.seen[id] = at
	u.mu.Unlock()
}

// take returns what was recorded since the last take and forgets it.
func (u *keyUsage) take() map[uuid.UUID]time.Time {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := u.seen
	u.seen = nil
	return out
}

// FlushKeyUsage writes the API keys' last_used_at recorded since the last
// flush in one statement. What could not be written is kept for the next
// flush. Returns SERVICE_UNAVAILABLE.
func (s *Server) FlushKeyUsage(ctx context.Context) error {
	used := s.keyUsage.take()
	if err := s.store.TouchAPIKeys(ctx, used); err != nil {
		for id, at := range used {
			s.keyUsage.touchIfNewer(id, at)
		}
		return err
	}
	return nil
}

// touchIfNewer puts back a usage a failed flush could not write, unless a
// later one was recorded meanwhile.
func (u *keyUsage) touchIfNewer(id uuid.UUID, at time.Time) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.seen == nil {
		u.seen = make(map[uuid.UUID]time.Time)
	}
	if cur, ok := u.seen[id]; !ok || cur.Before(at) {
		u.seen[id] = at
	}
}

// Run does the server's background work until ctx ends: it flushes the
// API keys' usage every KeyUsageInterval, and once more on the way out.
func (s *Server) Run(ctx context.Context) {
	t := time.NewTicker(KeyUsageInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			if err := s.FlushKeyUsage(fctx); err != nil {
				s.log.Warn("flush API key usage", "error", err.Error())
			}
			cancel()
			return
		case <-t.C:
			if err := s.FlushKeyUsage(ctx); err != nil && ctx.Err() == nil {
				s.log.Warn("flush API key usage", "error", err.Error())
			}
		}
	}
}
