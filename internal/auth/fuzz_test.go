package auth_test

// Fuzz targets for the bearer-token path: ParseBearer (the Authorization
// header) and a PEM-configured Verifier (the token itself). Their committed
// seed corpora live in testdata/fuzz/<FuzzName>/ and run as ordinary tests
// under `make test`; `make fuzz` mutates them for a bounded time.

import (
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/praxiom/praxiom-api/internal/auth"
	"github.com/praxiom/praxiom-api/internal/devtoken"
)

func FuzzParseBearer(f *testing.F) {
	for _, s := range []string{
		"", " ", "\t", "Bearer", "Bearer ", "Bearer  ", "bearer abc", "BEARER abc",
		"Bearer abc", "Bearer   abc  ", "  Bearer abc", "Bearer a b", "Bearer a\tb",
		"Bearer\tabc", "Bearerabc", "Basic dXNlcjpwdw==", "Bearer eyJhbGciOiJSUzI1NiJ9.e30.c2ln",
		"Bearer \u00a0abc", "Bearer abc\u00a0", "Bearer \nabc", "Bëarer abc", "Bearer \x00",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		token, present, ok := auth.ParseBearer(header)
		if present != (strings.TrimSpace(header) != "") {
			t.Fatalf("ParseBearer(%q): present=%v", header, present)
		}
		if !ok {
			if token != "" {
				t.Fatalf("ParseBearer(%q): not ok but token %q", header, token)
			}
			return
		}
		if !present {
			t.Fatalf("ParseBearer(%q): ok but not present", header)
		}
		if token == "" {
			t.Fatalf("ParseBearer(%q): ok with an empty token", header)
		}
		if strings.ContainsAny(token, " \t") {
			t.Fatalf("ParseBearer(%q): token %q holds a space or tab", header, token)
		}
		if !strings.Contains(header, token) {
			t.Fatalf("ParseBearer(%q): token %q is not part of the header", header, token)
		}
		if !strings.EqualFold(strings.TrimSpace(header)[:len("bearer")], "bearer") {
			t.Fatalf("ParseBearer(%q): ok without the Bearer scheme", header)
		}
		// The token survives a round trip through a canonical header.
		again, _, ok2 := auth.ParseBearer("Bearer " + token)
		if !ok2 || again != token {
			t.Fatalf("ParseBearer(%q) = %q, but ParseBearer(\"Bearer \"+token) = %q, %v", header, token, again, ok2)
		}
	})
}

// fzKey is the signing key of FuzzVerify, generated once per test binary
// (RSA generation is slow under -race).
var fzKey = sync.OnceValue(func() *devtoken.Key {
	k, err := devtoken.Generate()
	if err != nil {
		panic(err)
	}
	return k
})

// fzNow is FuzzVerify's fixed clock.
var fzNow = time.Date(2026, 3, 27, 10, 30, 0, 0, time.UTC)

func fzB64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

// fzSignedByKey reports whether token is a compact JWS whose signature is a
// valid RS256 signature by pub over its first two segments: the only tokens
// Verify may accept.
func fzSignedByKey(token string, pub *rsa.PublicKey) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	sig, err := base64.RawURLEncoding.DecodeString(parts[2])
	if err != nil {
		return false
	}
	sum := sha256.Sum256([]byte(parts[0] + "." + parts[1]))
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig) == nil
}

func FuzzVerify(f *testing.F) {
	key := fzKey()
	mint := func(o devtoken.Options) string {
		if o.IssuedAt.IsZero() {
			o.IssuedAt = fzNow
		}
		tok, err := key.Mint(o)
		if err != nil {
			f.Fatalf("Mint: %v", err)
		}
		return tok
	}
	valid := mint(devtoken.Options{Subject: "user_2abc", Issuer: "http://localhost:8000/dev",
		AZP: "http://localhost:3000", Email: "ada@example.com", Name: "Ada Lovelace"})
	parts := strings.Split(valid, ".")

	// The HS256 key-confusion attack: the public PEM used as HMAC secret.
	hsInput := fzB64(`{"alg":"HS256","typ":"JWT"}`) + "." + parts[1]
	mac := hmac.New(sha256.New, []byte(key.PublicPEM()))
	mac.Write([]byte(hsInput))
	hs256 := hsInput + "." + base64.RawURLEncoding.EncodeToString(mac.Sum(nil))

	// Hostile but validly signed seeds: the one-spelling and session-only
	// rules must refuse them (the properties below check acceptance).
	sign := func(header, payload string) string {
		tok, err := key.SignCompact(fzB64(header), fzB64(payload))
		if err != nil {
			f.Fatalf("SignCompact: %v", err)
		}
		return tok
	}
	hdr := `{"alg":"RS256","typ":"JWT"}`
	claims := func(extra string) string {
		return fmt.Sprintf(`{"sub":"user_2abc","sid":"sess_1","iat":%d,"exp":%d%s}`, fzNow.Unix(), fzNow.Add(time.Minute).Unix(), extra)
	}
	sigBits := []byte(valid)
	// A 256-byte signature leaves 4 unused bits in its last character, one
	// of A, Q, g, w; the next character sets one of them.
	sigBits[len(sigBits)-1]++
	for _, s := range []string{
		string(sigBits),
		sign(hdr, claims(`,"SUB":"user_evil"`)),
		sign(hdr, claims(`,"sub":"user_evil"`)),
		sign(hdr, claims(`,"ſub":"user_evil"`)),
		sign(hdr, strings.Replace(claims(""), `"exp"`, `"Exp"`, 1)),
		sign(`{"alg":"RS256","typ":"at+jwt"}`, claims("")),
		sign(`{"alg":"RS256","cat":"cl_B7d4PD222AAA"}`, claims("")),
		sign(`{"alg":"RS256","cat":"cl_B7d4PD333AAA"}`, claims("")),
		sign(`{"alg":"RS256","ALG":"none"}`, claims("")),
		sign(hdr, strings.Replace(claims(""), `"sid":"sess_1",`, "", 1)),
		sign(hdr, strings.Replace(claims(""), `user_2abc`, `user_2abc/../x`, 1)),
		sign(hdr, strings.Replace(claims(""), `user_2abc`, `mch_2abc`, 1)),
		sign(hdr, claims(`,"sts":"pending"`)),
		sign(hdr, claims(`,"act":{"sub":"user_admin"}`)),
		sign(hdr, claims(`,"act":{"sub":""}`)),
		sign(hdr, claims(`,"act":"user_admin"`)),
		sign(hdr, claims(`,"email":"a\u0000@example.com"`)),
		sign(hdr, claims(`,"name":null,"email":null`)),
		valid,
		valid[:len(valid)-1],                // truncated signature
		valid[:len(valid)/2],                // truncated mid-token
		parts[0] + "." + parts[1] + ".",     // no signature
		parts[0] + "." + parts[1] + ".AAAA", // wrong signature
		parts[0] + "." + fzB64(`{"sub":"user_evil","exp":4102444800}`) + "." + parts[2], // swapped payload
		fzB64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + ".",
		fzB64(`{"alg":"none","typ":"JWT"}`) + "." + parts[1] + ".e30",
		hs256,
		mint(devtoken.Options{Subject: "user_2abc", TTL: -time.Hour}),                                    // expired
		mint(devtoken.Options{Subject: "user_2abc", OmitExp: true}),                                      // no exp
		mint(devtoken.Options{Extra: map[string]any{"sub": nil}}),                                        // no sub
		mint(devtoken.Options{Subject: "user_2abc", KID: new(string)}),                                   // no kid (ignored with a PEM key)
		strings.Repeat("a", auth.MaxTokenLength+1),                                                       // huge
		parts[0] + "." + parts[1] + strings.Repeat("A", auth.MaxTokenLength-len(valid)) + "." + parts[2], // at the limit
		`{"payload":"e30","signatures":[]}`,                                                              // JSON serialization
		"", ".", "..", "a.b.c",
	} {
		f.Add(s)
	}

	v, err := auth.NewVerifier(auth.Config{
		JWTKeyPEM: key.PublicPEM(),
		Leeway:    5 * time.Second,
		Now:       func() time.Time { return fzNow },
	})
	if err != nil {
		f.Fatalf("NewVerifier: %v", err)
	}
	pub := &key.Private.PublicKey
	ctx := context.Background()
	// The property below only means something if good tokens do pass.
	if _, err := v.Verify(ctx, valid); err != nil {
		f.Fatalf("Verify(valid seed): %v", err)
	}

	f.Fuzz(func(t *testing.T, token string) {
		claims, err := v.Verify(ctx, token)
		if err != nil {
			if !errors.Is(err, auth.ErrInvalidToken) {
				t.Fatalf("Verify(%.200q): error %v does not wrap ErrInvalidToken", token, err)
			}
			if len(token) >= 16 && strings.Contains(err.Error(), token) {
				t.Fatalf("Verify(%.200q): the error message contains the token", token)
			}
			return
		}
		if !fzSignedByKey(token, pub) {
			t.Fatalf("Verify(%.200q) accepted a token not signed by the key: %+v", token, claims)
		}
		if claims.Subject == "" || claims.Expiry.IsZero() {
			t.Fatalf("Verify(%.200q) accepted a token without sub or exp: %+v", token, claims)
		}
		if msg := fzOneSpellingSession(token, claims); msg != "" {
			t.Fatalf("Verify(%.200q) accepted a token that %s: %+v", token, msg, claims)
		}
	})
}

// fzSubject is the shape of an accepted sub, as a regular expression (an
// oracle independent of the verifier's hand-written check).
var fzSubject = regexp.MustCompile(`^user_[A-Za-z0-9]{1,64}$`)

// fzOneSpellingSession checks an accepted token against the rules with
// other means than the verifier's: canonical segments, claim names
// compared exactly (a case-insensitive twin of a registered name must not
// exist), a session token's header and claims. It says what is wrong, or
// "" when nothing is.
func fzOneSpellingSession(token string, c auth.Claims) string {
	for i, seg := range strings.Split(token, ".") {
		raw, err := base64.RawURLEncoding.DecodeString(seg)
		if err != nil || base64.RawURLEncoding.EncodeToString(raw) != seg {
			return fmt.Sprintf("has a non-canonical segment %d", i)
		}
	}
	parts := strings.Split(token, ".")
	var header, payload map[string]any
	hb, _ := base64.RawURLEncoding.DecodeString(parts[0])
	pb, _ := base64.RawURLEncoding.DecodeString(parts[1])
	if json.Unmarshal(hb, &header) != nil || json.Unmarshal(pb, &payload) != nil {
		return "is not JSON objects"
	}
	for _, m := range []struct {
		obj   map[string]any
		names []string
	}{
		{header, []string{"alg", "kid", "typ", "cat"}},
		{payload, []string{"exp", "nbf", "iat", "iss", "sub", "azp", "sid", "sts", "act"}},
	} {
		for k := range m.obj {
			for _, n := range m.names {
				if k != n && strings.EqualFold(k, n) {
					return "has " + k + " next to " + n
				}
			}
		}
	}
	if typ, ok := header["typ"]; ok && typ != "JWT" {
		return "is not a session token (typ)"
	}
	if cat, ok := header["cat"]; ok && cat != "cl_B7d4PD111AAA" && cat != "cl_I7d4PD111III" {
		return "is not a session token (cat)"
	}
	if payload["sub"] != c.Subject || !fzSubject.MatchString(c.Subject) {
		return "has a bad sub"
	}
	if sid, _ := payload["sid"].(string); sid == "" || sid != c.SessionID {
		return "has no sid"
	}
	if payload["sts"] == "pending" {
		return "is pending"
	}
	if act, ok := payload["act"]; ok {
		obj, _ := act.(map[string]any)
		sub, _ := obj["sub"].(string)
		if sub == "" || sub != c.Impersonator || utf8.RuneCountInString(sub) > 128 {
			return "has a bad act"
		}
	} else if c.Impersonator != "" {
		return "has an impersonator without act"
	}
	if strings.ContainsRune(c.Email+c.Name+c.Impersonator, 0) {
		return "carries U+0000"
	}
	return ""
}
