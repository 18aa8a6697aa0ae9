package main

import (
	"bytes"
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/store"
)

func TestAccessCodesCreatePrintsCodes(t *testing.T) {
	url := pgtest.NewDatabase(t)
	getenv := func(k string) string {
		if k == "DATABASE_URL" {
			return url
		}
		return ""
	}
	ctx := context.Background()
	var out bytes.Buffer
	err := accessCodes(ctx, []string{"create", "--count", "7", "--max-redemptions", "3", "--expires-in", "720h",
		"--metadata", `{"batch": "cli"}`}, getenv, &out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimRight(out.String(), "\n"), "\n")
	pattern := regexp.MustCompile(`^PRAXIOM-[23456789ABCDEFGHJKMNPQRSTUVWXYZ]{6}$`)
	if len(lines) != 7 {
		t.Fatalf("printed %d lines, want 7:\n%s", len(lines), out.String())
	}
	for _, l := range lines {
		if !pattern.MatchString(l) {
			t.Errorf("line %q is not a code", l)
		}
	}

	st, err := store.Open(ctx, url, store.Options{MaxConns: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	codes, total, err := st.ListAccessCodes(ctx, 50, 0)
	if err != nil || total != 7 {
		t.Fatalf("stored %d codes (%v), want 7", total, err)
	}
	for _, c := range codes {
		if c.MaxRedemptions != 3 || c.ExpiresAt == nil || time.Until(*c.ExpiresAt) < 719*time.Hour ||
			!strings.Contains(string(c.Metadata), `"cli"`) {
			t.Errorf("stored code %+v (metadata %s)", c, c.Metadata)
		}
	}

	// Through run, with the defaults.
	out.Reset()
	if err := run(ctx, []string{"access-codes", "create", "--count", "1"}, envOf(map[string]string{"DATABASE_URL": url}), &out, &out); err != nil {
		t.Fatal(err)
	}
	if !pattern.MatchString(strings.TrimSpace(out.String())) {
		t.Errorf("run printed %q", out.String())
	}

	// Refusals: nothing is created.
	for _, args := range [][]string{
		{},
		{"list"},
		{"create"},
		{"create", "--count", "0"},
		{"create", "--count", "1001"},
		{"create", "--count", "1", "--max-redemptions", "0"},
		{"create", "--count", "1", "--expires-in", "-1h"},
		{"create", "--count", "1", "--metadata", "[1]"},
		{"create", "--count", "x"},
		{"create", "--count", "1", "extra"},
	} {
		out.Reset()
		if err := accessCodes(ctx, args, getenv, &out); err == nil || out.Len() != 0 {
			t.Errorf("%q: err %v, printed %q; want an error and nothing printed", args, err, out.String())
		}
	}
	if _, total, _ := st.ListAccessCodes(ctx, 50, 0); total != 8 {
		t.Errorf("%d codes after refusals, want 8", total)
	}
	err = accessCodes(ctx, []string{"create", "--count", "1"}, func(string) string { return "" }, &out)
	if err == nil || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Errorf("without DATABASE_URL: %v", err)
	}
	err = accessCodes(ctx, []string{"create", "--count", "0", "--max-redemptions", "0"}, getenv, &out)
	if err == nil || !strings.Contains(err.Error(), "--count") || !strings.Contains(err.Error(), "--max-redemptions") {
		t.Errorf("validation error does not name the flags: %v", err)
	}
}
