package devtoken_test

import (
	"crypto"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/go-jose/go-jose/v3"

	"github.com/praxiom/praxiom-api/internal/devtoken"
)

var key = sync.OnceValue(func() *devtoken.Key {
	k, err := devtoken.Generate()
	if err != nil {
		panic(err)
	}
	return k
})

// decode verifies tok with k's public key and returns header and claims.
func decode(t *testing.T, k *devtoken.Key, tok string) (jose.Header, map[string]any) {
	t.Helper()
	sig, err := jose.ParseSigned(tok)
	if err != nil {
		t.Fatalf("ParseSigned: %v", err)
	}
	payload, err := sig.Verify(&k.Private.PublicKey)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	return sig.Signatures[0].Header, claims
}

func TestGenerate(t *testing.T) {
	k := key()
	if k.Private.N.BitLen() != 2048 {
		t.Errorf("key size %d, want 2048", k.Private.N.BitLen())
	}
	if !strings.HasPrefix(k.KID, "dev-") || len(k.KID) != len("dev-")+16 {
		t.Errorf("KID = %q", k.KID)
	}
	other, err := devtoken.Generate()
	if err != nil {
		t.Fatal(err)
	}
	if other.KID == k.KID {
		t.Error("two generated keys share a KID")
	}
}

func TestMintDefaults(t *testing.T) {
	k := key()
	iat := time.Unix(1_800_000_000, 0)
	tok, err := k.Mint(devtoken.Options{Subject: "user_1", Issuer: "http://localhost:8000/dev", IssuedAt: iat})
	if err != nil {
		t.Fatal(err)
	}
	hdr, c := decode(t, k, tok)
	if hdr.Algorithm != "RS256" || hdr.KeyID != k.KID || hdr.ExtraHeaders["typ"] != "JWT" {
		t.Errorf("header = %+v", hdr)
	}
	want := map[string]any{
		"sub": "user_1", "iss": "http://localhost:8000/dev", "v": float64(2),
		"iat": float64(iat.Unix()), "nbf": float64(iat.Unix() - 5), "exp": float64(iat.Unix() + 60),
	}
	for name, val := range want {
		if c[name] != val {
			t.Errorf("claim %s = %v, want %v", name, c[name], val)
		}
	}
	if sid, _ := c["sid"].(string); !strings.HasPrefix(sid, "sess_") || len(sid) <= len("sess_") {
		t.Errorf("sid = %v", c["sid"])
	}
	for _, absent := range []string{"azp", "email", "name"} {
		if _, ok := c[absent]; ok {
			t.Errorf("claim %s present though not asked for", absent)
		}
	}
	if _, c2 := decode(t, k, mustMint(t, k, devtoken.Options{Subject: "user_1"})); c2["sid"] == c["sid"] {
		t.Error("two tokens share the default sid")
	}
}

func mustMint(t *testing.T, k *devtoken.Key, o devtoken.Options) string {
	t.Helper()
	tok, err := k.Mint(o)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestMintOptions(t *testing.T) {
	k := key()
	iat := time.Unix(1_800_000_000, 0)
	nbf := iat.Add(time.Minute)
	empty := ""
	tok := mustMint(t, k, devtoken.Options{
		Subject: "user_1", AZP: "http://localhost:3000", SessionID: "sess_fixed",
		Email: "ada@example.com", Name: "Ada", TTL: time.Hour, IssuedAt: iat, OmitExp: true,
		NotBefore: &nbf, KID: &empty,
		Extra: map[string]any{"v": nil, "org_id": "org_1"},
	})
	hdr, c := decode(t, k, tok)
	if hdr.KeyID != "" {
		t.Errorf("kid = %q, want none", hdr.KeyID)
	}
	want := map[string]any{
		"azp": "http://localhost:3000", "sid": "sess_fixed", "email": "ada@example.com",
		"name": "Ada", "nbf": float64(nbf.Unix()), "org_id": "org_1",
	}
	for name, val := range want {
		if c[name] != val {
			t.Errorf("claim %s = %v, want %v", name, c[name], val)
		}
	}
	for _, absent := range []string{"exp", "v"} {
		if _, ok := c[absent]; ok {
			t.Errorf("claim %s present", absent)
		}
	}

	other := "kid-override"
	hdr, c = decode(t, k, mustMint(t, k, devtoken.Options{KID: &other, TTL: time.Hour, IssuedAt: iat}))
	if hdr.KeyID != other {
		t.Errorf("kid = %q, want %q", hdr.KeyID, other)
	}
	if c["exp"] != float64(iat.Add(time.Hour).Unix()) {
		t.Errorf("exp = %v", c["exp"])
	}
	if _, ok := c["sub"]; ok {
		t.Error("sub present though empty")
	}
}

func TestPublicPEMAndJWKS(t *testing.T) {
	k := key()
	jwk, err := clerk.JSONWebKeyFromPEM(k.PublicPEM())
	if err != nil {
		t.Fatalf("JSONWebKeyFromPEM: %v", err)
	}
	if !k.Private.PublicKey.Equal(jwk.Key) {
		t.Error("PEM holds another key")
	}

	var raw struct {
		Keys []map[string]any `json:"keys"`
	}
	if err := json.Unmarshal(k.JWKS(), &raw); err != nil {
		t.Fatal(err)
	}
	if len(raw.Keys) != 1 {
		t.Fatalf("keys = %v", raw.Keys)
	}
	for name, val := range map[string]string{"kty": "RSA", "kid": k.KID, "alg": "RS256", "use": "sig", "e": "AQAB"} {
		if raw.Keys[0][name] != val {
			t.Errorf("%s = %v, want %v", name, raw.Keys[0][name], val)
		}
	}
	if _, ok := raw.Keys[0]["d"]; ok {
		t.Fatal("JWKS leaks the private exponent")
	}
	// The Clerk SDK parses it into an RS256 key with the same modulus.
	var set clerk.JSONWebKeySet
	if err := json.Unmarshal(k.JWKS(), &set); err != nil {
		t.Fatal(err)
	}
	if set.Keys[0].Algorithm != "RS256" || !k.Private.PublicKey.Equal(set.Keys[0].Key) {
		t.Errorf("SDK view = %+v", set.Keys[0])
	}
}

func TestLoadOrCreate(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "keys")
	k1, err := devtoken.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	assertMode(t, dir, 0o700)
	assertMode(t, filepath.Join(dir, devtoken.PrivateKeyFile), 0o600)
	pub, err := os.ReadFile(filepath.Join(dir, devtoken.PublicKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if string(pub) != k1.PublicPEM() {
		t.Error("public key file does not match the key")
	}

	k2, err := devtoken.LoadOrCreate(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !k1.Private.Equal(k2.Private) || k1.KID != k2.KID {
		t.Fatal("second LoadOrCreate made a new key")
	}

	// A lost public file is rewritten from the private key.
	if err := os.Remove(filepath.Join(dir, devtoken.PublicKeyFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := devtoken.LoadOrCreate(dir); err != nil {
		t.Fatal(err)
	}
	if pub, err := os.ReadFile(filepath.Join(dir, devtoken.PublicKeyFile)); err != nil || string(pub) != k1.PublicPEM() {
		t.Errorf("public key not restored: %v", err)
	}
}

func TestLoadOrCreateConcurrent(t *testing.T) {
	dir := t.TempDir()
	const n = 4
	keys := make([]*devtoken.Key, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() { keys[i], errs[i] = devtoken.LoadOrCreate(dir) })
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		if !keys[i].Private.Equal(keys[0].Private) {
			t.Fatalf("caller %d got another key", i)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Errorf("directory holds %d entries, want the 2 key files", len(entries))
	}
}

func TestLoadOrCreateRejectsGarbage(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, devtoken.PrivateKeyFile), []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := devtoken.LoadOrCreate(dir); err == nil {
		t.Fatal("LoadOrCreate accepted a garbage key file")
	}
}

func assertMode(t *testing.T, path string, want os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if got := st.Mode().Perm(); got != want {
		t.Errorf("%s mode = %o, want %o", path, got, want)
	}
}

func TestSubjectForEmail(t *testing.T) {
	a := devtoken.SubjectForEmail("Ada@Example.com")
	if b := devtoken.SubjectForEmail("ada@example.com"); a != b {
		t.Errorf("case changes the subject: %q vs %q", a, b)
	}
	if b := devtoken.SubjectForEmail("grace@example.com"); a == b {
		t.Error("two emails share a subject")
	}
	// "user_dev" + hex(sha256("ada@example.com")[:12]), pinned so dev
	// users keep their IDs from now on; the shape is the one the API
	// accepts (^user_[A-Za-z0-9]{1,64}$).
	if want := "user_devb5fc85e55755f9e0d030a10a"; a != want {
		t.Errorf("subject = %q, want %q", a, want)
	}
	if b := devtoken.SubjectForEmail("  ada@example.com "); a != b {
		t.Errorf("surrounding spaces change the subject: %q", b)
	}
	for _, email := range []string{"ada@example.com", "", "x@y", strings.Repeat("long", 100) + "@example.com"} {
		if sub := devtoken.SubjectForEmail(email); !apiSubject.MatchString(sub) {
			t.Errorf("SubjectForEmail(%q) = %q does not match %s", email, sub, apiSubject)
		}
	}
}

// apiSubject is the shape of sub the API accepts (README, "The auth chain").
var apiSubject = regexp.MustCompile(`^user_[A-Za-z0-9]{1,64}$`)

func TestMintHeaderAndSessionOptions(t *testing.T) {
	k := key()
	atJWT, none := "at+jwt", ""
	tok := mustMint(t, k, devtoken.Options{Subject: "user_1", Type: &atJWT, Category: devtoken.CategoryM2M,
		Status: "pending", Actor: "user_admin", OmitSID: true})
	hdr, c := decode(t, k, tok)
	if hdr.ExtraHeaders["typ"] != "at+jwt" || hdr.ExtraHeaders["cat"] != devtoken.CategoryM2M {
		t.Errorf("header = %+v", hdr.ExtraHeaders)
	}
	if c["sts"] != "pending" {
		t.Errorf("sts = %v", c["sts"])
	}
	if act, ok := c["act"].(map[string]any); !ok || len(act) != 1 || act["sub"] != "user_admin" {
		t.Errorf("act = %v", c["act"])
	}
	if _, ok := c["sid"]; ok {
		t.Errorf("sid = %v, want none", c["sid"])
	}

	hdr, c = decode(t, k, mustMint(t, k, devtoken.Options{Subject: "user_1", Type: &none}))
	for _, absent := range []string{"typ", "cat"} {
		if _, ok := hdr.ExtraHeaders[jose.HeaderKey(absent)]; ok {
			t.Errorf("header %s present: %+v", absent, hdr.ExtraHeaders)
		}
	}
	for _, absent := range []string{"sts", "act"} {
		if _, ok := c[absent]; ok {
			t.Errorf("claim %s present though not asked for", absent)
		}
	}
}

func TestKinds(t *testing.T) {
	type want struct {
		typ, cat, sts, act string // "" = absent
		sid                bool
		subPrefix          string
	}
	wants := map[devtoken.Kind]want{
		devtoken.KindSession:      {typ: "JWT", cat: devtoken.CategorySession, sid: true, subPrefix: "user_"},
		devtoken.KindTemplate:     {typ: "JWT", cat: devtoken.CategoryTemplate, subPrefix: "user_"},
		devtoken.KindM2M:          {typ: "JWT", cat: devtoken.CategoryM2M, subPrefix: "mch_"},
		devtoken.KindOAuth:        {typ: "at+jwt", sid: true, subPrefix: "user_"},
		devtoken.KindPending:      {typ: "JWT", cat: devtoken.CategorySession, sts: "pending", sid: true, subPrefix: "user_"},
		devtoken.KindImpersonated: {typ: "JWT", cat: devtoken.CategorySession, act: devtoken.DevImpersonator, sid: true, subPrefix: "user_"},
	}
	if len(devtoken.Kinds()) != len(wants) || devtoken.Kinds()[0] != devtoken.KindSession {
		t.Fatalf("Kinds() = %v", devtoken.Kinds())
	}
	k := key()
	str := func(v any) string { s, _ := v.(string); return s }
	for _, kind := range devtoken.Kinds() {
		t.Run(string(kind), func(t *testing.T) {
			w := wants[kind]
			// Start from the options of another kind: Apply sets every
			// field that makes a kind.
			o, err := devtoken.KindTemplate.Apply(devtoken.Options{Subject: "user_devabc"})
			if err != nil {
				t.Fatal(err)
			}
			o.Status = "leftover"
			if o, err = kind.Apply(o); err != nil {
				t.Fatal(err)
			}
			hdr, c := decode(t, k, mustMint(t, k, o))
			if got := str(hdr.ExtraHeaders["typ"]); got != w.typ {
				t.Errorf("typ = %q, want %q", got, w.typ)
			}
			if got := str(hdr.ExtraHeaders["cat"]); got != w.cat {
				t.Errorf("cat = %q, want %q", got, w.cat)
			}
			if got := str(c["sts"]); got != w.sts {
				t.Errorf("sts = %q, want %q", got, w.sts)
			}
			act, _ := c["act"].(map[string]any)
			if got := str(act["sub"]); got != w.act {
				t.Errorf("act.sub = %q, want %q", got, w.act)
			}
			if _, got := c["sid"]; got != w.sid {
				t.Errorf("sid present = %v, want %v", got, w.sid)
			}
			if sub := str(c["sub"]); !strings.HasPrefix(sub, w.subPrefix) || !strings.HasSuffix(sub, "devabc") {
				t.Errorf("sub = %q, want %s…devabc", sub, w.subPrefix)
			}

			var flagged devtoken.Kind
			if err := flagged.Set(kind.String()); err != nil || flagged != kind {
				t.Errorf("Set(%q) = %v, %q", kind.String(), err, flagged)
			}
		})
	}

	o, err := devtoken.KindImpersonated.Apply(devtoken.Options{Actor: "user_support1"})
	if err != nil || o.Actor != "user_support1" {
		t.Errorf("impersonated kept actor %q (%v), want user_support1", o.Actor, err)
	}
	if o, _ := devtoken.KindM2M.Apply(devtoken.Options{}); o.Subject != "mch_dev" {
		t.Errorf("m2m without subject: %q", o.Subject)
	}
	var zero devtoken.Kind
	if zero.String() != "session" {
		t.Errorf("zero Kind = %q", zero.String())
	}
	if o, err := zero.Apply(devtoken.Options{}); err != nil || o.Category != devtoken.CategorySession {
		t.Errorf("zero Kind applies %+v, %v", o, err)
	}
	if err := zero.Set("admin"); err == nil || !strings.Contains(err.Error(), "impersonated") {
		t.Errorf("Set(admin) = %v, want an error listing the kinds", err)
	}
	if _, err := devtoken.Kind("bogus").Apply(devtoken.Options{}); err == nil {
		t.Error("Apply of an unknown kind succeeded")
	}
}

func TestSignCompact(t *testing.T) {
	k := key()
	enc := base64.RawURLEncoding.EncodeToString
	// Duplicate keys, passed through untouched and signed.
	h, p := enc([]byte(`{"alg":"RS256","alg":"RS256"}`)), enc([]byte(`{"sub":"a","sub":"b"}`))
	tok, err := k.SignCompact(h, p)
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(tok, ".")
	if len(parts) != 3 || parts[0] != h || parts[1] != p {
		t.Fatalf("token = %q", tok)
	}
	sig, err := base64.RawURLEncoding.Strict().DecodeString(parts[2])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(h + "." + p))
	if err := rsa.VerifyPKCS1v15(&k.Private.PublicKey, crypto.SHA256, sum[:], sig); err != nil {
		t.Fatalf("signature does not verify: %v", err)
	}
}
