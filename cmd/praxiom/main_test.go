package main

import (
	"context"
	"io"
	"strings"
	"testing"
)

// envOf is an environment of exactly kv, read like os.LookupEnv.
func envOf(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

func TestServeRefusesBadConfigInOneLine(t *testing.T) {
	err := run(context.Background(), []string{"serve"}, envOf(map[string]string{"CLERK_JWT_KEY": "x"}), io.Discard, io.Discard)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("want a one-line reason naming DATABASE_URL, got %v", err)
	}
}

// TestUnknownCommand: anything but the production commands is refused,
// the development stand-in included (it is cmd/praxiom-dev).
func TestUnknownCommand(t *testing.T) {
	for _, cmd := range []string{"frobnicate", "dev"} {
		err := run(context.Background(), []string{cmd}, envOf(nil), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "unknown command") {
			t.Errorf("%s: %v, want unknown command", cmd, err)
		}
	}
}
