package auth_test

import (
	"context"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/auth"
)

// benchToken is an ordinary session token (≈ 730 bytes) issued at t0, and
// benchVerifier a verifier of keyA's tokens at t0.
func benchToken(b *testing.B) string {
	b.Helper()
	o := validOpts()
	o.IssuedAt = t0
	tok, err := keyA().Mint(o)
	if err != nil {
		b.Fatal(err)
	}
	return tok
}

func benchVerifier(b *testing.B) *auth.Verifier {
	b.Helper()
	v, err := auth.NewVerifier(auth.Config{JWTKeyPEM: keyA().PublicPEM(), Leeway: 5 * time.Second,
		Now: func() time.Time { return t0 }})
	if err != nil {
		b.Fatal(err)
	}
	return v
}

// benchVerify calls v.Verify on tok in the benchmark's loop.
func benchVerify(b *testing.B, v auth.TokenVerifier, tok string) {
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyPEM measures one full verification (a token-cache miss)
// of an ordinary session token with a PEM key.
func BenchmarkVerifyPEM(b *testing.B) {
	benchVerify(b, benchVerifier(b), benchToken(b))
}

// BenchmarkParseBearer reads the Authorization header of an ordinary
// session token, as every session request does.
func BenchmarkParseBearer(b *testing.B) {
	tok := benchToken(b)
	header := "Bearer " + tok
	b.ReportAllocs()
	for b.Loop() {
		if got, _, ok := auth.ParseBearer(header); !ok || len(got) != len(tok) {
			b.Fatal("not parsed")
		}
	}
}

// BenchmarkTokenCacheHit measures a token-cache hit on an ordinary session
// token, as every repeated session request makes.
func BenchmarkTokenCacheHit(b *testing.B) {
	tok := benchToken(b)
	c := auth.NewCachedVerifier(benchVerifier(b), 10000, func() time.Time { return t0 })
	if _, err := c.Verify(context.Background(), tok); err != nil {
		b.Fatal(err)
	}
	benchVerify(b, c, tok)
}
