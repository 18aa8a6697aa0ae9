// Command praxiom-dev is the local development stand-in for Clerk and
// PostgreSQL (`make dev`): a private PostgreSQL under .data/, a development
// key pair used as CLERK_JWT_KEY, a development webhook secret, and the
// server of cmd/praxiom (internal/app). `praxiom-dev token` prints tokens
// signed with that key. It refuses to run with APP_ENV=production and is
// never part of the production image.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "praxiom-dev:", err)
		stop()
		os.Exit(1)
	}
}

const usage = `usage: praxiom-dev [command]

commands:
  (none)                the local stand-in: private PostgreSQL under .data/, dev key pair, the server
  token --email E [--name N] [--ttl 1h] [--kind K]
                        print a token signed with the development key (--kind: another kind of
                        Clerk token, to try the server's refusals; token --help lists them)
  help                  print this
`

// run dispatches the commands; lookupEnv reads the environment
// (os.LookupEnv).
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	getenv := func(k string) string { v, _ := lookupEnv(k); return v }
	if strings.EqualFold(strings.TrimSpace(getenv("APP_ENV")), "production") {
		return errors.New("refused: APP_ENV=production (praxiom-dev is for development only)")
	}
	if len(args) == 0 {
		return dev(ctx, lookupEnv, stdout, stderr)
	}
	switch args[0] {
	case "token":
		return token(args[1:], getenv, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}
