package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"
)

func TestRunPassesURLAndExitCode(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	script := `test -n "$DATABASE_URL" && test "$DATABASE_URL" = "$TEST_DATABASE_URL" || exit 9
psql "$DATABASE_URL" -Atc 'select current_database()' || exit 8
exit 3`
	err := run(ctx, []string{"--", "sh", "-c", script}, os.Getenv, &stdout, &stderr)
	var ee exitError
	if !errors.As(err, &ee) || int(ee) != 3 {
		t.Fatalf("run = %v, want exit status 3\nstdout: %s\nstderr: %s", err, &stdout, &stderr)
	}
	if got := strings.TrimSpace(stdout.String()); got != "praxiom" {
		t.Fatalf("current_database = %q, want praxiom\nstderr: %s", got, &stderr)
	}
	if !strings.Contains(stderr.String(), "withpg: PostgreSQL ready on 127.0.0.1:") {
		t.Fatalf("stderr = %q", &stderr)
	}
}

func TestRunSuccess(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out bytes.Buffer
	if err := run(ctx, []string{"true"}, os.Getenv, &out, &out); err != nil {
		t.Fatalf("run true = %v\n%s", err, &out)
	}
}

func TestRunUsage(t *testing.T) {
	for _, args := range [][]string{nil, {"--"}, {"-x", "true"}} {
		err := run(context.Background(), args, os.Getenv, &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "usage: withpg") {
			t.Errorf("run(%q) = %v, want usage error", args, err)
		}
	}
}
