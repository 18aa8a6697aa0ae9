package auth_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/auth"
	"github.com/praxiom/praxiom-api/internal/clerktest"
	"github.com/praxiom/praxiom-api/internal/devtoken"
)

// Hostile tokens: validly signed by the key the verifier trusts, yet not
// in the one spelling of a Clerk session token, or not a session token.
// Every refusal here was accepted by the verifier before these rules,
// unless its name says "already refused": go-jose refused duplicate member
// names and a signature over another spelling, but only after the key
// lookup (a JWKS fetch); now they are refused before it.

// outcome is what Verify must answer.
type outcome int

const (
	refused outcome = iota // ErrInvalidToken, not ErrPendingSession
	accepted
	pending // ErrPendingSession
)

// hostileCase is one token. Unless token is set, it is header and payload
// (raw JSON) signed with keyA.
type hostileCase struct {
	name            string
	header, payload string
	token           func(t *testing.T) string
	want            outcome
	// afterKey: refused (or accepted) only after the key lookup; all other
	// refusals cost no JWKS fetch.
	afterKey bool
	check    func(t *testing.T, c auth.Claims)
}

// stdHeader is the header of a Clerk session token signed with keyA, with
// extra members appended (raw JSON, with a leading comma).
func stdHeader(extra string) string {
	return `{"alg":"RS256","kid":"` + keyA().KID + `","typ":"JWT"` + extra + `}`
}

// baseClaims are the members of a valid session token at t0 except sub.
func baseClaims() string {
	return fmt.Sprintf(`"iss":%q,"azp":%q,"sid":"sess_1","iat":%d,"nbf":%d,"exp":%d,"v":2`,
		devIssuer, webAZP, t0.Unix(), t0.Add(-5*time.Second).Unix(), t0.Add(time.Minute).Unix())
}

// claims is a session token payload with sub user_2abc and extra members
// (raw JSON, with a leading comma).
func claims(extra string) string {
	return `{"sub":"user_2abc",` + baseClaims() + extra + `}`
}

// claimsWithout is claims with the member name removed from the base.
func claimsWithout(name, extra string) string {
	var kept []string
	for _, m := range strings.Split(`"sub":"user_2abc",`+baseClaims(), ",") {
		if !strings.HasPrefix(m, `"`+name+`":`) {
			kept = append(kept, m)
		}
	}
	return "{" + strings.Join(kept, ",") + extra + "}"
}

var enc = base64.RawURLEncoding.EncodeToString

// canonicalOdd returns the base64url encoding of the JSON object s, with
// spaces added before its closing brace until the encoding has unused
// trailing bits (its length is not a multiple of 4).
func canonicalOdd(s string) string {
	for len(enc([]byte(s)))%4 == 0 {
		s = s[:len(s)-1] + " }"
	}
	return enc([]byte(s))
}

func hostileCases() []hostileCase {
	long := func(n int) string { return strings.Repeat("a", n) }
	cases := []hostileCase{
		// The reference: the raw JSON helpers make a valid token.
		{name: "reference token", header: stdHeader(""), payload: claims(""), want: accepted, afterKey: true,
			check: func(t *testing.T, c auth.Claims) {
				if c.Subject != "user_2abc" || c.SessionID != "sess_1" || c.Impersonator != "" {
					t.Errorf("claims = %+v", c)
				}
			}},

		// One spelling: base64url.
		{name: "signature with set trailing bits", token: func(t *testing.T) string {
			tok := signRaw(t, keyA(), stdHeader(""), claims(""))
			i := strings.LastIndexByte(tok, '.')
			return tok[:i+1] + nonCanonicalSegment(tok[i+1:])
		}},
		// go-jose checks the signature over the canonical re-encoding of
		// what it decoded, so another spelling of a signed token verifies.
		{name: "header with set trailing bits", token: func(t *testing.T) string {
			parts := strings.Split(signSegments(t, keyA(), canonicalOdd(stdHeader("")), enc([]byte(claims("")))), ".")
			parts[0] = nonCanonicalSegment(parts[0])
			return strings.Join(parts, ".")
		}},
		{name: "payload with set trailing bits", token: func(t *testing.T) string {
			parts := strings.Split(signSegments(t, keyA(), enc([]byte(stdHeader(""))), canonicalOdd(claims(""))), ".")
			parts[1] = nonCanonicalSegment(parts[1])
			return strings.Join(parts, ".")
		}},
		{name: "header with set trailing bits, signed as sent (already refused)", token: func(t *testing.T) string {
			return signSegments(t, keyA(), nonCanonicalSegment(canonicalOdd(stdHeader(""))), enc([]byte(claims(""))))
		}},
		{name: "payload with set trailing bits, signed as sent (already refused)", token: func(t *testing.T) string {
			return signSegments(t, keyA(), enc([]byte(stdHeader(""))), nonCanonicalSegment(canonicalOdd(claims(""))))
		}},
		{name: "signature one character too long (already refused)", afterKey: true, token: func(t *testing.T) string {
			return signRaw(t, keyA(), stdHeader(""), claims("")) + "A"
		}},

		// One spelling: member names in the payload.
		{name: "duplicate sub (already refused)", payload: claims(`,"sub":"user_evil"`)},
		{name: "duplicate sub, escaped (already refused)", payload: claims(`,"s\u0075b":"user_evil"`)},
		{name: "duplicate exp (already refused)", payload: claims(fmt.Sprintf(`,"exp":%d`, t0.Add(time.Hour).Unix()))},
		{name: "duplicate unregistered claim (already refused)", payload: claims(`,"email":"a@example.com","email":"b@example.com"`)},
		{name: "sub and SUB", payload: claims(`,"SUB":"user_evil"`)},
		{name: "sub and long-s sub (Unicode case folding)", payload: claims(`,"ſub":"user_evil"`)},
		{name: "Exp instead of exp", payload: strings.Replace(claims(""), `"exp"`, `"Exp"`, 1)},
		{name: "payload with trailing data (already refused)", payload: claims("") + `{}`},
		{name: "payload an array (already refused)", payload: `["user_2abc"]`},

		// One spelling: member names in the header.
		{name: "duplicate alg in the header (already refused)", header: stdHeader(`,"alg":"RS256"`), payload: claims("")},
		{name: "duplicate kid in the header (already refused)", header: stdHeader(`,"kid":"` + keyA().KID + `"`), payload: claims("")},
		{name: "ALG none next to alg", header: stdHeader(`,"ALG":"none"`), payload: claims("")},
		{name: "Kid next to kid", header: stdHeader(`,"Kid":"other"`), payload: claims("")},
		{name: "TYP next to typ", header: stdHeader(`,"TYP":"at+jwt"`), payload: claims("")},
		{name: "Cat in the header", header: stdHeader(`,"Cat":"cl_B7d4PD222AAA"`), payload: claims("")},
		{name: "header with trailing data (already refused)", header: stdHeader("") + `{"alg":"none"}`, payload: claims("")},
		{name: "alg not a string (already refused)", header: `{"alg":["RS256"],"kid":"` + keyA().KID + `"}`, payload: claims("")},
		{name: "unknown header members pass", header: stdHeader(`,"x5t":"abc","Foo":1`), payload: claims(""),
			want: accepted, afterKey: true},

		// Session tokens only: header.
		{name: "typ at+jwt (OAuth access token)", header: `{"alg":"RS256","kid":"` + keyA().KID + `","typ":"at+jwt"}`, payload: claims("")},
		{name: "typ jwt in lower case", header: `{"alg":"RS256","kid":"` + keyA().KID + `","typ":"jwt"}`, payload: claims("")},
		{name: "typ not a string", header: `{"alg":"RS256","kid":"` + keyA().KID + `","typ":1}`, payload: claims("")},
		{name: "no typ passes", header: `{"alg":"RS256","kid":"` + keyA().KID + `"}`, payload: claims(""),
			want: accepted, afterKey: true},
		{name: "cat of a JWT template", header: stdHeader(`,"cat":"cl_B7d4PD222AAA"`), payload: claims("")},
		{name: "cat of an M2M token", header: stdHeader(`,"cat":"cl_B7d4PD333AAA"`), payload: claims("")},
		{name: "unknown cat", header: stdHeader(`,"cat":"cl_B7d4PD999ZZZ"`), payload: claims("")},
		{name: "cat not a string", header: stdHeader(`,"cat":null`), payload: claims("")},
		{name: "cat of a session token passes", header: stdHeader(`,"cat":"cl_B7d4PD111AAA"`), payload: claims(""),
			want: accepted, afterKey: true},
		{name: "uncategorized cat passes", header: stdHeader(`,"cat":"cl_I7d4PD111III"`), payload: claims(""),
			want: accepted, afterKey: true},

		// Session tokens only: sid.
		{name: "no sid (JWT template)", payload: claimsWithout("sid", "")},
		{name: "empty sid", payload: claimsWithout("sid", `,"sid":""`)},
		{name: "sid not a string (already refused)", payload: claimsWithout("sid", `,"sid":1`)},

		// sub.
		{name: "machine sub", payload: claimsWithout("sub", `,"sub":"mch_2abc"`)},
		{name: "sub user_ alone", payload: claimsWithout("sub", `,"sub":"user_"`)},
		{name: "sub with a hyphen", payload: claimsWithout("sub", `,"sub":"user_2abc-def"`)},
		{name: "sub with a second underscore", payload: claimsWithout("sub", `,"sub":"user_dev_2abc"`)},
		{name: "sub with a slash (path traversal)", payload: claimsWithout("sub", `,"sub":"user_2abc/../../sessions"`)},
		{name: "sub with U+0000", payload: claimsWithout("sub", `,"sub":"user_2abc\u0000"`)},
		{name: "sub with a non-ASCII letter", payload: claimsWithout("sub", `,"sub":"user_2äbc"`)},
		{name: "sub USER_ in capitals", payload: claimsWithout("sub", `,"sub":"USER_2abc"`)},
		{name: "sub with a trailing newline", payload: claimsWithout("sub", `,"sub":"user_2abc\n"`)},
		{name: "sub of 65 characters after user_", payload: claimsWithout("sub", `,"sub":"user_`+long(65)+`"`)},
		{name: "sub of 64 characters after user_ passes", payload: claimsWithout("sub", `,"sub":"user_`+long(64)+`"`),
			want: accepted, afterKey: true},
		{name: "sub a number (already refused)", payload: claimsWithout("sub", `,"sub":12`)},
		{name: "sub null (already refused)", payload: claimsWithout("sub", `,"sub":null`)},

		// Other claims.
		{name: "email with U+0000", payload: claims(`,"email":"ada@example.com\u0000"`)},
		{name: "name with U+0000", payload: claims(`,"name":"Ada\u0000Lovelace"`)},
		{name: "null email and name pass", payload: claims(`,"email":null,"name":null`), want: accepted, afterKey: true,
			check: func(t *testing.T, c auth.Claims) {
				if c.Email != "" || c.Name != "" {
					t.Errorf("email, name = %q, %q", c.Email, c.Name)
				}
			}},
		{name: "iss not a string (already refused)", payload: claimsWithout("iss", `,"iss":1`)},
		{name: "azp not a string (already refused)", payload: claimsWithout("azp", `,"azp":["a"]`)},
		{name: "sts not a string", payload: claims(`,"sts":1`)},

		// Pending sessions.
		{name: "sts pending", payload: claims(`,"sts":"pending"`), want: pending, afterKey: true},
		{name: "sts active passes", payload: claims(`,"sts":"active"`), want: accepted, afterKey: true},
		{name: "sts pending, signed by another key: refused, not pending", want: refused, afterKey: true, token: func(t *testing.T) string {
			return signRaw(t, keyOther(), stdHeader(""), claims(`,"sts":"pending"`))
		}},
		{name: "sts pending, expired: refused, not pending", want: refused, afterKey: true,
			payload: strings.Replace(claims(`,"sts":"pending"`), fmt.Sprint(t0.Add(time.Minute).Unix()), fmt.Sprint(t0.Add(-time.Minute).Unix()), 1)},

		// Impersonation.
		{name: "impersonated session passes", payload: claims(`,"act":{"sub":"user_admin1"}`), want: accepted, afterKey: true,
			check: func(t *testing.T, c auth.Claims) {
				if c.Subject != "user_2abc" || c.Impersonator != "user_admin1" {
					t.Errorf("subject, impersonator = %q, %q", c.Subject, c.Impersonator)
				}
			}},
		{name: "act with more members passes", payload: claims(`,"act":{"sub":"user_admin1","iss":"https://dashboard.clerk.com"}`),
			want: accepted, afterKey: true},
		{name: "act sub of 128 characters passes", payload: claims(`,"act":{"sub":"` + strings.Repeat("é", 128) + `"}`),
			want: accepted, afterKey: true},
		{name: "act a string", payload: claims(`,"act":"user_admin1"`)},
		{name: "act null", payload: claims(`,"act":null`)},
		{name: "act an array", payload: claims(`,"act":[{"sub":"user_admin1"}]`)},
		{name: "act without sub", payload: claims(`,"act":{}`)},
		{name: "act with an empty sub", payload: claims(`,"act":{"sub":""}`)},
		{name: "act sub a number", payload: claims(`,"act":{"sub":1}`)},
		{name: "act sub with U+0000", payload: claims(`,"act":{"sub":"user_admin\u0000"}`)},
		{name: "act sub of 129 characters", payload: claims(`,"act":{"sub":"` + long(129) + `"}`)},
		{name: "act with sub twice", payload: claims(`,"act":{"sub":"user_admin1","sub":"user_admin2"}`)},
		{name: "act with sub and SUB", payload: claims(`,"act":{"sub":"user_admin1","SUB":"user_admin2"}`)},
		{name: "Act next to act", payload: claims(`,"act":{"sub":"user_admin1"},"Act":{"sub":"user_admin2"}`)},
	}
	// Every registered claim in capitals, next to a valid token's claims,
	// with a value that would pass: encoding/json let it override the real
	// one.
	capitals := map[string]string{
		"EXP": fmt.Sprint(t0.Add(time.Hour).Unix()), "NBF": fmt.Sprint(t0.Add(-time.Hour).Unix()),
		"IAT": fmt.Sprint(t0.Unix()), "ISS": fmt.Sprintf("%q", devIssuer), "SUB": `"user_evil"`,
		"AZP": fmt.Sprintf("%q", webAZP), "SID": `"sess_2"`, "STS": `"active"`, "ACT": `{"sub":"user_admin1"}`,
	}
	for _, name := range []string{"EXP", "NBF", "IAT", "ISS", "SUB", "AZP", "SID", "STS", "ACT"} {
		cases = append(cases, hostileCase{
			name:    "claim " + name + " next to the others",
			payload: claims(`,"` + name + `":` + capitals[name]),
		})
	}
	return cases
}

// nonCanonicalSegment sets a trailing bit in the last character of seg, a
// canonical segment with unused bits: the same bytes, another spelling.
func nonCanonicalSegment(seg string) string {
	raw, err := base64.RawURLEncoding.Strict().DecodeString(seg)
	if err != nil || len(seg)%4 == 0 {
		panic("nonCanonicalSegment: not a canonical segment with trailing bits")
	}
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	e := []byte(seg)
	e[len(e)-1] = alphabet[strings.IndexByte(alphabet, e[len(e)-1])+1]
	if again, err := base64.RawURLEncoding.DecodeString(string(e)); err != nil || string(again) != string(raw) {
		panic("nonCanonicalSegment: the bytes changed")
	}
	return string(e)
}

func (tc hostileCase) build(t *testing.T) string {
	t.Helper()
	if tc.token != nil {
		return tc.token(t)
	}
	h := tc.header
	if h == "" {
		h = stdHeader("")
	}
	return signRaw(t, keyA(), h, tc.payload)
}

func checkOutcome(t *testing.T, tc hostileCase, c auth.Claims, err error) {
	t.Helper()
	switch tc.want {
	case accepted:
		if err != nil {
			t.Fatalf("Verify: %v, want success", err)
		}
		if tc.check != nil {
			tc.check(t, c)
		}
	case pending:
		if !errors.Is(err, auth.ErrPendingSession) || !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("Verify: %v, want ErrPendingSession wrapping ErrInvalidToken", err)
		}
	default:
		if !errors.Is(err, auth.ErrInvalidToken) {
			t.Fatalf("Verify: %v (claims %+v), want ErrInvalidToken", err, c)
		}
		if errors.Is(err, auth.ErrPendingSession) || errors.Is(err, auth.ErrUnavailable) {
			t.Fatalf("Verify: %v, want a plain ErrInvalidToken", err)
		}
	}
	if err != nil && c != (auth.Claims{}) {
		t.Errorf("claims = %+v on error, want zero", c)
	}
}

func TestHostileTokensPEM(t *testing.T) {
	v, err := auth.NewVerifier(auth.Config{JWTKeyPEM: keyA().PublicPEM(), Leeway: 5 * time.Second,
		Now: newClock().Now, Issuer: devIssuer, AuthorizedParties: []string{webAZP}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			tok := tc.build(t)
			c, err := v.Verify(context.Background(), tok)
			checkOutcome(t, tc, c, err)
			if err != nil && strings.Contains(err.Error(), strings.Split(tok, ".")[0]) {
				t.Errorf("error %q contains the token's header", err)
			}
		})
	}
}

// TestHostileTokensJWKS: the same through the JWKS cache; refusals that
// need no key cost no fetch.
func TestHostileTokensJWKS(t *testing.T) {
	for _, tc := range hostileCases() {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := clerktest.New(t, keyA())
			v := newJWKSVerifier(t, f, newClock(), nil)
			c, err := v.Verify(context.Background(), tc.build(t))
			checkOutcome(t, tc, c, err)
			want := int64(0)
			if tc.afterKey {
				want = 1
			}
			if got := f.JWKSFetches(); got != want {
				t.Errorf("JWKS fetches = %d, want %d", got, want)
			}
		})
	}
}

// TestTokenKinds mints each devtoken kind and checks the real verifier's
// answer: only session tokens (impersonated ones included) pass.
func TestTokenKinds(t *testing.T) {
	v, err := auth.NewVerifier(auth.Config{JWTKeyPEM: keyA().PublicPEM(), Leeway: 5 * time.Second, Now: newClock().Now})
	if err != nil {
		t.Fatal(err)
	}
	wants := map[devtoken.Kind]outcome{
		devtoken.KindSession:      accepted,
		devtoken.KindTemplate:     refused,
		devtoken.KindM2M:          refused,
		devtoken.KindOAuth:        refused,
		devtoken.KindPending:      pending,
		devtoken.KindImpersonated: accepted,
	}
	for _, kind := range devtoken.Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			o, err := kind.Apply(devtoken.Options{Subject: devtoken.SubjectForEmail("ada@example.com"), Email: "ada@example.com"})
			if err != nil {
				t.Fatal(err)
			}
			c, err := v.Verify(context.Background(), mint(t, keyA(), o))
			want, ok := wants[kind]
			if !ok {
				t.Fatalf("no expectation for kind %q", kind)
			}
			checkOutcome(t, hostileCase{want: want}, c, err)
			if want == accepted {
				if c.Subject != devtoken.SubjectForEmail("ada@example.com") {
					t.Errorf("subject = %q", c.Subject)
				}
				wantImp := ""
				if kind == devtoken.KindImpersonated {
					wantImp = devtoken.DevImpersonator
				}
				if c.Impersonator != wantImp {
					t.Errorf("impersonator = %q, want %q", c.Impersonator, wantImp)
				}
			}
		})
	}
	// Each refused kind is refused for its own reason, not only because
	// another rule happens to catch it: the single-rule variants.
	single := map[string]devtoken.Options{
		"template cat with a sid": {Category: devtoken.CategoryTemplate},
		"m2m cat with a sid":      {Category: devtoken.CategoryM2M},
		"no sid, session cat":     {Category: devtoken.CategorySession, OmitSID: true},
	}
	for name, o := range single {
		t.Run(name, func(t *testing.T) {
			o.Subject = "user_2abc"
			_, err := v.Verify(context.Background(), mint(t, keyA(), o))
			checkOutcome(t, hostileCase{want: refused}, auth.Claims{}, err)
		})
	}
}
