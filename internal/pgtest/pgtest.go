// Package pgtest gives each test a throwaway PostgreSQL database: a fresh
// copy of a template migrated once per test binary, dropped when the test
// ends. The cluster comes from DATABASE_URL (`make test` starts one with
// cmd/withpg).
package pgtest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/praxiom/praxiom-api/internal/randcode"
	"github.com/praxiom/praxiom-api/internal/store"
)

var (
	templateOnce sync.Once
	templateName string
	templateErr  error
)

// BaseURL returns TEST_DATABASE_URL, else DATABASE_URL, and fails the test
// when neither is set: the database tests never skip silently (run them
// with `make test`).
func BaseURL(tb testing.TB) string {
	tb.Helper()
	u := os.Getenv("TEST_DATABASE_URL")
	if u == "" {
		u = os.Getenv("DATABASE_URL")
	}
	if u == "" {
		tb.Fatal("DATABASE_URL is not set: run the tests with `make test`, which starts a throwaway PostgreSQL")
	}
	return u
}

// withDatabase returns dsn with its database name replaced.
func withDatabase(dsn, db string) string {
	u, err := url.Parse(dsn)
	if err != nil {
		panic("pgtest: DATABASE_URL is not a URL")
	}
	u.Path = "/" + db
	return u.String()
}

func admin(ctx context.Context, url string) (*pgx.Conn, error) {
	return pgx.Connect(ctx, withDatabase(url, "postgres"))
}

func ensureTemplate(tb testing.TB, base string) string {
	tb.Helper()
	templateOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		name := "tmpl_" + strings.ToLower(randcode.String(10))
		conn, err := admin(ctx, base)
		if err != nil {
			templateErr = fmt.Errorf("connect: %w", err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
			templateErr = fmt.Errorf("create template: %w", err)
			return
		}
		m, err := store.NewMigrator(withDatabase(base, name), nil)
		if err != nil {
			templateErr = err
			return
		}
		if _, err := m.Up(ctx); err != nil {
			m.Close()
			templateErr = fmt.Errorf("migrate template: %w", err)
			return
		}
		m.Close()
		templateName = name
	})
	if templateErr != nil {
		tb.Fatalf("pgtest: template database: %v", templateErr)
	}
	return templateName
}

// NewDatabase creates a fresh, fully migrated database for this test and
// returns its URL; it is dropped when the test ends.
func NewDatabase(tb testing.TB) string {
	tb.Helper()
	base := BaseURL(tb)
	return createDatabase(tb, base, "t_", ensureTemplate(tb, base))
}

// createDatabase creates a database named prefix and a random suffix, from
// template unless it is empty, and drops it when the test ends; it returns
// its URL.
func createDatabase(tb testing.TB, base, prefix, template string) string {
	tb.Helper()
	ctx := context.Background()
	name := prefix + strings.ToLower(randcode.String(12))
	conn, err := admin(ctx, base)
	if err != nil {
		tb.Fatalf("pgtest: connect: %v", err)
	}
	defer conn.Close(ctx)
	create := "CREATE DATABASE " + name
	if template != "" {
		create += " TEMPLATE " + template
	}
	// CREATE DATABASE … TEMPLATE needs the template idle; retry briefly
	// while a sibling test's copy is in progress.
	for attempt := 0; ; attempt++ {
		_, err = conn.Exec(ctx, create)
		if err == nil || template == "" || attempt > 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		tb.Fatalf("pgtest: create database: %v", err)
	}
	tb.Cleanup(func() {
		c, err := admin(context.Background(), base)
		if err != nil {
			return
		}
		defer c.Close(context.Background())
		_, _ = c.Exec(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	return withDatabase(base, name)
}

// NewStore opens a store on a fresh database.
func NewStore(tb testing.TB, o store.Options) (*store.Store, string) {
	tb.Helper()
	url := NewDatabase(tb)
	st, err := store.Open(context.Background(), url, o)
	if err != nil {
		tb.Fatalf("pgtest: open store: %v", err)
	}
	tb.Cleanup(st.Close)
	return st, url
}

// NewEmptyDatabase creates a database with nothing in it (no migration
// applied) for this test and returns its URL; it is dropped when the test
// ends.
func NewEmptyDatabase(tb testing.TB) string {
	tb.Helper()
	return createDatabase(tb, BaseURL(tb), "e_", "")
}
