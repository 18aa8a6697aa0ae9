// Command praxiom is the Praxiom API: the server, migrations and account
// administration. The local development stand-in is cmd/praxiom-dev.
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
	if err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "praxiom:", err)
		stop()
		os.Exit(1)
	}
}
