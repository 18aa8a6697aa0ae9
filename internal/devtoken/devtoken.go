// Package devtoken mints Clerk-shaped RS256 tokens for local development
// (`praxiom-dev token`) and for tests: session tokens by default, and the
// other kinds Clerk signs with the same keys (see Kind) so that their
// refusal can be tried. It never talks to Clerk:
// the matching public key is handed to the server as CLERK_JWT_KEY (PEM) or
// served as a JWKS by a fake Clerk.
package devtoken

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v3"
)

// Key file names used by LoadOrCreate inside its directory.
const (
	PrivateKeyFile = "dev-jwt-private.pem"
	PublicKeyFile  = "dev-jwt-public.pem"
)

// keyBits is the RSA modulus size of generated keys.
const keyBits = 2048

// Key is an RSA signing key together with the key ID placed in token headers.
type Key struct {
	Private *rsa.PrivateKey
	KID     string
}

// Generate returns a fresh RSA-2048 key. Its KID is "dev-" followed by hex
// derived from the public key's SHA-256 thumbprint, so it is random per
// generated key yet stable when the same key is loaded again.
func Generate() (*Key, error) {
	priv, err := rsa.GenerateKey(rand.Reader, keyBits)
	if err != nil {
		return nil, fmt.Errorf("devtoken: generate key: %w", err)
	}
	return newKey(priv)
}

func newKey(priv *rsa.PrivateKey) (*Key, error) {
	der, err := x509.MarshalPKIXPublicKey(&priv.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("devtoken: marshal public key: %w", err)
	}
	sum := sha256.Sum256(der)
	return &Key{Private: priv, KID: "dev-" + hex.EncodeToString(sum[:8])}, nil
}

// LoadOrCreate returns the key stored in dir/dev-jwt-private.pem, creating
// it (mode 0600) together with dir/dev-jwt-public.pem when it does not exist
// yet. The directory is created with mode 0700 when needed. Concurrent
// callers on the same directory all end up with the same key.
func LoadOrCreate(dir string) (*Key, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("devtoken: create key directory: %w", err)
	}
	privPath := filepath.Join(dir, PrivateKeyFile)
	pubPath := filepath.Join(dir, PublicKeyFile)

	k, err := loadPrivate(privPath)
	if errors.Is(err, fs.ErrNotExist) {
		k, err = createPrivate(dir, privPath)
	}
	if err != nil {
		return nil, err
	}
	if err := writePublic(pubPath, k.PublicPEM()); err != nil {
		return nil, err
	}
	return k, nil
}

func loadPrivate(path string) (*Key, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("devtoken: read private key: %w", err)
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, fmt.Errorf("devtoken: %s: no PEM block", path)
	}
	var priv *rsa.PrivateKey
	switch block.Type {
	case "PRIVATE KEY":
		parsed, err := x509.ParsePKCS8PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("devtoken: parse private key %s: %w", path, err)
		}
		rk, ok := parsed.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("devtoken: %s: not an RSA private key", path)
		}
		priv = rk
	case "RSA PRIVATE KEY":
		rk, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("devtoken: parse private key %s: %w", path, err)
		}
		priv = rk
	default:
		return nil, fmt.Errorf("devtoken: %s: unexpected PEM type %q", path, block.Type)
	}
	return newKey(priv)
}

// createPrivate writes a new key to a temporary file and links it into place,
// so readers never observe a half-written key and a concurrent creator's key
// wins without being overwritten.
func createPrivate(dir, path string) (*Key, error) {
	k, err := Generate()
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKCS8PrivateKey(k.Private)
	if err != nil {
		return nil, fmt.Errorf("devtoken: marshal private key: %w", err)
	}
	data := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})

	tmp, err := os.CreateTemp(dir, ".dev-jwt-private-*.tmp")
	if err != nil {
		return nil, fmt.Errorf("devtoken: create private key: %w", err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName)
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("devtoken: chmod private key: %w", err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("devtoken: write private key: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return nil, fmt.Errorf("devtoken: sync private key: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return nil, fmt.Errorf("devtoken: close private key: %w", err)
	}
	if err := os.Link(tmpName, path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return loadPrivate(path)
		}
		return nil, fmt.Errorf("devtoken: install private key: %w", err)
	}
	return k, nil
}

// writePublic (re)writes the public key file when it is missing or differs.
func writePublic(path, pemText string) error {
	if cur, err := os.ReadFile(path); err == nil && string(cur) == pemText {
		return nil
	}
	if err := os.WriteFile(path, []byte(pemText), 0o644); err != nil {
		return fmt.Errorf("devtoken: write public key: %w", err)
	}
	return nil
}

// PublicPEM returns the public key as a PKIX "PUBLIC KEY" PEM block, the
// format CLERK_JWT_KEY takes.
func (k *Key) PublicPEM() string {
	der, err := x509.MarshalPKIXPublicKey(&k.Private.PublicKey)
	if err != nil {
		// An in-memory RSA public key always marshals.
		panic("devtoken: marshal public key: " + err.Error())
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

// JWK returns the public key as a JSON Web Key with alg RS256 and use sig.
func (k *Key) JWK() jose.JSONWebKey {
	return jose.JSONWebKey{
		Key:       &k.Private.PublicKey,
		KeyID:     k.KID,
		Algorithm: string(jose.RS256),
		Use:       "sig",
	}
}

// JWKS returns a Clerk-shaped JSON Web Key Set holding only this key:
// {"keys":[{"kty":"RSA","kid":…,"alg":"RS256","use":"sig","n":…,"e":…}]}.
func (k *Key) JWKS() []byte {
	return JWKSOf(k)
}

// JWKSOf returns a JSON Web Key Set holding the public keys of all keys, in
// order; useful for fakes that serve several keys during a rotation.
func JWKSOf(keys ...*Key) []byte {
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(keys))}
	for _, k := range keys {
		set.Keys = append(set.Keys, k.JWK())
	}
	out, err := json.Marshal(set)
	if err != nil {
		panic("devtoken: marshal JWKS: " + err.Error())
	}
	return out
}

// Header "cat" values (Clerk's token categories) that Mint can stamp.
const (
	// CategorySession marks a session token.
	CategorySession = "cl_B7d4PD111AAA"
	// CategoryUncategorized is stamped on every kind of token by instances
	// that opt out of categories.
	CategoryUncategorized = "cl_I7d4PD111III"
	// CategoryTemplate marks a JWT-template token.
	CategoryTemplate = "cl_B7d4PD222AAA"
	// CategoryM2M marks a machine-to-machine token.
	CategoryM2M = "cl_B7d4PD333AAA"
)

// Options describes the claims and header of a minted token. Zero values
// pick Clerk-like defaults: a session token with typ JWT, a sid and no cat.
type Options struct {
	// Subject is the "sub" claim (a Clerk user ID); omitted when empty.
	Subject string
	// Issuer is the "iss" claim; omitted when empty.
	Issuer string
	// AZP is the "azp" (authorized party) claim; omitted when empty.
	AZP string
	// SessionID is the "sid" claim; default "sess_" followed by random hex.
	SessionID string
	// OmitSID leaves out the "sid" claim (JWT-template and M2M tokens have
	// none).
	OmitSID bool
	// Status is the "sts" claim (Clerk's session status, e.g. "pending");
	// omitted when empty.
	Status string
	// Actor is the "sub" of the "act" claim, the impersonator of an
	// impersonated session; "act" is omitted when empty.
	Actor string
	// Email is the custom "email" claim; omitted when empty.
	Email string
	// Name is the custom "name" claim; omitted when empty.
	Name string
	// TTL sets exp to IssuedAt+TTL; default 60s.
	TTL time.Duration
	// IssuedAt is the "iat" claim; default time.Now().
	IssuedAt time.Time
	// OmitExp leaves out the "exp" claim.
	OmitExp bool
	// NotBefore overrides "nbf"; default IssuedAt-5s.
	NotBefore *time.Time
	// KID overrides the header kid; a pointer to "" omits the kid header.
	KID *string
	// Type overrides the header typ (default "JWT"); a pointer to ""
	// omits it. OAuth access tokens carry "at+jwt".
	Type *string
	// Category is the header cat (one of the Category constants, or any
	// string); omitted when empty.
	Category string
	// Extra claims are merged last and override the ones above; a nil
	// value removes the claim.
	Extra map[string]any
}

// Mint signs a Clerk-shaped token (RS256, "v": 2) with k; with zero
// Options it is a session token (typ JWT).
func (k *Key) Mint(o Options) (string, error) {
	iat := o.IssuedAt
	if iat.IsZero() {
		iat = time.Now()
	}
	ttl := o.TTL
	if ttl == 0 {
		ttl = 60 * time.Second
	}
	nbf := iat.Add(-5 * time.Second)
	if o.NotBefore != nil {
		nbf = *o.NotBefore
	}

	claims := map[string]any{
		"iat": iat.Unix(),
		"nbf": nbf.Unix(),
		"v":   2,
	}
	if !o.OmitSID {
		sid := o.SessionID
		if sid == "" {
			sid = "sess_" + randomHex(12)
		}
		claims["sid"] = sid
	}
	if !o.OmitExp {
		claims["exp"] = iat.Add(ttl).Unix()
	}
	for name, val := range map[string]string{
		"sub": o.Subject, "iss": o.Issuer, "azp": o.AZP, "email": o.Email, "name": o.Name, "sts": o.Status,
	} {
		if val != "" {
			claims[name] = val
		}
	}
	if o.Actor != "" {
		claims["act"] = map[string]any{"sub": o.Actor}
	}
	for name, val := range o.Extra {
		if val == nil {
			delete(claims, name)
			continue
		}
		claims[name] = val
	}

	kid := k.KID
	if o.KID != nil {
		kid = *o.KID
	}
	typ := "JWT"
	if o.Type != nil {
		typ = *o.Type
	}
	opts := &jose.SignerOptions{}
	if typ != "" {
		opts = opts.WithType(jose.ContentType(typ))
	}
	if kid != "" {
		opts = opts.WithHeader("kid", kid)
	}
	if o.Category != "" {
		opts = opts.WithHeader("cat", o.Category)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k.Private}, opts)
	if err != nil {
		return "", fmt.Errorf("devtoken: new signer: %w", err)
	}
	payload, err := json.Marshal(claims)
	if err != nil {
		return "", fmt.Errorf("devtoken: marshal claims: %w", err)
	}
	sig, err := signer.Sign(payload)
	if err != nil {
		return "", fmt.Errorf("devtoken: sign: %w", err)
	}
	tok, err := sig.CompactSerialize()
	if err != nil {
		return "", fmt.Errorf("devtoken: serialize: %w", err)
	}
	return tok, nil
}

// SignCompact returns header + "." + payload + "." + an RS256 signature by k
// over exactly those two segments, which are used as given: no JSON or
// base64url checks, so tests can build tokens that Mint never would
// (duplicate keys, non-canonical base64url, odd headers) yet that carry a
// valid signature.
func (k *Key) SignCompact(header, payload string) (string, error) {
	input := header + "." + payload
	sum := sha256.Sum256([]byte(input))
	sig, err := rsa.SignPKCS1v15(rand.Reader, k.Private, crypto.SHA256, sum[:])
	if err != nil {
		return "", fmt.Errorf("devtoken: sign: %w", err)
	}
	return input + "." + base64.RawURLEncoding.EncodeToString(sig), nil
}

// Kind is a kind of Clerk token that Mint can imitate; its value is what a
// command-line flag takes (Kind implements flag.Value). The zero Kind is
// KindSession.
type Kind string

// The kinds of Clerk token. Only KindSession and KindImpersonated are
// accepted by the API; the others are refused with 401.
const (
	// KindSession is an ordinary session token (cat CategorySession).
	KindSession Kind = "session"
	// KindTemplate is a JWT-template token: cat CategoryTemplate, no sid.
	KindTemplate Kind = "template"
	// KindM2M is a machine-to-machine token: cat CategoryM2M, no sid, and a
	// machine subject ("mch_…") instead of a user.
	KindM2M Kind = "m2m"
	// KindOAuth is an OAuth access token: typ "at+jwt".
	KindOAuth Kind = "oauth"
	// KindPending is the token of a session with unfinished tasks: sts
	// "pending".
	KindPending Kind = "pending"
	// KindImpersonated is a session token of an impersonated session: act
	// {"sub": Actor}, DevImpersonator unless Actor is set.
	KindImpersonated Kind = "impersonated"
)

// DevImpersonator is the act.sub of KindImpersonated tokens when
// Options.Actor is empty.
const DevImpersonator = "user_devadmin"

// Kinds returns every Kind, KindSession first.
func Kinds() []Kind {
	return []Kind{KindSession, KindTemplate, KindM2M, KindOAuth, KindPending, KindImpersonated}
}

// String returns the kind's flag value; "session" for the zero Kind.
func (k Kind) String() string {
	if k == "" {
		return string(KindSession)
	}
	return string(k)
}

// Set parses s as a Kind (flag.Value). It fails for anything but one of
// the names of Kinds.
func (k *Kind) Set(s string) error {
	for _, known := range Kinds() {
		if s == string(known) {
			*k = known
			return nil
		}
	}
	names := make([]string, 0, len(Kinds()))
	for _, known := range Kinds() {
		names = append(names, string(known))
	}
	return fmt.Errorf("devtoken: unknown token kind %q (want one of %s)", s, strings.Join(names, ", "))
}

// Apply returns o changed into a token of kind k: it sets Type, Category,
// OmitSID, Status and Actor as the kind has them (keeping a non-empty Actor
// for KindImpersonated), and for KindM2M turns a "user_" Subject into the
// machine subject "mch_…" ("mch_dev" when Subject is empty). It fails for
// an unknown kind.
func (k Kind) Apply(o Options) (Options, error) {
	actor := o.Actor
	o.Type, o.Category, o.OmitSID, o.Status, o.Actor = nil, CategorySession, false, "", ""
	switch k {
	case "", KindSession:
	case KindTemplate:
		o.Category, o.OmitSID = CategoryTemplate, true
	case KindM2M:
		o.Category, o.OmitSID = CategoryM2M, true
		switch {
		case o.Subject == "":
			o.Subject = "mch_dev"
		case strings.HasPrefix(o.Subject, "user_"):
			o.Subject = "mch_" + strings.TrimPrefix(o.Subject, "user_")
		}
	case KindOAuth:
		typ := "at+jwt"
		o.Type, o.Category = &typ, ""
	case KindPending:
		o.Status = "pending"
	case KindImpersonated:
		o.Actor = actor
		if o.Actor == "" {
			o.Actor = DevImpersonator
		}
	default:
		return o, fmt.Errorf("devtoken: unknown token kind %q", string(k))
	}
	return o, nil
}

// SubjectForEmail returns a deterministic dev user ID for an email:
// "user_dev" followed by the 24 hex digits of the first 12 bytes of the
// SHA-256 of the trimmed, lower-cased email, so the same dev email always
// maps to the same user. It has the shape the API accepts,
// ^user_[A-Za-z0-9]{1,64}$.
func SubjectForEmail(email string) string {
	sum := sha256.Sum256([]byte(strings.ToLower(strings.TrimSpace(email))))
	return "user_dev" + hex.EncodeToString(sum[:12])
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic("devtoken: crypto/rand failed: " + err.Error())
	}
	return hex.EncodeToString(b)
}
