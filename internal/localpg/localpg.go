// Package localpg runs a private PostgreSQL cluster with the system's
// PostgreSQL programs (initdb, pg_ctl, then CREATE DATABASE): a throwaway
// one for tests, or a persistent one for local development. It installs
// nothing and changes no ownership or permission: scripts/provision.sh
// installs PostgreSQL and prepares directories.
//
// The cluster listens on 127.0.0.1 only, trusts local connections for the
// "postgres" superuser, and keeps its unix socket inside the data directory
// (or in a short directory under /tmp when the data directory's path is too
// long for a socket path). PostgreSQL refuses to run as root, so when the
// calling process is root every PostgreSQL program runs through
// `runuser -u postgres --`: that user must exist and own the data directory
// (or be able to create it); directories localpg creates itself (Options.Dir
// empty, the socket directory) are made by that user with mktemp.
package localpg

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Options configures Start.
type Options struct {
	// Dir is the data directory. It is initdb'd when missing or empty
	// (initdb creates it), and reused (its data survives) when it already
	// holds a cluster. Empty means a fresh directory under os.TempDir()
	// (Cluster.Dir), which Stop removes only when Ephemeral is set.
	Dir string
	// Port is the TCP port on 127.0.0.1; 0 picks a free one.
	Port int
	// Database is created if missing (default "praxiom").
	Database string
	// Ephemeral turns off durability (fsync, synchronous_commit,
	// full_page_writes) for speed and removes Dir on Stop. For tests.
	Ephemeral bool
	// Logf receives progress lines; nil means silent.
	Logf func(format string, args ...any)
	// ExtraConfig holds extra server settings passed as -c name=value.
	ExtraConfig map[string]string
}

// DefaultDatabase is the database Start creates when Options.Database is empty.
const DefaultDatabase = "praxiom"

// Timeouts for the server to come up and to shut down.
const (
	startTimeout = 30 * time.Second
	stopTimeout  = 60 * time.Second
)

// logName is the server log file, kept inside the data directory.
const logName = "localpg.log"

// Cluster is a running PostgreSQL cluster started by Start.
type Cluster struct {
	// URL connects as the superuser "postgres" to the database from
	// Options.Database: postgres://postgres@127.0.0.1:PORT/DB?sslmode=disable
	URL string
	// Dir is the absolute data directory.
	Dir string
	// Port is the TCP port on 127.0.0.1.
	Port int

	r         *runner
	sockDir   string // "" when the socket lives in Dir
	pid       int    // postmaster PID once started
	ephemeral bool
	logf      func(string, ...any)

	mu      sync.Mutex
	stopped bool
	stopErr error
}

// Start initialises (when needed) and starts a cluster, waits until it
// accepts connections and creates Options.Database if it is missing.
//
// It fails with a one-line reason when the PostgreSQL programs are missing,
// when Dir holds something that is not a cluster of the installed major
// version, when a server already runs on Dir, and, as root, when there is
// no postgres user or Dir is not owned by it.
func Start(ctx context.Context, o Options) (_ *Cluster, err error) {
	logf := o.Logf
	if logf == nil {
		logf = func(string, ...any) {}
	}
	if o.Database == "" {
		o.Database = DefaultDatabase
	}
	if o.Port < 0 || o.Port > 65535 {
		return nil, fmt.Errorf("localpg: invalid port %d", o.Port)
	}
	began := time.Now()

	r, err := newRunner()
	if err != nil {
		return nil, err
	}
	major, err := r.majorVersion(ctx)
	if err != nil {
		return nil, err
	}

	// Data directory: fresh, empty, or an existing cluster.
	createdDir := false // by this call: removed again if it fails
	if o.Dir == "" {
		if o.Dir, err = r.mkdirTemp(ctx, os.TempDir(), "localpg-"); err != nil {
			return nil, err
		}
		createdDir = true
	}
	dir, err := filepath.Abs(o.Dir)
	if err != nil {
		return nil, fmt.Errorf("localpg: %w", err)
	}
	fresh, err := prepareDir(dir, major)
	if err != nil {
		return nil, err
	}
	if _, statErr := os.Stat(dir); errors.Is(statErr, os.ErrNotExist) {
		createdDir = true // initdb creates it
	} else if err := r.checkOwner(dir); err != nil {
		return nil, err
	}

	cl := &Cluster{Dir: dir, r: r, ephemeral: o.Ephemeral, logf: logf}
	attempted := false // pg_ctl start was run (the server may be up even if it failed or was cancelled)
	defer func() {
		if err == nil {
			return
		}
		if attempted {
			_ = cl.pgctlStop(context.Background())
		}
		if cl.sockDir != "" {
			_ = os.RemoveAll(cl.sockDir)
		}
		// Only remove what this call initialised; never a reused cluster.
		if fresh && (createdDir || o.Ephemeral) {
			_ = os.RemoveAll(dir)
		}
	}()

	if fresh {
		t := time.Now()
		logf("initdb %s (PostgreSQL %d, %s)", dir, major, r.binDir)
		args := []string{"-D", dir, "--auth=trust", "-U", "postgres",
			"--encoding=UTF8", "--locale=C", "--no-instructions"}
		if o.Ephemeral {
			args = append(args, "--no-sync")
		}
		if out, err := r.run(ctx, r.pg("initdb"), args...); err != nil {
			hint := ""
			if r.as != nil {
				hint = fmt.Sprintf("\n  (as root, initdb runs as %s, which must be able to create and own %s: scripts/provision.sh --pgdata %s prepares it)", r.as.name, dir, dir)
			}
			return nil, fmt.Errorf("localpg: initdb %s: %w%s%s", dir, err, tailBlock(out, 15), hint)
		}
		logf("initdb done in %s", time.Since(t).Round(time.Millisecond))
	} else {
		logf("reusing cluster in %s", dir)
		if err := checkPidFile(dir, logf); err != nil {
			return nil, err
		}
	}

	// Unix socket: inside Dir unless the path would be too long
	// (sun_path holds 107 bytes; the lock file adds ".lock").
	if len(dir)+len("/.s.PGSQL.65535.lock") > 100 {
		if cl.sockDir, err = r.mkdirTemp(ctx, "/tmp", "pgs"); err != nil {
			return nil, err
		}
	}
	sockDir := dir
	if cl.sockDir != "" {
		sockDir = cl.sockDir
	}

	// Start, retrying with another port if a picked one was taken meanwhile.
	port := o.Port
	for attempt := 1; ; attempt++ {
		if o.Port == 0 {
			if port, err = FreePort(); err != nil {
				return nil, fmt.Errorf("localpg: pick a free port: %w", err)
			}
		}
		t := time.Now()
		attempted = true
		serr := cl.pgctlStart(ctx, port, sockDir, o)
		if serr == nil {
			cl.pid = readPid(dir)
			logf("server started on 127.0.0.1:%d in %s", port, time.Since(t).Round(time.Millisecond))
			break
		}
		var ae *addrInUseError
		if o.Port == 0 && errors.As(serr, &ae) && attempt < 3 {
			logf("port %d was taken, retrying", port)
			continue
		}
		return nil, serr
	}
	cl.Port = port

	if err := cl.createDatabase(ctx, o.Database); err != nil {
		return nil, err
	}
	cl.URL = fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", port, url.PathEscape(o.Database))
	logf("ready: %s (%s)", cl.URL, time.Since(began).Round(time.Millisecond))
	return cl, nil
}

// Stop shuts the server down (pg_ctl stop -m fast) and, for an Ephemeral
// cluster, removes its data directory. It is safe to call more than once.
func (c *Cluster) Stop() error {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return c.stopErr
	}
	c.stopped = true
	err := c.pgctlStop(context.Background())
	if c.sockDir != "" {
		_ = os.RemoveAll(c.sockDir)
	}
	if c.ephemeral {
		if rmErr := os.RemoveAll(c.Dir); rmErr != nil && err == nil {
			err = fmt.Errorf("localpg: remove %s: %w", c.Dir, rmErr)
		}
	}
	if err == nil {
		c.logf("stopped cluster in %s", c.Dir)
	}
	c.stopErr = err
	return err
}

func (c *Cluster) pgctlStart(ctx context.Context, port int, sockDir string, o Options) error {
	settings := map[string]string{
		"listen_addresses":        "127.0.0.1",
		"unix_socket_directories": sockDir,
		"max_connections":         "200",
		"shared_buffers":          "128MB",
	}
	if o.Ephemeral {
		settings["fsync"] = "off"
		settings["synchronous_commit"] = "off"
		settings["full_page_writes"] = "off"
	}
	for k, v := range o.ExtraConfig {
		settings[k] = v
	}
	keys := make([]string, 0, len(settings))
	for k := range settings {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	// pg_ctl hands -o to /bin/sh, so every word is shell-quoted.
	opts := []string{"-p", strconv.Itoa(port)}
	for _, k := range keys {
		opts = append(opts, "-c", shellQuote(k+"="+settings[k]))
	}

	logPath := filepath.Join(c.Dir, logName)
	var logOffset int64
	if fi, err := os.Stat(logPath); err == nil {
		logOffset = fi.Size()
	}
	// Not cancellable: pg_ctl -w is bounded by -t, and killing it midway
	// could leave a server starting up that nobody stops.
	out, err := c.r.run(context.WithoutCancel(ctx), c.r.pg("pg_ctl"), "start", "-D", c.Dir, "-l", logPath, "-w",
		"-t", strconv.Itoa(int(startTimeout/time.Second)), "-s", "-o", strings.Join(opts, " "))
	if err == nil && ctx.Err() != nil {
		_ = c.pgctlStop(context.Background())
		return fmt.Errorf("localpg: start cancelled: %w", ctx.Err())
	}
	if err == nil {
		// pg_ctl -w already waited for "ready"; confirm over TCP.
		dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", port)
		if err = waitReady(ctx, dsn, 10*time.Second); err == nil {
			return nil
		}
		_ = c.pgctlStop(context.Background())
	}
	log := readFrom(logPath, logOffset)
	msg := fmt.Sprintf("localpg: PostgreSQL did not start on 127.0.0.1:%d", port)
	if s, _, _ := strings.Cut(strings.TrimSpace(string(out)), "\n"); s != "" {
		msg += " (" + s + ")"
	} else {
		msg += fmt.Sprintf(" (%v)", err)
	}
	if t := tailBlock(log, 20); t != "" {
		msg += "; server log:" + t
	}
	if bytes.Contains(log, []byte("Address already in use")) || bytes.Contains(log, []byte("could not bind")) {
		return &addrInUseError{msg}
	}
	return errors.New(msg)
}

// pgctlStop stops the server: fast, then immediate, then (for an ephemeral
// cluster whose data is about to be removed anyway) SIGKILL.
func (c *Cluster) pgctlStop(ctx context.Context) error {
	pidFile := filepath.Join(c.Dir, "postmaster.pid")
	if _, err := os.Stat(pidFile); errors.Is(err, os.ErrNotExist) {
		return nil // not running
	}
	if c.pid != 0 && readPid(c.Dir) != c.pid {
		return nil // ours is gone; another server runs on Dir now
	}
	out, err := c.r.run(ctx, c.r.pg("pg_ctl"), "stop", "-D", c.Dir, "-m", "fast", "-w",
		"-t", strconv.Itoa(int(stopTimeout/time.Second)), "-s")
	if err == nil {
		return nil
	}
	if _, statErr := os.Stat(pidFile); errors.Is(statErr, os.ErrNotExist) {
		return nil // it was not running after all
	}
	c.logf("fast shutdown failed (%v: %s); trying immediate", err, lastLine(string(out)))
	out2, err2 := c.r.run(ctx, c.r.pg("pg_ctl"), "stop", "-D", c.Dir, "-m", "immediate", "-w", "-t", "30", "-s")
	if err2 == nil {
		return nil
	}
	if c.ephemeral {
		if pid := readPid(c.Dir); pid > 0 {
			_ = syscall.Kill(-pid, syscall.SIGKILL)
			_ = syscall.Kill(pid, syscall.SIGKILL)
			return nil
		}
	}
	return fmt.Errorf("localpg: pg_ctl stop -D %s: %v: %s", c.Dir, err2, lastLine(string(out2)))
}

func (c *Cluster) createDatabase(ctx context.Context, name string) error {
	dsn := fmt.Sprintf("postgres://postgres@127.0.0.1:%d/postgres?sslmode=disable", c.Port)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return fmt.Errorf("localpg: connect: %w", err)
	}
	defer conn.Close(context.Background())
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return fmt.Errorf("localpg: look up database %q: %w", name, err)
	}
	if exists {
		return nil
	}
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("localpg: create database %q: %w", name, err)
	}
	c.logf("created database %s", name)
	return nil
}

type addrInUseError struct{ msg string }

func (e *addrInUseError) Error() string { return e.msg }

// waitReady pings dsn until it answers or d has passed.
func waitReady(ctx context.Context, dsn string, d time.Duration) error {
	deadline := time.Now().Add(d)
	for {
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(pctx, dsn)
		if err == nil {
			err = conn.Ping(pctx)
			conn.Close(context.Background())
		}
		cancel()
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not accepting connections after %s: %w", d, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// prepareDir reports whether dir needs initdb (missing or empty) and checks
// that an existing cluster matches the binaries' major version.
func prepareDir(dir string, major int) (fresh bool, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("localpg: data directory: %w", err)
	}
	if len(entries) == 0 {
		return true, nil
	}
	b, err := os.ReadFile(filepath.Join(dir, "PG_VERSION"))
	if err != nil {
		return false, fmt.Errorf("localpg: %s is not empty and holds no PostgreSQL cluster (no PG_VERSION)", dir)
	}
	v := strings.TrimSpace(string(b))
	if v != strconv.Itoa(major) {
		return false, fmt.Errorf("localpg: %s holds a PostgreSQL %s cluster but the binaries are PostgreSQL %d; remove the directory or install PostgreSQL %s", dir, v, major, v)
	}
	return false, nil
}

// checkPidFile looks at a reused cluster's postmaster.pid. A dead process is
// fine (the server cleans up after itself); a live PostgreSQL is an error; a
// live process that is not PostgreSQL (the PID was reused, say after a
// reboot) would make the server refuse to start, so the file is removed.
func checkPidFile(dir string, logf func(string, ...any)) error {
	pid := readPid(dir)
	if pid <= 0 {
		return nil
	}
	err := syscall.Kill(pid, 0)
	if errors.Is(err, syscall.ESRCH) {
		logf("stale postmaster.pid (pid %d is gone); starting anyway", pid)
		return nil
	}
	comm, rerr := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
	if rerr == nil && !bytes.Contains(comm, []byte("postgres")) && !bytes.Contains(comm, []byte("postmaster")) {
		logf("stale postmaster.pid (pid %d is now %q); removing it", pid, strings.TrimSpace(string(comm)))
		if err := os.Remove(filepath.Join(dir, "postmaster.pid")); err != nil {
			return fmt.Errorf("localpg: remove stale postmaster.pid: %w", err)
		}
		return nil
	}
	return fmt.Errorf("localpg: a PostgreSQL server (pid %d) is already running on %s; stop it first (pg_ctl stop -D %s)", pid, dir, dir)
}

func readPid(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		return 0
	}
	return pid
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// runner runs programs (the PostgreSQL ones from binDir) as the postgres
// user when the process is root, directly otherwise.
type runner struct {
	binDir string
	as     *pgUser // nil unless running as root
}

// pgUser is the unprivileged account PostgreSQL runs as when we are root.
type pgUser struct {
	name string
	uid  int
}

// newRunner finds the PostgreSQL programs and, as root, the postgres user.
func newRunner() (*runner, error) {
	binDir, err := FindBinaries()
	if err != nil {
		return nil, err
	}
	r := &runner{binDir: binDir}
	if os.Geteuid() != 0 {
		return r, nil
	}
	if _, err := exec.LookPath("runuser"); err != nil {
		return nil, errors.New("localpg: running as root but runuser is missing (PostgreSQL refuses to run as root)")
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("localpg: running as root and there is no postgres user to run PostgreSQL as (it refuses root); scripts/provision.sh postgres creates it: %w", err)
	}
	uid, err := strconv.Atoi(u.Uid)
	if err != nil || uid == 0 {
		return nil, fmt.Errorf("localpg: user postgres has uid %q; PostgreSQL refuses to run as root", u.Uid)
	}
	r.as = &pgUser{name: u.Username, uid: uid}
	return r, nil
}

// pg is the path of the PostgreSQL program name.
func (r *runner) pg(name string) string { return filepath.Join(r.binDir, name) }

func (r *runner) command(ctx context.Context, path string, args ...string) *exec.Cmd {
	var cmd *exec.Cmd
	if r.as != nil {
		cmd = exec.CommandContext(ctx, "runuser", append([]string{"-u", r.as.name, "--", path}, args...)...)
	} else {
		cmd = exec.CommandContext(ctx, path, args...)
	}
	cmd.Dir = "/" // the caller's directory may not be readable by postgres
	cmd.Env = cleanEnv(os.Environ())
	// On cancellation ask politely (runuser passes SIGTERM on), then kill.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// run runs a program and returns its combined output.
func (r *runner) run(ctx context.Context, path string, args ...string) ([]byte, error) {
	var buf bytes.Buffer
	cmd := r.command(ctx, path, args...)
	cmd.Stdout = &buf
	cmd.Stderr = &buf
	err := cmd.Run()
	return buf.Bytes(), err
}

// mkdirTemp makes a new directory in parent (mode 0700) owned by the user
// PostgreSQL runs as: as root, mktemp runs as postgres, so nothing needs a
// chown.
func (r *runner) mkdirTemp(ctx context.Context, parent, prefix string) (string, error) {
	if r.as == nil {
		d, err := os.MkdirTemp(parent, prefix)
		if err != nil {
			return "", fmt.Errorf("localpg: %w", err)
		}
		return d, nil
	}
	out, err := r.run(ctx, "mktemp", "-d", "-p", parent, prefix+"XXXXXXXX")
	if err != nil {
		return "", fmt.Errorf("localpg: mktemp -d in %s as %s: %v: %s", parent, r.as.name, err, lastLine(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// checkOwner refuses, as root, an existing directory that the postgres user
// does not own: PostgreSQL would not start on it.
func (r *runner) checkOwner(dir string) error {
	if r.as == nil {
		return nil
	}
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("localpg: %w", err)
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != r.as.uid {
		return fmt.Errorf("localpg: %s is owned by uid %d, not by %s, which PostgreSQL runs as under root; scripts/provision.sh --pgdata %s prepares it", dir, st.Uid, r.as.name, dir)
	}
	return nil
}

func (r *runner) majorVersion(ctx context.Context) (int, error) {
	out, err := exec.CommandContext(ctx, r.pg("pg_ctl"), "--version").Output()
	if err != nil {
		return 0, fmt.Errorf("localpg: pg_ctl --version: %w", err)
	}
	// "pg_ctl (PostgreSQL) 15.18 (Debian 15.18-0+deb12u1)"
	f := strings.Fields(string(out))
	if len(f) >= 3 {
		v, _, _ := strings.Cut(f[2], ".")
		if n, err := strconv.Atoi(v); err == nil {
			return n, nil
		}
	}
	return 0, fmt.Errorf("localpg: cannot read version from %q", strings.TrimSpace(string(out)))
}

// cleanEnv drops variables that would redirect PostgreSQL programs
// (PGDATA, PGPORT, PGHOST, ...), and the locale, which initdb --locale=C sets.
func cleanEnv(env []string) []string {
	out := env[:0:0]
	for _, kv := range env {
		if strings.HasPrefix(kv, "PG") || strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, "LC_ALL=C")
}

// FindBinaries returns the directory holding initdb, pg_ctl and postgres:
// the one initdb on PATH resolves to, else the newest
// /usr/lib/postgresql/*/bin.
func FindBinaries() (string, error) {
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			p = real
		}
		if d := filepath.Dir(p); hasServerBinaries(d) {
			return d, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	best, bestV := "", -1
	for _, d := range dirs {
		v, err := strconv.Atoi(filepath.Base(filepath.Dir(d)))
		if err != nil {
			v = 0
		}
		if v > bestV && hasServerBinaries(d) {
			best, bestV = d, v
		}
	}
	if best != "" {
		return best, nil
	}
	return "", errors.New("localpg: PostgreSQL server binaries (initdb, pg_ctl, postgres) not found on PATH or in /usr/lib/postgresql/*/bin; install them with scripts/provision.sh postgres (as root) or apt-get install postgresql")
}

func hasServerBinaries(dir string) bool {
	for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil || fi.IsDir() || fi.Mode().Perm()&0o111 == 0 {
			return false
		}
	}
	return true
}

func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func readFrom(path string, off int64) []byte {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		return nil
	}
	b, _ := io.ReadAll(io.LimitReader(f, 1<<20))
	return b
}

// tailBlock formats the last n lines of out as an indented block, or "".
func tailBlock(out []byte, n int) string {
	s := strings.TrimRight(string(out), "\n \t")
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "\n  " + strings.Join(lines, "\n  ")
}

func lastLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		return s[i+1:]
	}
	return s
}
