package main

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/praxiom/praxiom-api/internal/app"
	"github.com/praxiom/praxiom-api/internal/devtoken"
	"github.com/praxiom/praxiom-api/internal/localpg"
	"github.com/praxiom/praxiom-api/internal/mailpit"
	"github.com/praxiom/praxiom-api/internal/store"
)

// devIssuer is the iss claim of development tokens.
const devIssuer = "https://praxiom.dev.local"

// dataDir is where praxiom-dev keeps its state: PRAXIOM_DATA_DIR or .data.
func dataDir(getenv func(string) string) string {
	if d := strings.TrimSpace(getenv("PRAXIOM_DATA_DIR")); d != "" {
		return d
	}
	return ".data"
}

// dev starts the private PostgreSQL and runs the server against it with the
// development key and webhook secret until ctx ends; PostgreSQL is stopped
// and its data kept.
func dev(ctx context.Context, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	getenv := func(k string) string { v, _ := lookupEnv(k); return v }
	dir, err := filepath.Abs(dataDir(getenv))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("dev: %w", err)
	}
	key, err := devtoken.LoadOrCreate(dir)
	if err != nil {
		return fmt.Errorf("dev: key pair: %w", err)
	}
	secret, err := loadOrCreateWebhookSecret(filepath.Join(dir, "dev-webhook-secret"))
	if err != nil {
		return fmt.Errorf("dev: webhook secret: %w", err)
	}
	pgPort, _ := strconv.Atoi(getenv("DEV_PG_PORT"))
	logf := func(format string, a ...any) { fmt.Fprintf(stderr, "dev: "+format+"\n", a...) }
	cluster, err := localpg.Start(ctx, localpg.Options{Dir: filepath.Join(dir, "postgres"), Port: pgPort, Logf: logf})
	if err != nil {
		return fmt.Errorf("dev: postgres: %w", err)
	}
	defer func() {
		logf("stopping PostgreSQL (data kept in %s)", cluster.Dir)
		if err := cluster.Stop(); err != nil {
			logf("stop PostgreSQL: %v", err)
		}
	}()

	mail := startMailpit(ctx, getenv, filepath.Join(dir, "mailpit"), logf)
	if mail != nil {
		defer mail.Stop() //nolint:errcheck // logs its own outcome
	}

	overlay := map[string]string{
		"APP_ENV":                      "development",
		"DATABASE_URL":                 cluster.URL,
		"CLERK_JWT_KEY":                key.PublicPEM(),
		"CLERK_SECRET_KEY":             "", // users are provisioned from the token's claims
		"CLERK_ISSUER":                 devIssuer,
		"CLERK_WEBHOOK_SIGNING_SECRET": secret,
	}
	if getenv("PLG_GATING") == "" {
		overlay["PLG_GATING"] = "false"
	}
	if _, set := lookupEnv("METRICS_ADDR"); !set {
		// A free port rather than 9090, where a local Prometheus may listen.
		overlay["METRICS_ADDR"] = "127.0.0.1:0"
	}
	mailLine := "Email is off (MAILPIT_BIN is not set; `make dev` sets it)."
	if mail != nil {
		overlay["SMTP_URL"] = mail.SMTPURL
		if getenv("MAIL_FROM") == "" {
			overlay["MAIL_FROM"] = "Praxiom <no-reply@praxiom.localhost>"
		}
		mailLine = "Mailpit (every email the server sends lands here): " + mail.UIURL
	}
	env := func(k string) (string, bool) {
		if v, ok := overlay[k]; ok {
			return v, true
		}
		return lookupEnv(k)
	}
	email := "dev@example.com"
	token, err := key.Mint(devtoken.Options{Subject: devtoken.SubjectForEmail(email), Issuer: devIssuer,
		Email: email, Name: "Dev User", TTL: 12 * time.Hour})
	if err != nil {
		return err
	}
	ready := func(a app.Addrs) {
		port := a.API[strings.LastIndex(a.API, ":")+1:]
		metrics := "off"
		if a.Metrics != "" {
			metrics = "http://" + a.Metrics + "/metrics"
		}
		base := "http://localhost:" + port
		fmt.Fprintf(stdout, "\nPraxiom API is up (database %s, metrics %s).\nTry it:\n\n"+
			"  curl -s -H 'Authorization: Bearer %s' %s/api/auth/me\n\n"+
			"%s\nThe API reference: %s/docs\n"+
			"More tokens: ./bin/praxiom-dev token --email you@example.com --name 'You' [--kind impersonated|pending|template|m2m|oauth]\n"+
			"An API key for an integration (create a workspace first; the answer's \"key\" is shown once):\n"+
			"  curl -s -H 'Authorization: Bearer %s' -H 'Content-Type: application/json' \\\n"+
			"    -d '{\"name\":\"My integration\",\"role\":\"member\"}' %s/api/workspaces/WORKSPACE_ID/api-keys\n"+
			"  then: curl -s -H 'Authorization: Bearer pxm_…' %s/api/workspaces\n"+
			"Ctrl-C stops the server, PostgreSQL and Mailpit; data stays in %s.\n\n",
			cluster.URL, metrics, token, base, mailLine, base, token, base, base, dir)
	}
	return app.Serve(ctx, env, stderr, ready)
}

// token prints a token signed with the development key.
func token(args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("praxiom-dev token", flag.ContinueOnError)
	email := fs.String("email", "", "the user's email (required)")
	name := fs.String("name", "", "the user's name")
	ttl := fs.Duration("ttl", time.Hour, "how long the token lives")
	var kind devtoken.Kind
	fs.Var(&kind, "kind", "the kind of Clerk token: "+kindNames()+
		" (all but session and impersonated are refused by the server, to try the refusals)")
	fs.SetOutput(io.Discard) // a bad flag is the returned error, said once
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fmt.Fprintln(stdout, "usage: praxiom-dev token --email E [--name N] [--ttl 1h] [--kind K]")
			fs.PrintDefaults()
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("token: unexpected argument %q", fs.Arg(0))
	}
	e := store.NormalizeEmail(*email)
	if e == "" || !strings.Contains(e, "@") {
		return errors.New("token: --email is required")
	}
	if *ttl <= 0 {
		return errors.New("token: --ttl must be positive")
	}
	dir, err := filepath.Abs(dataDir(getenv))
	if err != nil {
		return err
	}
	key, err := devtoken.LoadOrCreate(dir)
	if err != nil {
		return fmt.Errorf("token: key pair: %w", err)
	}
	o, err := kind.Apply(devtoken.Options{Subject: devtoken.SubjectForEmail(e), Issuer: devIssuer,
		Email: e, Name: strings.TrimSpace(*name), TTL: *ttl})
	if err != nil {
		return err
	}
	t, err := key.Mint(o)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, t)
	return nil
}

// kindNames lists the token kinds for the --kind flag's help.
func kindNames() string {
	var names []string
	for _, k := range devtoken.Kinds() {
		names = append(names, k.String())
	}
	return strings.Join(names, ", ")
}

// loadOrCreateWebhookSecret keeps a development Svix secret under .data so
// webhook deliveries can be signed locally.
func loadOrCreateWebhookSecret(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	raw := make([]byte, 24)
	if _, err := rand.Read(raw); err != nil {
		return "", err
	}
	secret := "whsec_" + base64.StdEncoding.EncodeToString(raw)
	return secret, os.WriteFile(path, []byte(secret+"\n"), 0o600)
}

// startMailpit starts Mailpit from MAILPIT_BIN (set by `make dev`, which
// builds the pinned version) with its messages under dir; nil when
// MAILPIT_BIN is unset or Mailpit cannot start (email stays off then).
func startMailpit(ctx context.Context, getenv func(string) string, dir string, logf func(string, ...any)) *mailpit.Server {
	bin := strings.TrimSpace(getenv("MAILPIT_BIN"))
	if bin == "" {
		logf("MAILPIT_BIN is not set: no local mail catcher, email is off")
		return nil
	}
	uiPort, _ := strconv.Atoi(getenv("DEV_MAILPIT_UI_PORT"))
	smtpPort, _ := strconv.Atoi(getenv("DEV_MAILPIT_SMTP_PORT"))
	mp, err := mailpit.Start(ctx, mailpit.Options{Binary: bin, Dir: dir, UIPort: uiPort, SMTPPort: smtpPort, Logf: logf})
	if err != nil {
		logf("Mailpit did not start (%v): email is off", err)
		return nil
	}
	return mp
}
