// Command praxiom is the Praxiom API: the server, migrations, account
// administration and the local development stand-in for Clerk.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "praxiom:", err)
		stop()
		os.Exit(1)
	}
}
