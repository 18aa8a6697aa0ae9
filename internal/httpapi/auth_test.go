package httpapi_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/auth"
	"github.com/praxiom/praxiom-api/internal/clerktest"
	"github.com/praxiom/praxiom-api/internal/devtoken"
	"github.com/praxiom/praxiom-api/internal/httpapi"
	"github.com/praxiom/praxiom-api/internal/ratelimit"
	"github.com/praxiom/praxiom-api/internal/store"
)

// ---------------------------------------------------------------------------
// Helpers shared by the tests of this package (auth, webhook, ops).
// ---------------------------------------------------------------------------

var (
	referralCodeRE = regexp.MustCompile(`^[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{8}$`)
	uuidRE         = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// Extra RSA keys, generated once per test binary (slow under -race).
var (
	otherKey = sync.OnceValue(mustGenerateKey)
	rotKey   = sync.OnceValue(mustGenerateKey)
)

func mustGenerateKey() *devtoken.Key {
	k, err := devtoken.Generate()
	if err != nil {
		panic(err)
	}
	return k
}

var idSeq atomic.Int64

// uniq returns a string unique within the test binary.
func uniq(prefix string) string {
	return fmt.Sprintf("%s%dx%d", prefix, time.Now().UnixNano(), idSeq.Add(1)) // no "_": subjects are user_[A-Za-z0-9]
}

// assertUnauthorized checks a 401 with the envelope and the RFC 6750
// challenge: error="invalid_token" when a bearer token was sent.
func assertUnauthorized(t *testing.T, r *apitest.Response, bearerSent bool) {
	t.Helper()
	wantError(t, r, http.StatusUnauthorized, "UNAUTHORIZED")
	want := `Bearer`
	if bearerSent {
		want = `Bearer error="invalid_token"`
	}
	if got := r.Header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != want {
		t.Errorf("WWW-Authenticate = %q, want [%q]", got, want)
	}
}

// assertLogsClean fails when the server's logs contain any of secrets.
func assertLogsClean(t *testing.T, logs string, secrets ...string) {
	t.Helper()
	if logs == "" {
		t.Fatal("the server logged nothing; the check would be vacuous")
	}
	for _, s := range secrets {
		if s == "" {
			continue
		}
		if strings.Contains(logs, s) {
			t.Errorf("logs contain a secret (%.12s…)", s)
		}
	}
}

// tokenSecrets returns what of a token must never be logged: the token and
// its signature segment.
func tokenSecrets(tokens ...string) []string {
	var out []string
	for _, tok := range tokens {
		if strings.Count(tok, ".") != 2 || len(tok) < 40 || len(tok) > 1<<16 {
			continue
		}
		out = append(out, tok, tok[strings.LastIndex(tok, ".")+1:])
	}
	return out
}

// meUser is the user object (api/openapi.yaml, User).
type meUser struct {
	ID               string  `json:"id"`
	ClerkID          string  `json:"clerk_id"`
	Email            string  `json:"email"`
	Name             string  `json:"name"`
	AvatarURL        *string `json:"avatar_url"`
	AccessStatus     string  `json:"access_status"`
	HasProductAccess bool    `json:"has_product_access"`
	IsFounder        bool    `json:"is_founder"`
	IsAdmin          bool    `json:"is_admin"`
	ReferralCode     string  `json:"referral_code"`
	ReferralCount    int     `json:"referral_count"`
	ActivatedAt      *string `json:"activated_at"`
	CreatedAt        string  `json:"created_at"`
	UpdatedAt        string  `json:"updated_at"`
}

var userObjectFields = []string{"id", "clerk_id", "email", "name", "avatar_url", "access_status",
	"has_product_access", "is_founder", "is_admin", "referral_code", "referral_count", "activated_at", "created_at",
	"updated_at"}

// decodeMe checks a 200 user object (of GET /api/auth/me or a redemption):
// exactly the fields of api/openapi.yaml's User, well-formed id, referral code and
// timestamps.
func decodeMe(t *testing.T, r *apitest.Response) meUser {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("user object: status %d, want 200; body %s", r.Status, r.Body)
	}
	var raw map[string]json.RawMessage
	r.JSON(t, &raw)
	for _, f := range userObjectFields {
		if _, ok := raw[f]; !ok {
			t.Errorf("user object lacks %q: %s", f, r.Body)
		}
	}
	if len(raw) != len(userObjectFields) {
		t.Errorf("user object has %d fields, want %d: %s", len(raw), len(userObjectFields), r.Body)
	}
	var u meUser
	r.JSON(t, &u)
	if !uuidRE.MatchString(u.ID) {
		t.Errorf("id %q is not a lower-case UUID", u.ID)
	}
	if !referralCodeRE.MatchString(u.ReferralCode) {
		t.Errorf("referral_code %q does not match %s", u.ReferralCode, referralCodeRE)
	}
	for name, ts := range map[string]string{"created_at": u.CreatedAt, "updated_at": u.UpdatedAt} {
		assertUTCTime(t, name, ts)
	}
	if u.ActivatedAt != nil {
		assertUTCTime(t, "activated_at", *u.ActivatedAt)
	}
	switch u.AccessStatus {
	case store.StatusPending, store.StatusActive, store.StatusSuspended:
	default:
		t.Errorf("access_status = %q", u.AccessStatus)
	}
	return u
}

func assertUTCTime(t *testing.T, name, s string) {
	t.Helper()
	ts, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || !strings.HasSuffix(s, "Z") {
		t.Errorf("%s = %q, want an RFC 3339 UTC time", name, s)
		return
	}
	if d := time.Since(ts); d < -time.Minute || d > time.Hour {
		t.Errorf("%s = %s, not recent", name, s)
	}
}

// countUsers counts the rows of users with clerkID.
func countUsers(t *testing.T, e *apitest.Env, clerkID string) int {
	t.Helper()
	return scalar[int](t, e, `SELECT count(*) FROM users WHERE clerk_id = $1`, clerkID)
}

// pemVerifier builds a networkless verifier for key.
func pemVerifier(t *testing.T, key *devtoken.Key, mod func(*auth.Config)) *auth.Verifier {
	t.Helper()
	cfg := auth.Config{JWTKeyPEM: key.PublicPEM(), Leeway: 5 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	v, err := auth.NewVerifier(cfg)
	if err != nil {
		t.Fatalf("verifier: %v", err)
	}
	return v
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// signWith signs claims with an arbitrary go-jose algorithm and key.
func signWith(t *testing.T, alg jose.SignatureAlgorithm, key any, kid string, claims map[string]any) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", kid)
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: key}, opts)
	if err != nil {
		t.Fatalf("signer %s: %v", alg, err)
	}
	payload, _ := json.Marshal(claims)
	obj, err := signer.Sign(payload)
	if err != nil {
		t.Fatalf("sign %s: %v", alg, err)
	}
	tok, err := obj.CompactSerialize()
	if err != nil {
		t.Fatalf("serialize: %v", err)
	}
	return tok
}

// ---------------------------------------------------------------------------
// Token matrix
// ---------------------------------------------------------------------------

const (
	testIssuer = "https://clerk.praxiom.test"
	testAZP    = "https://app.praxiom.test"
)

func TestAuthTokenMatrix(t *testing.T) {
	key := apitest.Key(t)
	v := pemVerifier(t, key, func(c *auth.Config) {
		c.Issuer = testIssuer
		c.AuthorizedParties = []string{testAZP, "https://admin.praxiom.test"}
	})
	e := apitest.New(t, apitest.Options{Verifier: v})

	now := time.Now()
	ptr := func(at time.Time) *time.Time { return &at }
	// good returns the options of a valid token for a fresh user; mod
	// breaks one thing.
	good := func(mod func(o *devtoken.Options)) devtoken.Options {
		email := uniq("matrix") + "@example.com"
		o := devtoken.Options{Subject: "user_" + uniq("m"), Issuer: testIssuer, AZP: testAZP,
			Email: email, Name: "Matrix User", TTL: time.Minute}
		if mod != nil {
			mod(&o)
		}
		return o
	}
	mint := func(mod func(o *devtoken.Options)) string { return e.Mint(good(mod)) }
	claimsOf := func(o devtoken.Options) map[string]any {
		return map[string]any{"sub": o.Subject, "iss": o.Issuer, "azp": o.AZP, "email": o.Email,
			"iat": now.Unix(), "nbf": now.Add(-5 * time.Second).Unix(), "exp": now.Add(time.Minute).Unix(),
			"sid": "sess_x", "v": 2}
	}

	valid := mint(nil)
	parts := strings.Split(valid, ".")
	tamperedClaims := claimsOf(good(nil))
	tamperedClaims["sub"] = "user_someone_else"
	tampered := parts[0] + "." + b64(mustJSON(tamperedClaims)) + "." + parts[2]

	noneHeader := b64(`{"alg":"none","typ":"JWT"}`)
	noneClaims := b64(mustJSON(claimsOf(good(nil))))
	otherK := otherKey()

	cases := []struct {
		name string
		// auth is the whole Authorization header; "" sends none.
		auth   string
		status int
		bearer bool // a bearer token was sent (for the challenge)
	}{
		{name: "valid", auth: "Bearer " + mint(nil), status: 200},
		{name: "no azp passes", auth: "Bearer " + mint(func(o *devtoken.Options) { o.AZP = "" }), status: 200},
		{name: "second allowed azp", auth: "Bearer " + mint(func(o *devtoken.Options) { o.AZP = "https://admin.praxiom.test" }), status: 200},
		{name: "lower-case bearer passes", auth: "bearer " + mint(nil), status: 200},
		{name: "upper-case BEARER passes", auth: "BEARER " + mint(nil), status: 200},
		{name: "expired within leeway passes", auth: "Bearer " + mint(func(o *devtoken.Options) {
			o.IssuedAt, o.TTL = now.Add(-time.Minute), time.Minute-2*time.Second
		}), status: 200},

		{name: "no header", auth: "", status: 401, bearer: false},
		{name: "Basic scheme", auth: "Basic dXNlcjpwYXNz", status: 401, bearer: false},
		{name: "Bearer without token", auth: "Bearer", status: 401, bearer: false},
		{name: "token without scheme", auth: mint(nil), status: 401, bearer: false},
		{name: "malformed", auth: "Bearer not-a-jwt", status: 401, bearer: true},
		{name: "three junk segments", auth: "Bearer aaaa.bbbb.cccc", status: 401, bearer: true},
		{name: "alg none, empty signature", auth: "Bearer " + noneHeader + "." + noneClaims + ".", status: 401, bearer: true},
		{name: "alg none, junk signature", auth: "Bearer " + noneHeader + "." + noneClaims + "." + b64("sig"), status: 401, bearer: true},
		{name: "HS256 keyed with the public key PEM", auth: "Bearer " + signWith(t, jose.HS256, []byte(key.PublicPEM()), key.KID, claimsOf(good(nil))), status: 401, bearer: true},
		{name: "RS384 with the right key", auth: "Bearer " + signWith(t, jose.RS384, key.Private, key.KID, claimsOf(good(nil))), status: 401, bearer: true},
		{name: "signed by another key", auth: "Bearer " + func() string {
			tok, err := otherK.Mint(good(nil))
			if err != nil {
				t.Fatal(err)
			}
			return tok
		}(), status: 401, bearer: true},
		{name: "tampered payload", auth: "Bearer " + tampered, status: 401, bearer: true},
		{name: "expired", auth: "Bearer " + mint(func(o *devtoken.Options) {
			o.IssuedAt, o.TTL = now.Add(-2*time.Minute), time.Minute
		}), status: 401, bearer: true},
		{name: "nbf in the future", auth: "Bearer " + mint(func(o *devtoken.Options) {
			o.NotBefore = ptr(now.Add(time.Minute))
		}), status: 401, bearer: true},
		{name: "iat in the future", auth: "Bearer " + mint(func(o *devtoken.Options) {
			o.IssuedAt, o.NotBefore = now.Add(time.Minute), ptr(now.Add(-5*time.Second))
		}), status: 401, bearer: true},
		{name: "no exp", auth: "Bearer " + mint(func(o *devtoken.Options) { o.OmitExp = true }), status: 401, bearer: true},
		{name: "no sub", auth: "Bearer " + mint(func(o *devtoken.Options) { o.Subject = "" }), status: 401, bearer: true},
		{name: "wrong iss", auth: "Bearer " + mint(func(o *devtoken.Options) { o.Issuer = "https://evil.example.com" }), status: 401, bearer: true},
		{name: "no iss", auth: "Bearer " + mint(func(o *devtoken.Options) { o.Issuer = "" }), status: 401, bearer: true},
		{name: "disallowed azp", auth: "Bearer " + mint(func(o *devtoken.Options) { o.AZP = "https://evil.example.com" }), status: 401, bearer: true},
		{name: "1 MB token of dots", auth: "Bearer " + strings.Repeat(".", 1<<20), status: 401, bearer: true},
	}
	var tokens []string
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			h := http.Header{}
			if tc.auth != "" {
				h.Set("Authorization", tc.auth)
				if f := strings.Fields(tc.auth); len(f) == 2 {
					tokens = append(tokens, f[1])
				} else {
					tokens = append(tokens, tc.auth)
				}
			}
			r := e.Do(apitest.Request{Method: http.MethodGet, Path: "/api/auth/me", Header: h})
			if tc.status == http.StatusOK {
				u := decodeMe(t, r)
				if u.Name != "Matrix User" || !strings.HasPrefix(u.Email, "matrix") {
					t.Errorf("user = %+v, want provisioned from the token's claims", u)
				}
				return
			}
			assertUnauthorized(t, r, tc.bearer)
		})
	}
	assertLogsClean(t, e.Logs(), tokenSecrets(tokens...)...)
	if strings.Contains(e.Logs(), strings.Repeat(".", 64)) {
		t.Error("logs contain the 1 MB token")
	}
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// ---------------------------------------------------------------------------
// JWKS path
// ---------------------------------------------------------------------------

func jwksEnv(t *testing.T, apiURL string) (*apitest.Env, *auth.Verifier) {
	t.Helper()
	v, err := auth.NewVerifier(auth.Config{APIURL: apiURL, SecretKey: clerktest.SecretKey, Leeway: 5 * time.Second})
	if err != nil {
		t.Fatalf("verifier: %v", err)
	}
	return apitest.New(t, apitest.Options{Verifier: v}), v
}

func mintWith(t *testing.T, k *devtoken.Key, o devtoken.Options) string {
	t.Helper()
	if o.Subject == "" {
		o.Subject = "user_" + uniq("j")
	}
	if o.Email == "" {
		o.Email = uniq("jwks") + "@example.com"
	}
	tok, err := k.Mint(o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestAuthJWKSRandomKidsCauseAtMostOneFetch(t *testing.T) {
	key := apitest.Key(t)
	fake := clerktest.New(t, key)
	e, _ := jwksEnv(t, fake.URL())

	// Warm the cache.
	decodeMe(t, e.Get("/api/auth/me", mintWith(t, key, devtoken.Options{})))
	if got := fake.JWKSFetches(); got != 1 {
		t.Fatalf("JWKS fetches after the first request = %d, want 1", got)
	}

	const n = 50
	toks := make([]string, n)
	for i := range toks {
		kid := uniq("kid-random-")
		toks[i] = mintWith(t, key, devtoken.Options{KID: &kid})
	}
	res := apitest.Race(n, func(i int) *apitest.Response { return e.Get("/api/auth/me", toks[i]) })
	for i, r := range res {
		if r.Status != http.StatusUnauthorized {
			t.Errorf("request %d with a random kid: status %d, want 401: %s", i, r.Status, r.Body)
			continue
		}
		assertUnauthorized(t, r, true)
	}
	// More random kids one after another (not joining a fetch in flight)
	// are refused without fetching: refreshes for unknown kids are limited
	// globally, not only per kid.
	for range 10 {
		kid := uniq("kid-random-")
		tok := mintWith(t, key, devtoken.Options{KID: &kid})
		toks = append(toks, tok)
		assertUnauthorized(t, e.Get("/api/auth/me", tok), true)
	}
	if got := fake.JWKSFetches(); got > 2 {
		t.Errorf("JWKS fetches = %d, want at most 2 (one beyond the first)", got)
	}
	if fake.BadAuth() != 0 {
		t.Error("a JWKS fetch did not carry the secret key")
	}
	// The known key keeps working.
	decodeMe(t, e.Get("/api/auth/me", mintWith(t, key, devtoken.Options{})))
	assertLogsClean(t, e.Logs(), append(tokenSecrets(toks...), clerktest.SecretKey)...)
}

func TestAuthJWKSKeyRotation(t *testing.T) {
	oldKey, newKey := apitest.Key(t), rotKey()
	fake := clerktest.New(t, oldKey)
	e, _ := jwksEnv(t, fake.URL())

	decodeMe(t, e.Get("/api/auth/me", mintWith(t, oldKey, devtoken.Options{})))

	// Clerk publishes the new key next to the old one; the first token of
	// the new key refreshes the set once.
	fake.SetKeys(oldKey, newKey)
	r := e.Get("/api/auth/me", mintWith(t, newKey, devtoken.Options{Name: "Rotated"}))
	u := decodeMe(t, r)
	if u.Name != "Rotated" {
		t.Errorf("name = %q", u.Name)
	}
	if got := fake.JWKSFetches(); got != 2 {
		t.Errorf("JWKS fetches = %d, want 2 (initial + one refresh for the new kid)", got)
	}
	// Both keys are accepted during the rotation, without more fetches.
	decodeMe(t, e.Get("/api/auth/me", mintWith(t, oldKey, devtoken.Options{})))
	decodeMe(t, e.Get("/api/auth/me", mintWith(t, newKey, devtoken.Options{})))
	if got := fake.JWKSFetches(); got != 2 {
		t.Errorf("JWKS fetches = %d after using cached keys, want 2", got)
	}
}

func TestAuthJWKSUnavailableColdCache(t *testing.T) {
	key := apitest.Key(t)
	t.Run("JWKS endpoint answers 500", func(t *testing.T) {
		fake := clerktest.New(t, key)
		fake.SetJWKSStatus(http.StatusInternalServerError)
		e, _ := jwksEnv(t, fake.URL())
		tok := mintWith(t, key, devtoken.Options{})
		r := e.Get("/api/auth/me", tok)
		wantError(t, r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
		if r.Header.Get("WWW-Authenticate") != "" {
			t.Errorf("503 carries WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
		}
		// Once Clerk is back, the empty cache fetches again and the token works.
		fake.SetJWKSStatus(http.StatusOK)
		decodeMe(t, e.Get("/api/auth/me", tok))
	})
	t.Run("JWKS endpoint unreachable", func(t *testing.T) {
		gone := clerktest.New(t)
		gone.Close()
		e, _ := jwksEnv(t, gone.URL())
		r := e.Get("/api/auth/me", mintWith(t, key, devtoken.Options{}))
		wantError(t, r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	})
}

// ---------------------------------------------------------------------------
// User resolution and provisioning
// ---------------------------------------------------------------------------

func TestAuthProvisionFromClaims(t *testing.T) {
	for _, gatingOff := range []bool{false, true} {
		t.Run(fmt.Sprintf("PLGGatingOff=%v", gatingOff), func(t *testing.T) {
			e := apitest.New(t, apitest.Options{PLGGatingOff: gatingOff})
			sub := "user_" + uniq("claims")
			tok := e.Mint(devtoken.Options{Subject: sub, Email: "  Ada.Lovelace@Example.COM ", Name: "Ada Lovelace", TTL: time.Minute})
			u := decodeMe(t, e.Get("/api/auth/me", tok))
			if u.ClerkID != sub || u.Email != "ada.lovelace@example.com" || u.Name != "Ada Lovelace" {
				t.Errorf("user = %+v; want clerk_id %s, lower-cased email, name from the claim", u, sub)
			}
			if u.AvatarURL != nil || u.IsFounder || u.IsAdmin {
				t.Errorf("user = %+v; want no avatar, not founder, not admin", u)
			}
			if gatingOff {
				if u.AccessStatus != "active" || !u.HasProductAccess || u.ActivatedAt == nil {
					t.Errorf("gating off: access_status %q, has_product_access %v, activated_at %v; want active/true/set",
						u.AccessStatus, u.HasProductAccess, u.ActivatedAt)
				}
			} else {
				if u.AccessStatus != "pending" || u.HasProductAccess || u.ActivatedAt != nil {
					t.Errorf("gating on: access_status %q, has_product_access %v, activated_at %v; want pending/false/null",
						u.AccessStatus, u.HasProductAccess, u.ActivatedAt)
				}
			}
			// A second request finds the same user.
			again := decodeMe(t, e.Get("/api/auth/me", tok))
			if again.ID != u.ID || again.ReferralCode != u.ReferralCode {
				t.Errorf("second request: %+v, first %+v", again, u)
			}
			if n := countUsers(t, e, sub); n != 1 {
				t.Errorf("rows = %d, want 1", n)
			}

			// No name claim: the email's local part.
			tok2 := e.Mint(devtoken.Options{Subject: "user_" + uniq("claims"), Email: "grace@example.com", TTL: time.Minute})
			if u2 := decodeMe(t, e.Get("/api/auth/me", tok2)); u2.Name != "grace" || u2.ReferralCode == u.ReferralCode {
				t.Errorf("user without a name claim = %+v; want name grace and its own referral code", u2)
			}
			assertLogsClean(t, e.Logs(), tokenSecrets(tok, tok2)...)
		})
	}
}

func TestAuthProvisionFromClaimsNeedsEmail(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	for name, email := range map[string]string{"no email claim": "", "malformed email claim": "not an email", "display-name form": "Ada <ada@example.com>"} {
		t.Run(name, func(t *testing.T) {
			sub := "user_" + uniq("noemail")
			r := e.Get("/api/auth/me", e.Mint(devtoken.Options{Subject: sub, Email: email, Name: "No Email", TTL: time.Minute}))
			assertUnauthorized(t, r, true)
			if n := countUsers(t, e, sub); n != 0 {
				t.Errorf("rows = %d, want 0", n)
			}
		})
	}
}

func TestAuthProvisionFromClerkAPI(t *testing.T) {
	fake := clerktest.New(t)
	e := apitest.New(t, apitest.Options{ClerkAPIURL: fake.URL()})
	upd := time.Now().Add(-time.Minute).Truncate(time.Millisecond)

	cases := []struct {
		name                  string
		user                  clerktest.User
		email, display, image string
	}{
		{name: "primary chosen by id, first and last name, image",
			user:  clerktest.User{Emails: clerktest.Emails("old@example.com", "Ada@Example.COM"), Primary: 1, FirstName: "Ada", LastName: "Lovelace", Username: "ada", ImageURL: "https://img.clerk.com/ada.png"},
			email: "ada@example.com", display: "Ada Lovelace", image: "https://img.clerk.com/ada.png"},
		{name: "first name only",
			user:  clerktest.User{Emails: clerktest.Emails("first@example.com"), FirstName: "Grace", Username: "gh"},
			email: "first@example.com", display: "Grace"},
		{name: "last name only",
			user:  clerktest.User{Emails: clerktest.Emails("last@example.com"), LastName: "Hopper"},
			email: "last@example.com", display: "Hopper"},
		{name: "username fallback",
			user:  clerktest.User{Emails: clerktest.Emails("user@example.com"), Username: "alan_t"},
			email: "user@example.com", display: "alan_t"},
		{name: "email local-part fallback",
			user:  clerktest.User{Emails: clerktest.Emails("b@example.com", "Local.Part@Example.com"), Primary: 1},
			email: "local.part@example.com", display: "local.part"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := tc.user
			u.ID = "user_" + uniq("api")
			u.UpdatedAt = upd
			fake.AddUser(u)
			// The token's claims disagree with Clerk: Clerk wins.
			tok := e.Mint(devtoken.Options{Subject: u.ID, Email: "claims@example.com", Name: "Claims Name", TTL: time.Minute})
			got := decodeMe(t, e.Get("/api/auth/me", tok))
			if got.ClerkID != u.ID || got.Email != tc.email || got.Name != tc.display {
				t.Errorf("user = %+v; want email %q, name %q", got, tc.email, tc.display)
			}
			if tc.image == "" && got.AvatarURL != nil || tc.image != "" && (got.AvatarURL == nil || *got.AvatarURL != tc.image) {
				t.Errorf("avatar_url = %v, want %q", got.AvatarURL, tc.image)
			}
			if got.AccessStatus != "pending" || got.HasProductAccess {
				t.Errorf("access = %q/%v, want pending/false", got.AccessStatus, got.HasProductAccess)
			}
			row, err := e.Store.UserByClerkID(context.Background(), u.ID)
			if err != nil {
				t.Fatal(err)
			}
			if row.ClerkUpdatedAt == nil || !row.ClerkUpdatedAt.Equal(upd) {
				t.Errorf("clerk_updated_at = %v, want %v", row.ClerkUpdatedAt, upd)
			}
		})
	}
	if fake.BadAuth() != 0 {
		t.Error("a Backend API call did not carry the secret key")
	}

	// Failures of Clerk.
	failures := []struct {
		name   string
		setup  func(id string)
		status int
		code   string
	}{
		{"Clerk 404", func(string) {}, 401, "UNAUTHORIZED"},
		{"Clerk 404 with a non-JSON body", func(id string) { fake.SetUserRaw(id, 404, "<html>not found</html>") }, 401, "UNAUTHORIZED"},
		{"user without email", func(id string) { fake.AddUser(clerktest.User{ID: id, FirstName: "No", LastName: "Mail"}) }, 401, "UNAUTHORIZED"},
		{"primary id matching no address", func(id string) {
			obj := clerktest.User{ID: id, Emails: clerktest.Emails("x@example.com")}.Object()
			obj["primary_email_address_id"] = "idn_gone"
			fake.SetUserRaw(id, http.StatusOK, mustJSON(obj))
		}, 401, "UNAUTHORIZED"},
		{"Clerk 500", func(id string) { fake.FailUser(id, 500) }, 503, "SERVICE_UNAVAILABLE"},
		{"Clerk 502 with a non-JSON body", func(id string) { fake.SetUserRaw(id, 502, "<html>bad gateway</html>") }, 503, "SERVICE_UNAVAILABLE"},
		{"Clerk 429", func(id string) { fake.FailUser(id, 429) }, 503, "SERVICE_UNAVAILABLE"},
	}
	for _, tc := range failures {
		t.Run(tc.name, func(t *testing.T) {
			id := "user_" + uniq("fail")
			tc.setup(id)
			r := e.Get("/api/auth/me", e.Mint(devtoken.Options{Subject: id, Email: "claims@example.com", TTL: time.Minute}))
			if tc.status == 401 {
				assertUnauthorized(t, r, true)
			} else {
				wantError(t, r, tc.status, tc.code)
			}
			if n := countUsers(t, e, id); n != 0 {
				t.Errorf("rows = %d, want 0", n)
			}
		})
	}
	t.Run("Clerk recovers after a 503", func(t *testing.T) {
		u := clerktest.User{ID: "user_" + uniq("recover"), Emails: clerktest.Emails("back@example.com")}
		fake.FailUser(u.ID, 503)
		tok := e.Mint(devtoken.Options{Subject: u.ID, TTL: time.Minute})
		wantError(t, e.Get("/api/auth/me", tok), 503, "SERVICE_UNAVAILABLE")
		fake.AddUser(u) // replaces the failure
		if got := decodeMe(t, e.Get("/api/auth/me", tok)); got.Email != "back@example.com" {
			t.Errorf("email = %q", got.Email)
		}
	})
	assertLogsClean(t, e.Logs(), clerktest.SecretKey)
}

func TestAuthProvisionClerkUnreachable(t *testing.T) {
	gone := clerktest.New(t)
	gone.Close()
	e := apitest.New(t, apitest.Options{ClerkAPIURL: gone.URL()})
	id := "user_" + uniq("unreach")
	r := e.Get("/api/auth/me", e.Mint(devtoken.Options{Subject: id, Email: "claims@example.com", TTL: time.Minute}))
	wantError(t, r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	if n := countUsers(t, e, id); n != 0 {
		t.Errorf("rows = %d, want 0", n)
	}
}

// TestAuthConcurrentFirstRequests sends 20 first requests of one new user at
// once, split over two server instances on one database, so neither the
// in-process de-duplication nor luck can hide a second row.
func TestAuthConcurrentFirstRequests(t *testing.T) {
	for _, source := range []string{"claims", "clerk api"} {
		t.Run(source, func(t *testing.T) {
			opts := apitest.Options{}
			var fake *clerktest.Server
			if source == "clerk api" {
				fake = clerktest.New(t)
				fake.SetUserDelay(20 * time.Millisecond)
				opts.ClerkAPIURL = fake.URL()
			}
			e := apitest.New(t, opts)
			second := apitest.NewOn(t, e, opts)

			sub := "user_" + uniq("conc")
			if fake != nil {
				fake.AddUser(clerktest.User{ID: sub, Emails: clerktest.Emails("conc@example.com"), FirstName: "Con", LastName: "Current"})
			}
			tok := e.Mint(devtoken.Options{Subject: sub, Email: "conc@example.com", Name: "Con Current", TTL: time.Minute})
			const n = 20
			res := apitest.Race(n, func(i int) *apitest.Response {
				if i%2 == 0 {
					return e.Get("/api/auth/me", tok)
				}
				return second.Get("/api/auth/me", tok)
			})
			var id string
			for i, r := range res {
				if r.Status != http.StatusOK {
					t.Errorf("request %d: status %d: %s", i, r.Status, r.Body)
					continue
				}
				var u meUser
				r.JSON(t, &u)
				if id == "" {
					id = u.ID
				} else if u.ID != id {
					t.Errorf("request %d saw user %s, another saw %s", i, u.ID, id)
				}
			}
			if got := countUsers(t, e, sub); got != 1 {
				t.Errorf("rows in users = %d, want exactly 1", got)
			}
		})
	}
}

func TestAuthTombstonedUserIs401Forever(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	email := "gone@example.com"
	sub := devtoken.SubjectForEmail(email)
	tok := e.Token(email)
	decodeMe(t, e.Get("/api/auth/me", tok))

	if r := e.Deliver(uniq("msg_"), apitest.DeletedEvent(sub, time.Now())); r.Status != 200 {
		t.Fatalf("user.deleted: %d %s", r.Status, r.Body)
	}
	for range 3 {
		assertUnauthorized(t, e.Get("/api/auth/me", tok), true)
		// A workspace route reads the caller with the workspace: the
		// tombstone is refused there too (401, not an outsider's 403).
		assertUnauthorized(t, e.Get("/api/workspaces/"+uuid.NewString(), tok), true)
		// A fresh token with claims does not re-provision the user.
		assertUnauthorized(t, e.Get("/api/auth/me", e.Token(email)), true)
	}
	// Nor does a late user.created.
	if r := e.Deliver(uniq("msg_"), apitest.UserEvent("user.created", sub, email, "Gone", "Again", time.Now())); r.Status != 200 {
		t.Fatalf("late user.created: %d %s", r.Status, r.Body)
	}
	assertUnauthorized(t, e.Get("/api/auth/me", tok), true)
	if n := countUsers(t, e, sub); n != 1 {
		t.Errorf("rows = %d, want the one tombstone", n)
	}
	assertLogsClean(t, e.Logs(), append(tokenSecrets(tok), e.WebhookSecret, strings.TrimPrefix(e.WebhookSecret, "whsec_"))...)
}

// TestAuthProvisionsOnAWorkspaceRoute: a new subject's first request may be
// a workspace route; the user is provisioned there too (once), and is an
// outsider of that workspace (403, not 401).
func TestAuthProvisionsOnAWorkspaceRoute(t *testing.T) {
	e := apitest.New(t, apitest.Options{RateLimits: httpapi.RateLimits{Limiter: ratelimit.NewLocal(nil)}})
	for _, email := range []string{"first-ws@example.com", "second-ws@example.com"} {
		r := e.Get("/api/workspaces/"+uuid.NewString(), e.Token(email))
		wantError(t, r, http.StatusForbidden, "FORBIDDEN")
		if n := countUsers(t, e, devtoken.SubjectForEmail(email)); n != 1 {
			t.Fatalf("%s: rows = %d, want the one provisioned user", email, n)
		}
		// The request is counted as the new user's own: the caller the
		// chain goes on with is the provisioned row, not a blank one.
		if h := rlParse(t, r); h.Remaining != h.Limit-1 {
			t.Fatalf("%s: X-RateLimit-Remaining %d of %d on the first request, want %d", email, h.Remaining, h.Limit, h.Limit-1)
		}
		decodeMe(t, e.Get("/api/auth/me", e.Token(email)))
	}
}

func TestAuthTombstonedUserWithClerkAPI(t *testing.T) {
	// Clerk still answers (deletion not yet propagated): the tombstone wins.
	fake := clerktest.New(t)
	e := apitest.New(t, apitest.Options{ClerkAPIURL: fake.URL()})
	sub := "user_" + uniq("gone")
	fake.AddUser(clerktest.User{ID: sub, Emails: clerktest.Emails("gone@example.com")})
	if r := e.Deliver(uniq("msg_"), apitest.DeletedEvent(sub, time.Now())); r.Status != 200 {
		t.Fatalf("user.deleted: %d %s", r.Status, r.Body)
	}
	assertUnauthorized(t, e.Get("/api/auth/me", e.Mint(devtoken.Options{Subject: sub, TTL: time.Minute})), true)
	row, err := e.Store.UserByClerkID(context.Background(), sub)
	if err != nil || row.DeletedAt == nil || row.Email != "" {
		t.Errorf("row = %+v, %v; want the scrubbed tombstone", row, err)
	}
}

func TestAuthSuspendedUser(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	email := "suspended@example.com"
	tok := e.Token(email)
	decodeMe(t, e.Get("/api/auth/me", tok))
	if _, err := e.Store.AdministerUser(context.Background(), store.Suspend, store.ByEmail(email)); err != nil {
		t.Fatal(err)
	}
	u := decodeMe(t, e.Get("/api/auth/me", tok))
	if u.AccessStatus != "suspended" {
		t.Errorf("access_status = %q, want suspended", u.AccessStatus)
	}
	for _, req := range []apitest.Request{
		{Method: http.MethodGet, Path: "/api/workspaces"},
		{Method: http.MethodPost, Path: "/api/workspaces", Body: map[string]any{"name": "Acme"}},
		{Method: http.MethodPost, Path: "/api/access-codes/redeem", Body: map[string]any{"code": "PRAXIOM-AAAAAA"}},
		{Method: http.MethodGet, Path: "/api/workspaces/00000000-0000-0000-0000-000000000000"},
	} {
		t.Run(req.Method+" "+req.Path, func(t *testing.T) {
			req.Token = tok
			wantError(t, e.Do(req), http.StatusForbidden, "ACCOUNT_SUSPENDED")
		})
	}
	// Unsuspended, the user is active again.
	if _, err := e.Store.AdministerUser(context.Background(), store.Unsuspend, store.ByEmail(email)); err != nil {
		t.Fatal(err)
	}
	if u := decodeMe(t, e.Get("/api/auth/me", tok)); u.AccessStatus != "active" {
		t.Errorf("after unsuspend: access_status = %q, want active", u.AccessStatus)
	}
}

// ---------------------------------------------------------------------------

// deadDatabaseURL returns a PostgreSQL URL on a loopback port where nothing
// listens.
func deadDatabaseURL(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "postgres://praxiom:secret@" + addr + "/praxiom?sslmode=disable"
}
