package auth_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"

	"github.com/praxiom/praxiom-api/internal/auth"
	"github.com/praxiom/praxiom-api/internal/clerktest"
	"github.com/praxiom/praxiom-api/internal/devtoken"
)

// unsignedToken builds header.payload.signature from raw JSON parts.
func unsignedToken(header, payload, sig string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(payload)) + "." + sig
}

func validPayload(t *testing.T) string {
	t.Helper()
	b, err := json.Marshal(map[string]any{
		"sub": "user_2abc", "iss": devIssuer, "sid": "sess_1", "v": 2,
		"iat": t0.Unix(), "nbf": t0.Add(-5 * time.Second).Unix(), "exp": t0.Add(time.Minute).Unix(),
	})
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// signWith signs the valid payload with an arbitrary go-jose signer.
func signWith(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string) *jose.JSONWebSignature {
	t.Helper()
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid))
	if err != nil {
		t.Fatalf("NewSigner(%s): %v", alg, err)
	}
	sig, err := signer.Sign([]byte(validPayload(t)))
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return sig
}

func compact(t *testing.T, sig *jose.JSONWebSignature) string {
	t.Helper()
	s, err := sig.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

type matrixCase struct {
	name  string
	token func(t *testing.T) string
	cfg   func(*auth.Config)
	// wantOK: the token verifies; otherwise it must be ErrInvalidToken.
	wantOK bool
	// preKey: rejected before any key lookup, so no JWKS fetch happens.
	preKey   bool
	jwksOnly bool
	pemOnly  bool
	check    func(t *testing.T, c auth.Claims)
}

func withParties(c *auth.Config) { c.AuthorizedParties = []string{webAZP, "https://app.praxiom.io"} }
func withIssuer(c *auth.Config)  { c.Issuer = devIssuer }

func matrix() []matrixCase {
	A := keyA()
	return []matrixCase{
		{
			name: "valid",
			token: func(t *testing.T) string {
				o := validOpts()
				o.SessionID = "sess_x"
				return mint(t, A, o)
			},
			cfg: func(c *auth.Config) {
				withIssuer(c)
				withParties(c)
			},
			wantOK: true,
			check: func(t *testing.T, c auth.Claims) {
				want := auth.Claims{
					Subject: "user_2abc", Issuer: devIssuer, AuthorizedParty: webAZP, SessionID: "sess_x",
					Email: "ada@example.com", Name: "Ada Lovelace", Expiry: t0.Add(60 * time.Second),
				}
				if c != want {
					t.Errorf("claims = %+v, want %+v", c, want)
				}
			},
		},
		{name: "empty", token: func(*testing.T) string { return "" }, preKey: true},
		{name: "malformed: not a JWT", token: func(*testing.T) string { return "not-a-jwt" }, preKey: true},
		{name: "malformed: garbage segments", token: func(*testing.T) string { return "abc.def.ghi" }, preKey: true},
		{
			name: "malformed: whitespace inside", preKey: true,
			token: func(t *testing.T) string {
				tok := mint(t, A, validOpts())
				return tok[:10] + " " + tok[10:]
			},
		},
		{
			name: "alg none, empty signature", preKey: true,
			token: func(t *testing.T) string {
				return unsignedToken(`{"alg":"none","typ":"JWT","kid":"`+A.KID+`"}`, validPayload(t), "")
			},
		},
		{
			name: "alg none, junk signature", preKey: true,
			token: func(t *testing.T) string {
				return unsignedToken(`{"alg":"none","typ":"JWT","kid":"`+A.KID+`"}`, validPayload(t), "AAAA")
			},
		},
		{
			name: "HS256 keyed with the public key PEM", preKey: true,
			token: func(t *testing.T) string {
				return compact(t, signWith(t, jose.HS256, []byte(A.PublicPEM()), A.KID))
			},
		},
		{
			name: "RS512 with the right key", preKey: true,
			token: func(t *testing.T) string { return compact(t, signWith(t, jose.RS512, A.Private, A.KID)) },
		},
		{
			name: "ES256", preKey: true,
			token: func(t *testing.T) string {
				ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				if err != nil {
					t.Fatal(err)
				}
				return compact(t, signWith(t, jose.ES256, ec, A.KID))
			},
		},
		{
			name: "JSON serialization, one valid signature", preKey: true,
			token: func(t *testing.T) string { return signWith(t, jose.RS256, A.Private, A.KID).FullSerialize() },
		},
		{
			name: "JSON serialization, two signatures", preKey: true,
			token: func(t *testing.T) string {
				signer, err := jose.NewMultiSigner([]jose.SigningKey{
					{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: A.Private, KeyID: A.KID}},
					{Algorithm: jose.RS256, Key: jose.JSONWebKey{Key: keyOther().Private, KeyID: A.KID}},
				}, nil)
				if err != nil {
					t.Fatal(err)
				}
				sig, err := signer.Sign([]byte(validPayload(t)))
				if err != nil {
					t.Fatal(err)
				}
				return sig.FullSerialize()
			},
		},
		{
			name: "signed by another key with the known kid",
			token: func(t *testing.T) string {
				o := validOpts()
				o.KID = ptr(A.KID)
				return mint(t, keyOther(), o)
			},
		},
		{
			name: "tampered payload",
			token: func(t *testing.T) string {
				parts := strings.Split(mint(t, A, validOpts()), ".")
				o := validOpts()
				o.Subject = "user_admin"
				parts[1] = strings.Split(mint(t, A, o), ".")[1]
				return strings.Join(parts, ".")
			},
		},
		{
			name: "unknown kid", jwksOnly: true,
			token: func(t *testing.T) string {
				o := validOpts()
				o.KID = ptr(randomKID())
				return mint(t, keyOther(), o)
			},
		},
		{
			name: "missing kid", jwksOnly: true, preKey: true,
			token: func(t *testing.T) string {
				o := validOpts()
				o.KID = ptr("")
				return mint(t, A, o)
			},
		},
		{
			// A kid over 256 bytes is refused before the key lookup, so it
			// neither costs a JWKS fetch nor is remembered as an unknown kid.
			name: "kid too long", jwksOnly: true, preKey: true,
			token: func(t *testing.T) string {
				o := validOpts()
				o.KID = ptr(strings.Repeat("k", 257))
				return mint(t, A, o)
			},
		},
		{
			name: "kid is ignored with a PEM key", pemOnly: true, wantOK: true,
			token: func(t *testing.T) string {
				o := validOpts()
				o.KID = ptr("something-else")
				return mint(t, A, o)
			},
		},
		{
			name: "expired beyond leeway",
			token: func(t *testing.T) string {
				o := validOpts()
				o.IssuedAt = t0.Add(-70 * time.Second) // exp = t0-10s
				return mint(t, A, o)
			},
		},
		{
			name: "expired within leeway passes", wantOK: true,
			token: func(t *testing.T) string {
				o := validOpts()
				o.IssuedAt = t0.Add(-62 * time.Second) // exp = t0-2s
				return mint(t, A, o)
			},
		},
		{
			name: "expired 2s with zero leeway",
			cfg:  func(c *auth.Config) { c.Leeway = 0 },
			token: func(t *testing.T) string {
				o := validOpts()
				o.IssuedAt = t0.Add(-62 * time.Second)
				return mint(t, A, o)
			},
		},
		{
			name: "nbf in the future beyond leeway",
			token: func(t *testing.T) string {
				o := validOpts()
				o.NotBefore = ptr(t0.Add(10 * time.Second))
				return mint(t, A, o)
			},
		},
		{
			name: "nbf in the future within leeway passes", wantOK: true,
			token: func(t *testing.T) string {
				o := validOpts()
				o.NotBefore = ptr(t0.Add(3 * time.Second))
				return mint(t, A, o)
			},
		},
		{
			name: "iat in the future beyond leeway",
			token: func(t *testing.T) string {
				o := validOpts()
				o.IssuedAt = t0.Add(10 * time.Second)
				o.NotBefore = ptr(t0.Add(-5 * time.Second))
				return mint(t, A, o)
			},
		},
		{
			name: "no exp",
			token: func(t *testing.T) string {
				o := validOpts()
				o.OmitExp = true
				return mint(t, A, o)
			},
		},
		{
			name: "no sub", preKey: true,
			token: func(t *testing.T) string {
				o := validOpts()
				o.Subject = ""
				return mint(t, A, o)
			},
		},
		{
			name: "wrong iss with Issuer set",
			cfg:  withIssuer,
			token: func(t *testing.T) string {
				o := validOpts()
				o.Issuer = "https://clerk.evil.example"
				return mint(t, A, o)
			},
		},
		{
			name: "any iss passes without Issuer", wantOK: true,
			token: func(t *testing.T) string {
				o := validOpts()
				o.Issuer = "http://elsewhere"
				return mint(t, A, o)
			},
		},
		{
			name: "disallowed azp",
			cfg:  withParties,
			token: func(t *testing.T) string {
				o := validOpts()
				o.AZP = "https://evil.example"
				return mint(t, A, o)
			},
		},
		{
			name: "no azp passes with parties set", wantOK: true,
			cfg: withParties,
			token: func(t *testing.T) string {
				o := validOpts()
				o.AZP = ""
				return mint(t, A, o)
			},
			check: func(t *testing.T, c auth.Claims) {
				if c.AuthorizedParty != "" {
					t.Errorf("azp = %q", c.AuthorizedParty)
				}
			},
		},
		{
			name: "non-string email claim", preKey: true,
			token: func(t *testing.T) string {
				o := validOpts()
				o.Extra = map[string]any{"email": 42}
				return mint(t, A, o)
			},
		},
		{
			name: "1 MB of dots", preKey: true,
			token: func(*testing.T) string { return strings.Repeat(".", 1<<20) },
		},
		{
			name: "validly signed but over 16 KiB", preKey: true,
			token: func(t *testing.T) string {
				o := validOpts()
				o.Extra = map[string]any{"pad": strings.Repeat("a", 16<<10)}
				return mint(t, A, o)
			},
		},
	}
}

func runCase(t *testing.T, v *auth.Verifier, tc matrixCase) {
	t.Helper()
	claims, err := v.Verify(context.Background(), tc.token(t))
	if tc.wantOK {
		if err != nil {
			t.Fatalf("Verify: unexpected error %v", err)
		}
		if tc.check != nil {
			tc.check(t, claims)
		}
		return
	}
	if !errors.Is(err, auth.ErrInvalidToken) {
		t.Fatalf("Verify: err = %v, want ErrInvalidToken", err)
	}
	if errors.Is(err, auth.ErrUnavailable) {
		t.Fatalf("Verify: err = %v also wraps ErrUnavailable", err)
	}
	if claims != (auth.Claims{}) {
		t.Errorf("claims = %+v on error, want zero", claims)
	}
}

func TestVerifyMatrixPEM(t *testing.T) {
	for _, tc := range matrix() {
		if tc.jwksOnly {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg := auth.Config{JWTKeyPEM: keyA().PublicPEM(), Leeway: 5 * time.Second, Now: newClock().Now}
			var fetches fetchCounter
			fetches.hook(&cfg)
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			v, err := auth.NewVerifier(cfg)
			if err != nil {
				t.Fatalf("NewVerifier: %v", err)
			}
			runCase(t, v, tc)
			if n := fetches.n.Load(); n != 0 {
				t.Errorf("PEM verifier fetched the JWKS %d times", n)
			}
		})
	}
}

func TestVerifyMatrixJWKS(t *testing.T) {
	for _, tc := range matrix() {
		if tc.pemOnly {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := clerktest.New(t, keyA())
			var fetches fetchCounter
			v := newJWKSVerifier(t, f, newClock(), func(c *auth.Config) {
				fetches.hook(c)
				if tc.cfg != nil {
					tc.cfg(c)
				}
			})
			runCase(t, v, tc)
			// Rejections that need no key must not reach Clerk; everything
			// else costs exactly the one cold-cache fetch (an unknown kid
			// right after that fetch does not cause a second one).
			want := int64(1)
			if tc.preKey {
				want = 0
			}
			if got := f.JWKSFetches(); got != want {
				t.Errorf("JWKS fetches = %d, want %d", got, want)
			}
			if got := fetches.n.Load(); got != want {
				t.Errorf("OnJWKSFetch saw %d fetches, want %d", got, want)
			}
		})
	}
}

// TestHugeTokenIsCheap checks that a 1 MB token is rejected without being
// parsed: no allocation proportional to its size (the real guard) and,
// generously for loaded machines, under a millisecond per call.
func TestHugeTokenIsCheap(t *testing.T) {
	v, err := auth.NewVerifier(auth.Config{JWTKeyPEM: keyA().PublicPEM()})
	if err != nil {
		t.Fatal(err)
	}
	huge := strings.Repeat(".", 1<<20)
	ctx := context.Background()
	const n = 200
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	start := time.Now()
	for range n {
		if _, err := v.Verify(ctx, huge); !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("err = %v, want ErrInvalidToken", err)
		}
	}
	elapsed := time.Since(start)
	runtime.ReadMemStats(&after)
	if perCall := (after.TotalAlloc - before.TotalAlloc) / n; perCall > 4<<10 {
		t.Errorf("allocated %d bytes per call, want a few hundred", perCall)
	}
	if perCall := elapsed / n; perCall > time.Millisecond {
		t.Errorf("took %s per call", perCall)
	}
}

func TestNewVerifierConfigErrors(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	ecPEM := string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))

	tests := []struct {
		name string
		cfg  auth.Config
	}{
		{"nothing configured", auth.Config{}},
		{"API URL without secret", auth.Config{APIURL: "https://api.clerk.com/v1"}},
		{"secret without API URL", auth.Config{SecretKey: clerktest.SecretKey}},
		{"API URL not http(s)", auth.Config{APIURL: "ftp://api.clerk.com/v1", SecretKey: clerktest.SecretKey}},
		{"API URL relative", auth.Config{APIURL: "/v1", SecretKey: clerktest.SecretKey}},
		{"malformed PEM", auth.Config{JWTKeyPEM: "-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n"}},
		{"private key PEM", auth.Config{JWTKeyPEM: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"}},
		{"EC public key", auth.Config{JWTKeyPEM: ecPEM}},
		{"negative leeway", auth.Config{JWTKeyPEM: keyA().PublicPEM(), Leeway: -time.Second}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if v, err := auth.NewVerifier(tc.cfg); err == nil {
				t.Fatalf("NewVerifier succeeded (%v), want an error", v)
			}
		})
	}

	t.Run("PEM wins over JWKS settings", func(t *testing.T) {
		var fetches fetchCounter
		cfg := auth.Config{
			JWTKeyPEM: keyA().PublicPEM(), APIURL: "http://127.0.0.1:1/v1", SecretKey: clerktest.SecretKey,
			Now: newClock().Now,
		}
		fetches.hook(&cfg)
		v, err := auth.NewVerifier(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(context.Background(), mint(t, keyA(), validOpts())); err != nil {
			t.Fatalf("Verify: %v", err)
		}
		if fetches.n.Load() != 0 {
			t.Error("fetched a JWKS despite CLERK_JWT_KEY")
		}
	})
}

func TestParseBearer(t *testing.T) {
	tests := []struct {
		header         string
		token          string
		present, valid bool
	}{
		{"", "", false, false},
		{"   ", "", false, false},
		{"Bearer x", "x", true, true},
		{"bearer x", "x", true, true},
		{"BEARER x", "x", true, true},
		{"bEaReR x", "x", true, true},
		{"Bearer   x", "x", true, true},
		{"Bearer x.y.z", "x.y.z", true, true},
		{"Basic x", "", true, false},
		{"Bearer", "", true, false},
		{"Bearer  ", "", true, false},
		{"Bearerx", "", true, false},
		{"Bearer\tx", "", true, false},
		{"Bearer x y", "", true, false},
		{"Bearer x\ty", "", true, false},
		{"Bearer " + strings.Repeat("a", 700) + "\t" + strings.Repeat("a", 30), "", true, false},
		{"x", "", true, false},
	}
	for _, tc := range tests {
		t.Run(tc.header, func(t *testing.T) {
			token, present, ok := auth.ParseBearer(tc.header)
			if token != tc.token || present != tc.present || ok != tc.valid {
				t.Errorf("ParseBearer(%q) = (%q, %v, %v), want (%q, %v, %v)",
					tc.header, token, present, ok, tc.token, tc.present, tc.valid)
			}
		})
	}
}

func TestErrorsDoNotContainToken(t *testing.T) {
	v, err := auth.NewVerifier(auth.Config{JWTKeyPEM: keyA().PublicPEM(), Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	o := validOpts()
	o.IssuedAt = t0.Add(-time.Hour)
	tok := mint(t, keyA(), o)
	_, err = v.Verify(context.Background(), tok)
	if err == nil {
		t.Fatal("expired token verified")
	}
	for _, part := range strings.Split(tok, ".") {
		if strings.Contains(err.Error(), part) {
			t.Fatalf("error %q contains a token segment", err)
		}
	}
}

func TestMintedTokenKIDMatchesJWKS(t *testing.T) {
	// Guard for the fixtures: a devtoken JWKS is what the SDK expects.
	var set struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(devtoken.JWKSOf(keyA()), &set); err != nil {
		t.Fatal(err)
	}
	if len(set.Keys) != 1 || set.Keys[0]["kid"] != keyA().KID || set.Keys[0]["alg"] != "RS256" {
		t.Fatalf("JWKS = %v", set)
	}
}
