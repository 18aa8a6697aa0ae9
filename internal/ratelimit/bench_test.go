package ratelimit_test

import (
	"context"
	"strconv"
	"testing"

	"github.com/praxiom/praxiom-api/internal/ratelimit"
)

// BenchmarkLocalAllow is the per-request cost of the in-memory limiter:
// one key, and 1,000 keys in turn (a server's population of users), at a
// limit no run reaches, as the load benchmark sets it.
//
//	go test -run='^$' -bench=LocalAllow -benchmem ./internal/ratelimit/
func BenchmarkLocalAllow(b *testing.B) {
	ctx := context.Background()
	keys := make([]string, 1000)
	for i := range keys {
		keys[i] = "user:" + strconv.Itoa(i)
	}
	b.Run("one-key", func(b *testing.B) {
		l := ratelimit.NewLocal(nil)
		b.ReportAllocs()
		for b.Loop() {
			if r, err := l.Allow(ctx, "user:1", 1<<30); err != nil || !r.Allowed {
				b.Fatal(r, err)
			}
		}
	})
	b.Run("1000-keys", func(b *testing.B) {
		l := ratelimit.NewLocal(nil)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if r, err := l.Allow(ctx, keys[i%len(keys)], 1<<30); err != nil || !r.Allowed {
				b.Fatal(r, err)
			}
			i++
		}
	})
	b.Run("1000-keys-parallel", func(b *testing.B) {
		l := ratelimit.NewLocal(nil)
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := 0
			for pb.Next() {
				if r, err := l.Allow(ctx, keys[i%len(keys)], 1<<30); err != nil || !r.Allowed {
					b.Fatal(r, err)
				}
				i++
			}
		})
	})
}
