package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/praxiom/praxiom-api/internal/app"
	"github.com/praxiom/praxiom-api/internal/store"
)

const usage = `usage: praxiom [command]

commands:
  serve                 run the API server (the default)
  migrate               apply pending migrations and exit
  users ACTION EMAIL | users ACTION --clerk-id ID
                        ACTION: grant-admin | revoke-admin | grant-founder | grant-access | suspend | unsuspend
  access-codes create --count N [--max-redemptions M] [--expires-in 720h] [--metadata '{}']
                        create access codes and print them, one a line
  help                  print this

The local development stand-in is a binary of its own: praxiom-dev (make dev).
`

// run dispatches the subcommands; main only wires the process to it.
// lookupEnv reads the environment (os.LookupEnv).
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	getenv := func(k string) string { v, _ := lookupEnv(k); return v }
	cmd := "serve"
	if len(args) > 0 {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "serve":
		return app.Serve(ctx, lookupEnv, stderr, nil)
	case "migrate":
		return migrate(ctx, getenv, stderr)
	case "users":
		return users(ctx, args, getenv, stdout)
	case "access-codes":
		return accessCodes(ctx, args, getenv, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

// migrate applies pending migrations and exits.
func migrate(ctx context.Context, getenv func(string) string, logw io.Writer) error {
	url := strings.TrimSpace(getenv("DATABASE_URL"))
	if url == "" {
		return errors.New("config: DATABASE_URL is required")
	}
	m, err := store.NewMigrator(url, app.NewLogger(logw, "info"))
	if err != nil {
		return err
	}
	defer m.Close()
	n, err := m.Up(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(logw, "applied %d migration(s)\n", n)
	return nil
}

// openAdminStore opens a small pool on DATABASE_URL for the command-line
// administration commands.
func openAdminStore(ctx context.Context, getenv func(string) string) (*store.Store, error) {
	url := strings.TrimSpace(getenv("DATABASE_URL"))
	if url == "" {
		return nil, errors.New("config: DATABASE_URL is required")
	}
	return store.Open(ctx, url, store.Options{MaxConns: 2})
}
