package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/auth"
)

// BenchmarkVerifyPEM measures one full verification (a token-cache miss)
// of an ordinary session token with a PEM key.
func BenchmarkVerifyPEM(b *testing.B) {
	v, err := auth.NewVerifier(auth.Config{JWTKeyPEM: keyA().PublicPEM(), Leeway: 5 * time.Second,
		Now: func() time.Time { return t0 }})
	if err != nil {
		b.Fatal(err)
	}
	o := validOpts()
	o.IssuedAt = t0
	tok, err := keyA().Mint(o)
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseBearer reads the Authorization header of an ordinary
// session token (≈ 730 bytes), as every session request does.
func BenchmarkParseBearer(b *testing.B) {
	o := validOpts()
	o.IssuedAt = t0
	tok, err := keyA().Mint(o)
	if err != nil {
		b.Fatal(err)
	}
	header := "Bearer " + tok
	b.ReportAllocs()
	for b.Loop() {
		if got, _, ok := auth.ParseBearer(header); !ok || len(got) != len(tok) {
			b.Fatal("not parsed")
		}
	}
}

// BenchmarkTokenCacheHit measures a token-cache hit on an ordinary session
// token (≈ 730 bytes), as every repeated session request makes.
func BenchmarkTokenCacheHit(b *testing.B) {
	o := validOpts()
	o.IssuedAt = t0
	tok, err := keyA().Mint(o)
	if err != nil {
		b.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{JWTKeyPEM: keyA().PublicPEM(), Leeway: 5 * time.Second,
		Now: func() time.Time { return t0 }})
	if err != nil {
		b.Fatal(err)
	}
	c := auth.NewCachedVerifier(v, 10000, func() time.Time { return t0 })
	ctx := context.Background()
	if _, err := c.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
