package localpg

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

func testCtx(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

// scratch returns a fresh directory to put data directories in, made the
// way Start makes its own (owned by postgres when the test runs as root, so
// that initdb can create data directories in it), removed at cleanup.
func scratch(t *testing.T) string {
	t.Helper()
	r, err := newRunner()
	if err != nil {
		t.Fatal(err)
	}
	d, err := r.mkdirTemp(testCtx(t), os.TempDir(), "localpg-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(d) })
	return d
}

func connect(t *testing.T, ctx context.Context, url string) *pgx.Conn {
	t.Helper()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatalf("connect %s: %v", url, err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func TestEphemeral(t *testing.T) {
	ctx := testCtx(t)
	dir := filepath.Join(scratch(t), "data")
	began := time.Now()
	c, err := Start(ctx, Options{Dir: dir, Ephemeral: true, Database: "unit_db", Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	t.Logf("ephemeral cluster up in %s", time.Since(began).Round(time.Millisecond))

	if c.Dir != dir || c.Port == 0 {
		t.Fatalf("cluster = %+v", c)
	}
	if !strings.HasPrefix(c.URL, "postgres://postgres@127.0.0.1:") || !strings.Contains(c.URL, "/unit_db?sslmode=disable") {
		t.Fatalf("URL = %q", c.URL)
	}
	conn := connect(t, ctx, c.URL)
	var one int
	if err := conn.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	var db, fsync string
	if err := conn.QueryRow(ctx, "SELECT current_database(), current_setting('fsync')").Scan(&db, &fsync); err != nil {
		t.Fatal(err)
	}
	if db != "unit_db" || fsync != "off" {
		t.Fatalf("database %q fsync %q", db, fsync)
	}
	var listen string
	if err := conn.QueryRow(ctx, "SELECT current_setting('listen_addresses')").Scan(&listen); err != nil || listen != "127.0.0.1" {
		t.Fatalf("listen_addresses = %q, %v", listen, err)
	}
	conn.Close(ctx)

	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("data directory still there after Stop: %v", err)
	}
}

func TestPersistent(t *testing.T) {
	ctx := testCtx(t)
	dir := filepath.Join(scratch(t), "data")
	o := Options{Dir: dir, Logf: t.Logf, ExtraConfig: map[string]string{"application_name": "it's localpg"}}

	c, err := Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop() })
	if !strings.HasSuffix(c.URL, "/praxiom?sslmode=disable") {
		t.Fatalf("URL = %q, want the default database", c.URL)
	}
	conn := connect(t, ctx, c.URL)
	if _, err := conn.Exec(ctx, "CREATE TABLE kept (v text); INSERT INTO kept VALUES ('survives')"); err != nil {
		t.Fatal(err)
	}
	conn.Close(ctx)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "PG_VERSION")); err != nil {
		t.Fatalf("non-ephemeral data directory gone: %v", err)
	}

	// Start again on the same directory: the table is still there.
	c2, err := Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c2.Stop() })
	checkKept(t, ctx, c2.URL)

	// A crash (the whole server killed) leaves a stale postmaster.pid:
	// the next Start recovers.
	pid := readPid(dir)
	if pid <= 0 {
		t.Fatal("no postmaster.pid while running")
	}
	_ = syscall.Kill(-pid, syscall.SIGKILL) // pg_ctl puts the postmaster in its own process group
	waitGone(t, pid)
	if readPid(dir) != pid {
		t.Fatal("postmaster.pid not left behind by the crash")
	}
	c3, err := Start(ctx, o)
	if err != nil {
		t.Fatalf("start after crash: %v", err)
	}
	t.Cleanup(func() { _ = c3.Stop() })
	checkKept(t, ctx, c3.URL)

	// The crashed cluster's handle must not stop the new server.
	if err := c2.Stop(); err != nil {
		t.Fatalf("Stop of the crashed cluster: %v", err)
	}
	checkKept(t, ctx, c3.URL)

	// Starting a second server on a running cluster fails clearly.
	if _, err := Start(ctx, o); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second Start on a running cluster: %v", err)
	}
	if err := c3.Stop(); err != nil {
		t.Fatal(err)
	}
}

func checkKept(t *testing.T, ctx context.Context, url string) {
	t.Helper()
	conn := connect(t, ctx, url)
	var v string
	if err := conn.QueryRow(ctx, "SELECT v FROM kept").Scan(&v); err != nil || v != "survives" {
		t.Fatalf("SELECT v FROM kept = %q, %v", v, err)
	}
	conn.Close(ctx)
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still alive", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestLongDirUsesShortSocketPath(t *testing.T) {
	ctx := testCtx(t)
	dir := filepath.Join(scratch(t), strings.Repeat("d", 60), strings.Repeat("e", 60), "data")
	c, err := Start(ctx, Options{Dir: dir, Ephemeral: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Stop()
	if c.sockDir == "" || len(c.sockDir) > 40 {
		t.Fatalf("sockDir = %q for a long data directory", c.sockDir)
	}
	conn := connect(t, ctx, c.URL)
	conn.Close(ctx)
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(c.sockDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("socket directory left behind: %v", err)
	}
}

func TestRefusesForeignDir(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "notes.txt"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Start(testCtx(t), Options{Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "no PostgreSQL cluster") {
		t.Fatalf("Start on a non-empty non-cluster dir: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "notes.txt")); err != nil {
		t.Fatalf("foreign file touched: %v", err)
	}
}

func TestFindBinaries(t *testing.T) {
	d, err := FindBinaries()
	if err != nil {
		t.Fatal(err)
	}
	if !hasServerBinaries(d) {
		t.Fatalf("FindBinaries = %s without the server binaries", d)
	}
}

func TestShellQuote(t *testing.T) {
	if got := shellQuote("a='b c'"); got != `'a='\''b c'\'''` {
		t.Fatalf("shellQuote = %s", got)
	}
}

func TestStartFailureShowsServerLog(t *testing.T) {
	dir := filepath.Join(scratch(t), "data")
	_, err := Start(testCtx(t), Options{Dir: dir, Ephemeral: true,
		ExtraConfig: map[string]string{"shared_buffers": "lots"}})
	if err == nil {
		t.Fatal("Start with a bad setting succeeded")
	}
	if !strings.Contains(err.Error(), "shared_buffers") {
		t.Fatalf("error does not show the server log: %v", err)
	}
	t.Logf("error as reported:\n%v", err)
	if _, serr := os.Stat(dir); !errors.Is(serr, os.ErrNotExist) {
		t.Fatalf("ephemeral data directory left after a failed start: %v", serr)
	}
}

func TestBusyPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(*net.TCPAddr).Port
	_, err = Start(testCtx(t), Options{Dir: filepath.Join(scratch(t), "data"), Port: port, Ephemeral: true})
	var ae *addrInUseError
	if !errors.As(err, &ae) {
		t.Fatalf("Start on a busy port: %v", err)
	}
}

// TestTempDirWhenNoDir: without Options.Dir, Start makes a directory of
// its own under os.TempDir(); a durable cluster keeps it through Stop (so it
// can be started again), an ephemeral one removes it.
func TestTempDirWhenNoDir(t *testing.T) {
	for _, ephemeral := range []bool{false, true} {
		c, err := Start(testCtx(t), Options{Ephemeral: ephemeral})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Stop(); _ = os.RemoveAll(c.Dir) })
		if filepath.Dir(c.Dir) != filepath.Clean(os.TempDir()) {
			t.Fatalf("Dir = %s, want a directory in %s", c.Dir, os.TempDir())
		}
		if err := c.Stop(); err != nil {
			t.Fatal(err)
		}
		_, err = os.Stat(filepath.Join(c.Dir, "PG_VERSION"))
		if kept := err == nil; kept == ephemeral {
			t.Fatalf("ephemeral %t: data directory kept after Stop: %t (%v)", ephemeral, kept, err)
		}
	}
}

// TestRootRefusesDirNotOwnedByPostgres: as root, PostgreSQL runs as the
// postgres user, and Start refuses (without touching it) a data directory
// that user does not own, naming the script that prepares it.
func TestRootRefusesDirNotOwnedByPostgres(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("only root runs PostgreSQL as another user")
	}
	dir := t.TempDir() // root's, empty
	_, err := Start(testCtx(t), Options{Dir: dir, Ephemeral: true})
	if err == nil || !strings.Contains(err.Error(), "not by postgres") || !strings.Contains(err.Error(), "scripts/provision.sh --pgdata") {
		t.Fatalf("Start on a root-owned directory: %v", err)
	}
	if entries, err := os.ReadDir(dir); err != nil || len(entries) != 0 {
		t.Fatalf("directory touched: %v %v", entries, err)
	}
}
