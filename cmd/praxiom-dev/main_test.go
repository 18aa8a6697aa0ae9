package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/praxiom/praxiom-api/internal/auth"
)

// envOf is an environment of exactly kv, read like os.LookupEnv.
func envOf(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

// TestRefusesProduction: with APP_ENV=production neither the stand-in nor
// the token command runs, and no data directory is created.
func TestRefusesProduction(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	for _, args := range [][]string{nil, {"token", "--email", "a@b.co"}} {
		kv := map[string]string{"APP_ENV": "Production", "PRAXIOM_DATA_DIR": dir}
		err := run(context.Background(), args, envOf(kv), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "APP_ENV=production") {
			t.Fatalf("%q: want refusal, got %v", args, err)
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("data directory touched: %v", err)
	}
}

func TestTokenIsVerifiableWithTheDevKey(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	kv := map[string]string{"PRAXIOM_DATA_DIR": dir}
	if err := run(context.Background(), []string{"token", "--email", "Ada@Example.com", "--name", "Ada"}, envOf(kv), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	v := devVerifier(t, dir)
	c, err := v.Verify(context.Background(), strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("dev token does not verify: %v", err)
	}
	if c.Email != "ada@example.com" || c.Name != "Ada" || !strings.HasPrefix(c.Subject, "user_dev") {
		t.Fatalf("claims: %+v", c)
	}
}

// TestTokenRefusals: each bad invocation fails with a reason and prints no
// token.
func TestTokenRefusals(t *testing.T) {
	kv := map[string]string{"PRAXIOM_DATA_DIR": t.TempDir()}
	for reason, args := range map[string][]string{
		"--email is required":    {"token"},
		"--email is required ":   {"token", "--email", "not-an-email"},
		"--ttl must be positive": {"token", "--email", "a@b.co", "--ttl", "-1h"},
		"unexpected argument":    {"token", "--email", "a@b.co", "extra"},
		"flag provided but not":  {"token", "--kindof", "x"},
		"unknown token kind":     {"token", "--email", "a@b.co", "--kind", "root"},
		"unknown command":        {"frobnicate"},
	} {
		var out bytes.Buffer
		err := run(context.Background(), args, envOf(kv), &out, io.Discard)
		if err == nil || !strings.Contains(err.Error(), strings.TrimSpace(reason)) || out.Len() != 0 {
			t.Errorf("%q: err %v, printed %q; want %q and nothing printed", args, err, out.String(), reason)
		}
	}
}

// TestTokenHelp: token --help prints the flags and succeeds.
func TestTokenHelp(t *testing.T) {
	var out bytes.Buffer
	if err := run(context.Background(), []string{"token", "--help"}, envOf(map[string]string{}), &out, io.Discard); err != nil {
		t.Fatalf("token --help: %v", err)
	}
	for _, f := range []string{"-email", "-name", "-ttl", "-kind"} {
		if !strings.Contains(out.String(), f) {
			t.Errorf("token --help does not list %s:\n%s", f, out.String())
		}
	}
}

// TestTokenKinds: --kind mints each kind of Clerk token, and the server's
// verifier refuses all but session and impersonated ones, so a newcomer can
// try the refusals with curl.
func TestTokenKinds(t *testing.T) {
	dir := t.TempDir()
	kv := map[string]string{"PRAXIOM_DATA_DIR": dir}
	mint := func(kind string) string {
		t.Helper()
		var out bytes.Buffer
		if err := run(context.Background(), []string{"token", "--email", "ada@example.com", "--kind", kind}, envOf(kv), &out, io.Discard); err != nil {
			t.Fatalf("--kind %s: %v", kind, err)
		}
		return strings.TrimSpace(out.String())
	}
	mint("session") // creates the key pair
	v := devVerifier(t, dir)
	for kind, want := range map[string]error{
		"session": nil, "impersonated": nil, "template": auth.ErrInvalidToken, "m2m": auth.ErrInvalidToken,
		"oauth": auth.ErrInvalidToken, "pending": auth.ErrPendingSession,
	} {
		c, err := v.Verify(context.Background(), mint(kind))
		if !errors.Is(err, want) || (want == nil && err != nil) {
			t.Errorf("--kind %s: Verify = %v, want %v", kind, err, want)
		}
		if kind == "impersonated" && c.Impersonator == "" {
			t.Errorf("--kind impersonated: no impersonator in %+v", c)
		}
	}
}

// devVerifier verifies tokens against the development key pair in dir, as
// the dev server does.
func devVerifier(t *testing.T, dir string) *auth.Verifier {
	t.Helper()
	pub, err := os.ReadFile(filepath.Join(dir, "dev-jwt-public.pem"))
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{JWTKeyPEM: string(pub), Issuer: devIssuer})
	if err != nil {
		t.Fatal(err)
	}
	return v
}
