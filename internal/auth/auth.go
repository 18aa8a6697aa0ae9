// Package auth verifies Clerk session tokens (README, "The auth chain"). It
// knows no database and no HTTP routing: the HTTP layer extracts the bearer
// token with ParseBearer, calls a TokenVerifier (a Verifier, usually behind
// a CachedVerifier) and maps ErrInvalidToken to 401 (ErrPendingSession with
// its own message) and ErrUnavailable to 503.
package auth

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	clerkjwt "github.com/clerk/clerk-sdk-go/v2/jwt"
)

// MaxTokenLength is the longest token Verify looks at (16 KiB); longer ones
// are rejected before any parsing.
const MaxTokenLength = 16 << 10

// maxKIDLength bounds the kid header so that remembered unknown kids stay
// small; Clerk's key IDs are a few dozen characters.
const maxKIDLength = 256

// algRS256 is the only accepted signing algorithm.
const algRS256 = "RS256"

// ErrInvalidToken is wrapped by every rejection of a token (answer 401).
var ErrInvalidToken = errors.New("auth: invalid token")

// ErrPendingSession is returned for a validly signed session token whose
// sts claim is "pending": a session with unfinished tasks (a forced password
// reset, MFA set-up) counts as signed out. It wraps ErrInvalidToken (answer
// 401, saying that the session is pending).
var ErrPendingSession = fmt.Errorf("%w: session is pending", ErrInvalidToken)

// ErrUnavailable is returned when the JWKS could not be fetched and no
// usable key is cached (answer 503).
var ErrUnavailable = errors.New("auth: key set unavailable")

// TokenVerifier turns a bearer token into verified claims. *Verifier and
// *CachedVerifier implement it; the HTTP layer depends on it.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (Claims, error)
}

// Claims are the verified claims of a Clerk session token.
type Claims struct {
	// Subject is sub, a Clerk user ID matching ^user_[A-Za-z0-9]{1,64}$.
	Subject string
	// Issuer, AuthorizedParty and SessionID are iss, azp and sid
	// (SessionID is never empty).
	Issuer, AuthorizedParty, SessionID string
	// Email and Name are the optional custom claims "email" and "name",
	// used to provision users when no Clerk secret key is configured. They
	// never contain U+0000.
	Email, Name string
	// Impersonator is act.sub, the Clerk user who impersonates Subject;
	// empty when the session is not impersonated.
	Impersonator string
	Expiry       time.Time
}

// Config configures a Verifier. Either JWTKeyPEM, or APIURL and SecretKey,
// must be set; JWTKeyPEM wins when both are.
type Config struct {
	// JWTKeyPEM is CLERK_JWT_KEY, a PEM "PUBLIC KEY" (RSA). When set,
	// verification is networkless: the kid is ignored and no JWKS is fetched.
	JWTKeyPEM string
	// APIURL is CLERK_API_URL, e.g. "https://api.clerk.com/v1"; the JWKS is
	// fetched from APIURL+"/jwks".
	APIURL string
	// SecretKey is CLERK_SECRET_KEY, sent as bearer to the JWKS endpoint.
	SecretKey string
	// Issuer is CLERK_ISSUER: when non-empty, iss must equal it exactly.
	Issuer string
	// AuthorizedParties is CLERK_AUTHORIZED_PARTIES: when non-empty, a
	// present azp must be one of them; tokens without azp pass.
	AuthorizedParties []string
	// Leeway is CLERK_CLOCK_SKEW, applied to exp, nbf and iat as given
	// (0 allowed; negative is an error).
	Leeway time.Duration
	// HTTPClient is used for JWKS fetches; default a client with a 5s timeout.
	HTTPClient *http.Client
	// Now is the clock; default time.Now.
	Now func() time.Time
	// KeyTTL is how long a fetched key set is used before it is refreshed;
	// default 1h.
	KeyTTL time.Duration
	// UnknownKidPerKid allows at most one refresh per unknown kid per this
	// period; default 5m.
	UnknownKidPerKid time.Duration
	// UnknownKidGlobal allows at most one refresh caused by unknown kids,
	// across all kids, per this period; default 1m.
	UnknownKidGlobal time.Duration
	// Logger receives warnings (failed refreshes); it never sees tokens or
	// secrets. Default: discard.
	Logger *slog.Logger
	// OnJWKSFetch, when set, is called after every JWKS fetch attempt.
	OnJWKSFetch func(ok bool)
}

// Defaults applied by NewVerifier to zero Config fields.
const (
	DefaultHTTPTimeout      = 5 * time.Second
	DefaultKeyTTL           = time.Hour
	DefaultUnknownKidPerKid = 5 * time.Minute
	DefaultUnknownKidGlobal = time.Minute
)

// Verifier verifies Clerk session tokens. It is safe for concurrent use.
type Verifier struct {
	pemKey  *clerk.JSONWebKey // networkless mode when non-nil
	keys    *keyCache         // JWKS mode when non-nil
	issuer  string
	parties map[string]struct{}
	leeway  time.Duration
	now     func() time.Time
}

// NewVerifier checks cfg and returns a Verifier. It fails when neither
// JWTKeyPEM nor both APIURL and SecretKey are set, or when JWTKeyPEM is not
// an RSA public key in PEM form.
func NewVerifier(cfg Config) (*Verifier, error) {
	if cfg.Leeway < 0 {
		return nil, errors.New("auth: negative leeway")
	}
	v := &Verifier{
		issuer: cfg.Issuer,
		leeway: cfg.Leeway,
		now:    cfg.Now,
	}
	if v.now == nil {
		v.now = time.Now
	}
	for _, p := range cfg.AuthorizedParties {
		if p = strings.TrimSpace(p); p != "" {
			if v.parties == nil {
				v.parties = make(map[string]struct{})
			}
			v.parties[p] = struct{}{}
		}
	}

	if strings.TrimSpace(cfg.JWTKeyPEM) != "" {
		jwk, err := clerk.JSONWebKeyFromPEM(cfg.JWTKeyPEM)
		if err != nil {
			return nil, fmt.Errorf("auth: parse CLERK_JWT_KEY: %w", err)
		}
		if _, ok := jwk.Key.(*rsa.PublicKey); !ok {
			return nil, errors.New("auth: parse CLERK_JWT_KEY: not an RSA public key")
		}
		jwk.Algorithm = algRS256
		v.pemKey = jwk
		return v, nil
	}

	if cfg.APIURL == "" || cfg.SecretKey == "" {
		return nil, errors.New("auth: need CLERK_JWT_KEY, or CLERK_API_URL and CLERK_SECRET_KEY")
	}
	u, err := url.Parse(cfg.APIURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("auth: CLERK_API_URL must be an absolute http(s) URL")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: DefaultHTTPTimeout}
	}
	v.keys = newKeyCache(keyCacheConfig{
		apiURL:     cfg.APIURL,
		secret:     cfg.SecretKey,
		httpClient: hc,
		now:        v.now,
		ttl:        orDefault(cfg.KeyTTL, DefaultKeyTTL),
		perKid:     orDefault(cfg.UnknownKidPerKid, DefaultUnknownKidPerKid),
		global:     orDefault(cfg.UnknownKidGlobal, DefaultUnknownKidGlobal),
		logger:     logger,
		onFetch:    cfg.OnJWKSFetch,
	})
	return v, nil
}

func orDefault(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

// nowFunc is a func as the SDK's clock (clerkjwt.VerifyParams.Clock).
type nowFunc func() time.Time

func (f nowFunc) Now() time.Time { return f() }

func invalid(reason string) error {
	return fmt.Errorf("%w: %s", ErrInvalidToken, reason)
}

// Verify checks token and returns its claims. Neither error message
// contains the token. It refuses with an error wrapping ErrInvalidToken a
// token that
//
//   - is empty, longer than MaxTokenLength, or not three base64url segments
//     (no padding, nothing else) joined by two dots: the JSON serialization
//     is refused;
//   - has a segment that is not canonical base64url (set trailing bits): a
//     token has one spelling;
//   - has a header or payload that is not one JSON object, or that holds a
//     member name twice, or a name that differs only by case from a
//     registered one (header alg, kid, typ, cat; claims exp, nbf, iat, iss,
//     sub, azp, sid, sts, act);
//   - has a header alg other than RS256, a kid that is not a string, a typ
//     other than "JWT" (an absent typ passes), or a cat other than a
//     session token's (cl_B7d4PD111AAA) or the uncategorized
//     cl_I7d4PD111III (an absent cat passes): JWT templates, M2M and OAuth
//     access tokens are not session tokens;
//   - has no sub, or a sub that does not match ^user_[A-Za-z0-9]{1,64}$;
//   - has no sid, or an empty or non-string one;
//   - has a non-string iss, azp or sts; an email or name that is neither a
//     string nor null, or that contains U+0000;
//   - has an act that is not an object with a non-empty string sub of at
//     most 128 characters without U+0000;
//   - in JWKS mode, has no kid, a kid over 256 bytes, or a kid the key set
//     does not hold (refreshes for unknown kids are rate-limited);
//   - is not signed by the key (PEM) or the key set's key for its kid;
//   - has no exp, or an exp, nbf or iat outside the leeway;
//   - has an iss other than Config.Issuer (when set), or an azp outside
//     Config.AuthorizedParties (when set; a token without azp passes);
//   - has sts "pending": then the error is ErrPendingSession (checked last,
//     so only a genuine token says its session is pending).
//
// Everything above the kid needs no key and is checked before any key is
// looked up, so junk costs no JWKS fetch. A key set that cannot be
// obtained yields ErrUnavailable.
func (v *Verifier) Verify(ctx context.Context, token string) (Claims, error) {
	if len(token) > MaxTokenLength {
		return Claims{}, invalid("token too large")
	}
	if token == "" {
		return Claims{}, invalid("empty token")
	}
	if !isCompactJWS(token) {
		return Claims{}, invalid("not a compact JWS")
	}
	headerSeg, payloadSeg, sigSeg := splitCompact(token)
	if !canonicalSegment(sigSeg) {
		return Claims{}, invalid("signature is not canonical base64url")
	}
	hdr, err := parseHeader(headerSeg)
	if err != nil {
		return Claims{}, err
	}
	if hdr.alg != algRS256 {
		return Claims{}, invalid("unsupported alg")
	}
	claims, err := parsePayload(payloadSeg)
	if err != nil {
		return Claims{}, err
	}

	jwk := v.pemKey
	if jwk == nil {
		if hdr.kid == "" {
			return Claims{}, invalid("missing kid")
		}
		if len(hdr.kid) > maxKIDLength {
			return Claims{}, invalid("kid too long")
		}
		jwk, err = v.keys.get(ctx, hdr.kid)
		if err != nil {
			return Claims{}, err
		}
	}

	// The SDK parses the token in full, checks alg against the key's and
	// the signature, then the time claims.
	sc, err := clerkjwt.Verify(ctx, &clerkjwt.VerifyParams{
		Token:       token,
		JWK:         jwk,
		Clock:       nowFunc(func() time.Time { return v.now().UTC() }),
		Leeway:      v.leeway,
		IsSatellite: true, // skip the SDK's issuer shape check; exact check below
	})
	if err != nil {
		return Claims{}, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if sc.Expiry == nil {
		return Claims{}, invalid("missing exp")
	}
	// The strict decode refused duplicates and case variants, so the SDK
	// read the same sub, iss and azp as parsePayload; compare anyway, so a
	// future difference between the two decoders cannot go unnoticed.
	if sc.Subject != claims.sub || sc.Issuer != claims.iss || sc.AuthorizedParty != claims.azp || sc.SessionID != claims.sid {
		return Claims{}, invalid("claims decode differently")
	}
	if v.issuer != "" && claims.iss != v.issuer {
		return Claims{}, invalid("unexpected iss")
	}
	if v.parties != nil && claims.azp != "" {
		if _, ok := v.parties[claims.azp]; !ok {
			return Claims{}, invalid("azp not allowed")
		}
	}
	if claims.sts == "pending" {
		return Claims{}, ErrPendingSession
	}
	return Claims{
		Subject:         claims.sub,
		Issuer:          claims.iss,
		AuthorizedParty: claims.azp,
		SessionID:       claims.sid,
		Email:           claims.email,
		Name:            claims.name,
		Impersonator:    claims.actor,
		Expiry:          time.Unix(*sc.Expiry, 0).UTC(),
	}, nil
}

// isCompactJWS reports whether s has the compact JWS shape: three
// base64url segments separated by exactly two dots (the signature segment
// non-empty). go-jose would also accept the JSON serialization, which may
// carry several signatures and unprotected headers; Clerk never sends it.
func isCompactJWS(s string) bool {
	dots := 0
	last := -1
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '.':
			if i == last+1 { // empty segment
				return false
			}
			dots++
			if dots > 2 {
				return false
			}
			last = i
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return dots == 2 && last < len(s)-1
}

// ParseBearer extracts the token from an Authorization header value.
// present reports whether a header was sent at all; ok reports whether it is
// the "Bearer" scheme (any case) followed by one or more spaces and a
// non-empty token without spaces.
func ParseBearer(authorizationHeader string) (token string, present bool, ok bool) {
	h := strings.TrimSpace(authorizationHeader)
	if h == "" {
		return "", false, false
	}
	const scheme = "bearer"
	if len(h) <= len(scheme) || !strings.EqualFold(h[:len(scheme)], scheme) || h[len(scheme)] != ' ' {
		return "", true, false
	}
	token = strings.TrimLeft(h[len(scheme):], " ")
	// Two byte searches, vectorised: ContainsAny walks a ~730-byte JWT a
	// byte at a time.
	if token == "" || strings.IndexByte(token, ' ') >= 0 || strings.IndexByte(token, '\t') >= 0 {
		return "", true, false
	}
	return token, true, true
}
