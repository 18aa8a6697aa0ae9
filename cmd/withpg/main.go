// Command withpg runs a command with a throwaway PostgreSQL server.
//
//	go run ./cmd/withpg -- go test -race ./...
//
// It starts an ephemeral cluster (internal/localpg) in a fresh temporary
// directory (PostgreSQL itself is installed by scripts/provision.sh, which
// `make test` runs first), runs the command with DATABASE_URL and TEST_DATABASE_URL set to
// it, stops the cluster (also on SIGINT/SIGTERM) and exits with the
// command's exit code. If PostgreSQL cannot be started it prints a line
// starting with "withpg: " and exits 1 without running the command.
//
// WITHPG_VERBOSE=1 prints the cluster's progress lines to stderr.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/praxiom/praxiom-api/internal/localpg"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	var ee exitError
	if errors.As(err, &ee) {
		os.Exit(int(ee))
	}
	if err != nil {
		lines := strings.Split(strings.TrimRight(err.Error(), "\n"), "\n")
		for _, l := range lines {
			fmt.Fprintln(os.Stderr, "withpg: "+l)
		}
		os.Exit(1)
	}
}

// exitError carries the child's non-zero exit code.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("command exited with status %d", int(e)) }

const usage = "usage: withpg [--] command [args...]"

// run starts the cluster, runs args with it and stops it. A non-zero exit
// of the command is returned as an exitError.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) (err error) {
	if len(args) > 0 && args[0] == "--" {
		args = args[1:]
	}
	if len(args) == 0 {
		return errors.New(usage)
	}
	if strings.HasPrefix(args[0], "-") {
		return fmt.Errorf("unknown flag %s; %s", args[0], usage)
	}

	logf := func(string, ...any) {}
	if v := getenv("WITHPG_VERBOSE"); v != "" && v != "0" {
		logf = func(format string, a ...any) { fmt.Fprintf(stderr, "withpg: "+format+"\n", a...) }
	}

	began := time.Now()
	c, err := localpg.Start(ctx, localpg.Options{Ephemeral: true, Logf: logf})
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("interrupted while starting PostgreSQL")
		}
		return fmt.Errorf("cannot start PostgreSQL: %s", strings.TrimPrefix(err.Error(), "localpg: "))
	}
	defer func() {
		if serr := c.Stop(); serr != nil && err == nil {
			err = fmt.Errorf("stop PostgreSQL: %w", serr)
		}
	}()
	fmt.Fprintf(stderr, "withpg: PostgreSQL ready on 127.0.0.1:%d in %s\n", c.Port, time.Since(began).Round(10*time.Millisecond))

	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Stdin = os.Stdin
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	cmd.Env = append(os.Environ(), "DATABASE_URL="+c.URL, "TEST_DATABASE_URL="+c.URL)
	// On SIGINT/SIGTERM pass SIGTERM on, give the command time to finish,
	// then kill it; the cluster is stopped either way.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second

	err = cmd.Run()
	var xe *exec.ExitError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &xe):
		code := xe.ExitCode()
		if ws, ok := xe.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		if code <= 0 {
			code = 1
		}
		return exitError(code)
	default:
		return fmt.Errorf("run %s: %w", args[0], err)
	}
}
