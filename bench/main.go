// Command bench is `make bench` (issue #5): it measures the cost of the auth
// chain end to end on this machine, over loopback only, in bounded time.
//
// It starts its own PostgreSQL (durable, with pg_stat_statements), builds
// cmd/praxiom, seeds users, workspaces and a larger membership table,
// mints one token per user and runs two `praxiom serve` processes against a
// fake Clerk JWKS endpoint (CLERK_API_URL, no CLERK_JWT_KEY): one with the
// verified-token cache (TOKEN_CACHE_SIZE) and one without. wrk
// (bench/tokens.lua, rotating the tokens) drives every scenario, the
// scenarios alternate within each round, and the report takes medians over
// the rounds. Then: database round trips per request, an unknown-kid flood,
// latency at a constant 50% of the measured maximum (an open-loop Go
// generator), webhook ingestion (bench/webhook.lua), the servers' peak RSS,
// CPU profiles of the workspace GET, and the in-process Go benchmark
// (BenchmarkAuthChain).
//
//	make bench BENCH_FLAGS='-d 5s -rounds 4 -out DIR'
//	cd bench && go run . [-d 5s] [-rounds 4] [-out DIR]
//
// It is a module of its own (bench/go.mod), kept out of the product's
// module; wrk and PostgreSQL come from scripts/provision.sh.
package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/praxiom/praxiom-api/internal/clerktest"
	"github.com/praxiom/praxiom-api/internal/devtoken"
)

type config struct {
	D, Warmup       time.Duration
	Rounds          int
	Threads, Conns  int
	Users, Extra    int
	DBMaxConns      int
	CacheSize       int
	FloodEvery      int
	RTCount         int
	RateD           time.Duration
	WebhookCap      int
	Out             string
	GoBench         bool
	Timeout         time.Duration
	ProfileDuration time.Duration
	ProfileParts    int
	FloodLong       time.Duration
	Overlay         string
	BigMembers      int
	ServerEnv       string
}

func main() {
	var c config
	flag.DurationVar(&c.D, "d", 5*time.Second, "duration of one wrk run")
	flag.DurationVar(&c.Warmup, "warmup", 2*time.Second, "wrk warm-up per server")
	flag.IntVar(&c.Rounds, "rounds", 4, "rounds of the alternating scenarios (medians are taken over them; even, so that each side of a pair goes first as often)")
	flag.IntVar(&c.Threads, "t", 2, "wrk threads")
	flag.IntVar(&c.Conns, "c", 32, "wrk connections")
	flag.IntVar(&c.Users, "users", 1000, "seeded users, each with a workspace and a token")
	flag.IntVar(&c.Extra, "extra-memberships", 9, "further workspaces each user is a member of")
	flag.IntVar(&c.BigMembers, "big-workspace", 10000, "members of the big workspace (one user in ten reads it)")
	flag.IntVar(&c.DBMaxConns, "db-max-conns", 10, "DB_MAX_CONNS of the servers")
	flag.IntVar(&c.CacheSize, "token-cache", 10000, "TOKEN_CACHE_SIZE of the cache-on server")
	flag.IntVar(&c.FloodEvery, "flood-every", 10, "every n-th request of the flood carries an unknown kid")
	flag.IntVar(&c.RTCount, "rt-count", 1000, "requests per route of the exact round-trip count")
	flag.DurationVar(&c.RateD, "rate-d", 5*time.Second, "duration of one constant-rate run")
	flag.IntVar(&c.WebhookCap, "webhook-deliveries", 40000, "pre-signed deliveries per webhook round (grows when exhausted)")
	flag.StringVar(&c.Out, "out", "", "directory for results.json, report.txt and CPU profiles (default: a new temporary directory)")
	flag.BoolVar(&c.GoBench, "gobench", true, "also run BenchmarkAuthChain against the bench's PostgreSQL")
	flag.DurationVar(&c.Timeout, "timeout", 15*time.Minute, "hard bound of the whole run")
	flag.DurationVar(&c.ProfileDuration, "profile", 4*time.Second, "CPU profile length of each side-by-side scenario, server and reference")
	flag.IntVar(&c.ProfileParts, "profile-parts", 2, "slices each profile is taken in, the server's and the reference's alternating")
	flag.DurationVar(&c.FloodLong, "flood-long", time.Minute, "length of the continuous unknown-kid flood (0: none)")
	flag.StringVar(&c.ServerEnv, "server-env", "", "extra `K=V,K=V` settings of both praxiom servers (experiments; the report says EXPERIMENT)")
	flag.StringVar(&c.Overlay, "overlay", "", "a `go build -overlay` JSON file applied to the server build (experiments on a patched build)")
	flag.Parse()
	if c.Rounds < 1 || c.ProfileParts < 1 || c.ProfileDuration < time.Duration(c.ProfileParts)*time.Second {
		fmt.Fprintln(os.Stderr, "bench: -rounds and -profile-parts must be at least 1, and -profile at least a second a part")
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithTimeout(ctx, c.Timeout)
	err := run(ctx, c, os.Stdout)
	cancel()
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func logf(format string, a ...any) {
	fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...)
}

func writeFile(path string, b []byte) error { return os.WriteFile(path, b, 0o644) }

// productModule is the module the bench builds and measures.
const productModule = "github.com/praxiom/praxiom-api"

// moduleRoot finds the product's module root (its go.mod names
// productModule) from the working directory up.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil {
			for _, l := range strings.Split(string(b), "\n") {
				if strings.TrimSpace(l) == "module "+productModule {
					return dir, nil
				}
			}
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the repository (no go.mod of " + productModule + " found)")
		}
		dir = parent
	}
}

// scenario is one wrk workload.
type scenario struct {
	Key, Label string
	srv        *server
	args       []string
	flood      bool
}

// bench holds the run's state.
type bench struct {
	c        config
	root     string
	work     string
	out      string
	bin      string
	pmPID    int
	stm      *statements
	pgss     bool
	fakes    map[string]*clerktest.Server // by server name
	on, off  *server
	ref      *server // the hand-tuned reference (bench/reference)
	tokens   string  // tokens file
	bad      string  // unknown-kid tokens file
	keys     string  // API keys file
	targets  struct{ me, ws, key []target }
	results  map[string][]wrkResult
	windows  [][2]time.Time // flood runs
	report   *report
	whSecret string
	seed     *seed
}

func run(ctx context.Context, c config, stdout io.Writer) (err error) {
	began := time.Now()
	b := &bench{c: c, results: map[string][]wrkResult{}, report: &report{Config: c}}
	if b.root, err = moduleRoot(); err != nil {
		return err
	}
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk is not installed: scripts/provision.sh wrk installs it (as root), or apt-get install wrk")
	}
	if b.work, err = os.MkdirTemp("", "praxiom-bench-work-"); err != nil {
		return err
	}
	defer os.RemoveAll(b.work)
	b.out = c.Out
	if b.out == "" {
		if b.out, err = os.MkdirTemp("", "praxiom-bench-"); err != nil {
			return err
		}
	} else if err := os.MkdirAll(b.out, 0o755); err != nil {
		return err
	}
	b.report.Machine = machine()
	m0, t0 := machineCPU(), time.Now()
	time.Sleep(2 * time.Second)
	b.report.BusyBefore = machineCPU().sub(m0).Busy.Seconds() / (time.Since(t0).Seconds() * float64(runtime.NumCPU()))
	if b.report.BusyBefore > 0.1 {
		logf("warning: the machine is %.0f%% busy before the bench starts; the numbers will be disturbed", 100*b.report.BusyBefore)
	}

	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	logf("building cmd/praxiom (with a pprof listener added by -overlay for this build only) and the reference")
	if b.bin, err = buildServer(ctx, goCmd, b.root, b.work, c.Overlay); err != nil {
		return err
	}
	refBin, err := buildReference(ctx, goCmd, b.root, b.work)
	if err != nil {
		return err
	}

	logf("starting PostgreSQL")
	cl, pgss, err := startCluster(ctx, func(f string, a ...any) { logf("postgres: "+f, a...) })
	if err != nil {
		return err
	}
	defer func() {
		if serr := cl.Stop(); serr != nil && err == nil {
			err = serr
		}
		_ = os.RemoveAll(cl.Dir) // durable, so Stop keeps it
	}()
	b.pgss = pgss
	b.pmPID = postmasterPID(cl.Dir)
	if pgss {
		if b.stm, err = openStatements(ctx, cl.URL); err != nil {
			return err
		}
		defer b.stm.Close()
	}
	b.report.Machine.PostgreSQL = pgVersion(ctx, cl.URL)

	if err := b.migrate(ctx, cl.URL); err != nil {
		return err
	}
	logf("seeding %d users with a workspace and an API key each, %d more memberships each, a workspace of %d members",
		c.Users, c.Extra, c.BigMembers)
	if b.seed, err = seedDatabase(ctx, cl.URL, c.Users, c.Extra, c.BigMembers); err != nil {
		return err
	}
	b.report.Seed = map[string]int{"users": b.seed.Users, "all_users": b.seed.AllUsers, "workspaces": b.seed.WorkspaceCnt,
		"memberships": b.seed.Memberships, "api_keys": len(b.seed.Keys), "big_workspace_members": c.BigMembers}

	key, err := devtoken.Generate()
	if err != nil {
		return err
	}
	if err := b.mintTokens(key); err != nil {
		return err
	}
	// One fake Clerk per server, so that its JWKS fetches and user look-ups
	// (there should be none: the users are seeded) are counted apart.
	b.fakes = map[string]*clerktest.Server{}
	for _, name := range []string{"cache-on", "cache-off", "reference"} {
		f := clerktest.Start(key)
		defer f.Close()
		b.fakes[name] = f
	}

	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	b.whSecret = "whsec_" + base64.StdEncoding.EncodeToString(raw)
	// Production's configuration: every default (the request log at info,
	// rate limits on and in memory, metrics on their own listener, tracing
	// unset) but the limits' numbers, raised so that the load is not
	// refused: the limiter still counts every request.
	env := func(name string) map[string]string {
		e := map[string]string{
			"APP_ENV": "production", "DATABASE_URL": cl.URL, "MIGRATE_ON_START": "false",
			"DB_MAX_CONNS": strconv.Itoa(c.DBMaxConns), "CLERK_API_URL": b.fakes[name].URL(),
			"CLERK_SECRET_KEY": clerktest.SecretKey, "CLERK_WEBHOOK_SIGNING_SECRET": b.whSecret,
			"METRICS_ADDR": "127.0.0.1:0",
		}
		for _, k := range []string{"RATE_LIMIT_TRIAL", "RATE_LIMIT_PRO", "RATE_LIMIT_GROWTH", "RATE_LIMIT_POWER", "RATE_LIMIT_IP"} {
			e[k] = strconv.Itoa(benchRateLimit)
		}
		for _, kv := range strings.Split(c.ServerEnv, ",") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				e[k] = v
			}
		}
		return e
	}
	logf("starting the servers (token cache %d and off) and the reference", c.CacheSize)
	if b.on, err = startServer(ctx, "cache-on", []string{b.bin, "serve"}, c.CacheSize, env("cache-on")); err != nil {
		return err
	}
	defer b.on.Stop()
	if b.off, err = startServer(ctx, "cache-off", []string{b.bin, "serve"}, 0, env("cache-off")); err != nil {
		return err
	}
	defer b.off.Stop()
	if b.ref, err = startServer(ctx, "reference", []string{refBin}, 0, map[string]string{"DATABASE_URL": cl.URL,
		"DB_MAX_CONNS": strconv.Itoa(c.DBMaxConns), "CLERK_API_URL": b.fakes["reference"].URL(),
		"CLERK_SECRET_KEY": clerktest.SecretKey}); err != nil {
		return err
	}
	defer b.ref.Stop()

	if err := b.warmUp(ctx); err != nil {
		return err
	}
	if err := b.sameAnswers(ctx); err != nil {
		return err
	}
	if err := b.roundTrips(ctx); err != nil {
		return err
	}
	if err := b.rounds(ctx); err != nil {
		return err
	}
	if err := b.longFlood(ctx); err != nil {
		return err
	}
	if err := b.profiles(ctx); err != nil {
		return err
	}
	if err := b.constantRate(ctx); err != nil {
		return err
	}
	if err := b.webhooks(ctx); err != nil {
		return err
	}
	b.collectServerFacts()
	for _, s := range b.servers() {
		if err := s.Stop(); err != nil {
			return err
		}
	}
	if c.GoBench {
		logf("running BenchmarkAuthChain")
		b.report.GoBench, err = runGoBench(ctx, goCmd, b.root, cl.URL)
		if err != nil {
			return err
		}
	}
	b.report.Elapsed = time.Since(began).Round(time.Second).String()
	b.report.OutDir = b.out
	text := b.report.Text()
	fmt.Fprint(stdout, text)
	js, _ := json.MarshalIndent(b.report, "", "  ")
	if err := writeFile(filepath.Join(b.out, "results.json"), js); err != nil {
		return err
	}
	return writeFile(filepath.Join(b.out, "report.txt"), []byte(text))
}

func (b *bench) migrate(ctx context.Context, dsn string) error {
	cmd := exec.CommandContext(ctx, b.bin, "migrate")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "DATABASE_URL=" + dsn}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("migrate: %v: %s", err, out)
	}
	return nil
}

// mintTokens mints one valid token per user and as many with random kids
// the JWKS does not have, and writes the files bench/tokens.lua reads.
func (b *bench) mintTokens(key *devtoken.Key) error {
	n := b.c.Users
	good, bad := make([]string, n), make([]string, n)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for w := range runtime.NumCPU() {
		wg.Go(func() {
			for i := w; i < n; i += runtime.NumCPU() {
				kid := "bench-unknown-" + randHex(8)
				g, err1 := key.Mint(devtoken.Options{Subject: b.seed.ClerkIDs[i], TTL: time.Hour})
				x, err2 := key.Mint(devtoken.Options{Subject: b.seed.ClerkIDs[i], TTL: time.Hour, KID: &kid})
				if err := errors.Join(err1, err2); err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				good[i], bad[i] = g, x
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	b.tokens, b.bad = filepath.Join(b.work, "tokens.txt"), filepath.Join(b.work, "bad-tokens.txt")
	for _, f := range []struct {
		path string
		toks []string
	}{{b.tokens, good}, {b.bad, bad}} {
		if err := writeLines(f.path, func(w *bufio.Writer) error {
			for i, t := range f.toks {
				fmt.Fprintf(w, "%s %s\n", b.seed.ReadWS[i], t)
			}
			return nil
		}); err != nil {
			return err
		}
	}
	b.keys = filepath.Join(b.work, "keys.txt")
	if err := writeLines(b.keys, func(w *bufio.Writer) error {
		for i, k := range b.seed.Keys {
			fmt.Fprintf(w, "%s %s\n", b.seed.Workspaces[i], k)
		}
		return nil
	}); err != nil {
		return err
	}
	for i, t := range good {
		b.targets.me = append(b.targets.me, target{Path: "/api/auth/me", Token: t})
		b.targets.ws = append(b.targets.ws, target{Path: "/api/workspaces/" + b.seed.ReadWS[i].String(), Token: t})
		b.targets.key = append(b.targets.key, target{Path: "/api/workspaces/" + b.seed.Workspaces[i].String(), Token: b.seed.Keys[i]})
	}
	return nil
}

// benchRateLimit is the per-minute limit of every plan and of client IPs in
// the bench: high enough that no request is refused, so that the limiter's
// whole cost is measured.
const benchRateLimit = 1_000_000

func randHex(n int) string {
	p := make([]byte, n)
	_, _ = rand.Read(p)
	return hex.EncodeToString(p)
}

func (b *bench) script(name string) string { return filepath.Join(b.root, "bench", name) }

const (
	pathMe = "/api/auth/me"
	pathWS = "/api/workspaces/{ws}"
)

// servers are the processes under test.
func (b *bench) servers() []*server { return []*server{b.on, b.off, b.ref} }

// sideBySide are the scenarios run on both the server and the reference:
// the key of ours, of the reference's, and the route.
var sideBySide = []struct{ Ours, Ref, Route string }{
	{"ws-on", "ws-ref", "GET /api/workspaces/{id}, session token"},
	{"key-on", "key-ref", "GET /api/workspaces/{id}, API key"},
	{"me-on", "me-ref", "GET /api/auth/me"},
}

func (b *bench) scenarios() []scenario {
	return []scenario{
		{Key: "healthz", Label: "GET /healthz", srv: b.on, args: []string{"-", "/healthz"}},
		{Key: "me-on", Label: "GET /api/auth/me, cache on", srv: b.on, args: []string{b.tokens, pathMe}},
		{Key: "me-ref", Label: "GET /api/auth/me, reference", srv: b.ref, args: []string{b.tokens, pathMe}},
		{Key: "me-off", Label: "GET /api/auth/me, cache off", srv: b.off, args: []string{b.tokens, pathMe}},
		{Key: "ws-on", Label: "GET /api/workspaces/{id}, cache on", srv: b.on, args: []string{b.tokens, pathWS}},
		{Key: "ws-ref", Label: "GET /api/workspaces/{id}, reference", srv: b.ref, args: []string{b.tokens, pathWS}},
		{Key: "ws-off", Label: "GET /api/workspaces/{id}, cache off", srv: b.off, args: []string{b.tokens, pathWS}},
		{Key: "key-on", Label: "GET /api/workspaces/{id}, API key", srv: b.on, args: []string{b.keys, pathWS}},
		{Key: "key-ref", Label: "GET /api/workspaces/{id}, API key, reference", srv: b.ref, args: []string{b.keys, pathWS}},
		{Key: "ws-flood", Label: fmt.Sprintf("GET /api/workspaces/{id}, cache on, 1 in %d unknown kid", b.c.FloodEvery),
			srv: b.on, args: []string{b.tokens, pathWS, b.bad, strconv.Itoa(b.c.FloodEvery)}, flood: true},
	}
}

// warmUp fills the token cache with every token, provisions nothing (the
// users exist), and runs wrk briefly on each server so every pooled
// connection has prepared its statements.
func (b *bench) warmUp(ctx context.Context) error {
	logf("warming up")
	for _, s := range b.servers() {
		for _, ts := range [][]target{b.targets.me, b.targets.ws, b.targets.key} {
			st, err := driveCount(ctx, s.URL, ts, len(ts), 8)
			if err != nil {
				return fmt.Errorf("warm-up %s: %w", s.Name, err)
			}
			if st[http.StatusOK] != len(ts) {
				return fmt.Errorf("warm-up %s: statuses %v, want all 200 (server log:\n%s)", s.Name, st, s.log.Tail())
			}
		}
		for _, a := range [][]string{{b.tokens, pathMe}, {b.tokens, pathWS}, {b.keys, pathWS}} {
			if _, _, err := runWrk(ctx, wrkRun{Script: b.script("tokens.lua"), URL: s.URL, Threads: b.c.Threads,
				Conns: b.c.Conns, D: b.c.Warmup, Args: a}); err != nil {
				return err
			}
			time.Sleep(settle)
		}
	}
	return nil
}

// sameAnswers checks that the reference does the same work: for every
// target, its body is byte for byte the server's.
func (b *bench) sameAnswers(ctx context.Context) error {
	n := 0
	for _, ts := range [][]target{b.targets.me, b.targets.ws, b.targets.key} {
		for _, t := range ts {
			ours, err := getBody(ctx, b.on.URL, t)
			if err != nil {
				return err
			}
			ref, err := getBody(ctx, b.ref.URL, t)
			if err != nil {
				return err
			}
			if !bytes.Equal(ours, ref) {
				return fmt.Errorf("the reference answers GET %s otherwise:\nserver:    %s\nreference: %s", t.Path, ours, ref)
			}
			n++
		}
	}
	b.report.SameAnswers = n
	return nil
}

func getBody(ctx context.Context, base string, t target) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+t.Path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+t.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("GET %s%s: %d %s", base, t.Path, resp.StatusCode, body)
	}
	return bytes.TrimSpace(body), err
}

// roundTrips counts the statements of exactly n requests per route with
// pg_stat_statements.
func (b *bench) roundTrips(ctx context.Context) error {
	if !b.pgss {
		return nil
	}
	logf("counting database round trips (%d requests per route and server)", b.c.RTCount)
	for _, s := range b.servers() {
		for _, r := range []struct {
			name string
			ts   []target
		}{{"GET /api/auth/me", b.targets.me}, {"GET /api/workspaces/{id}", b.targets.ws}, {"… with an API key", b.targets.key}} {
			if err := b.stm.Reset(ctx); err != nil {
				return err
			}
			st, err := driveCount(ctx, s.URL, r.ts, b.c.RTCount, 8)
			if err != nil {
				return err
			}
			_, list, err := b.stm.Calls(ctx)
			if err != nil {
				return err
			}
			// Statements that run on their own schedule, not per request,
			// are listed, not counted: the job queue's (River's, named by
			// sqlc, and the transactions around them) and the batched
			// last_used_at flush of the API keys (every 30 s). The GETs
			// counted here open no transaction; one that did would show
			// its statements.
			var calls int64
			var byStmt []stmtCount
			for _, x := range list {
				if x.Calls == 0 {
					continue
				}
				background := backgroundOf(x.Query)
				if background == "" {
					calls += x.Calls
				}
				byStmt = append(byStmt, stmtCount{Query: shorten(x.Query, 100), Calls: x.Calls, MeanExecMS: x.MeanExecMS,
					Background: background})
			}
			b.report.RoundTrips = append(b.report.RoundTrips, roundTripResult{Route: r.name, Server: s.Name,
				Requests: b.c.RTCount, Statuses: st, Statements: calls, PerRequest: float64(calls) / float64(b.c.RTCount),
				ByStatement: byStmt})
		}
	}
	return nil
}

// backgroundOf names whose scheduled statement query is ("" for a
// request's).
func backgroundOf(query string) string {
	q := strings.ToLower(query)
	switch {
	case strings.HasPrefix(q, "-- name:") || q == "begin" || q == "commit" || q == "rollback":
		return "the job queue's"
	case strings.HasPrefix(q, "update api_keys k set last_used_at"):
		return "the API-key usage flush's"
	}
	return ""
}

func shorten(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// settle is the pause after every load run.
const settle = 500 * time.Millisecond

// measure runs one scenario and adds CPU and statement counts.
func (b *bench) measure(ctx context.Context, sc scenario, script string, d time.Duration) (wrkResult, error) {
	if b.pgss {
		if err := b.stm.Reset(ctx); err != nil {
			return wrkResult{}, err
		}
	}
	s0, _, _ := procCPU(sc.srv.PID())
	r0, w0 := procSyscalls(sc.srv.PID())
	p0 := treeCPU(b.pmPID)
	m0, procs0 := machineCPU(), allProcs()
	start := time.Now()
	r, _, err := runWrk(ctx, wrkRun{Script: script, URL: sc.srv.URL, Threads: b.c.Threads, Conns: b.c.Conns, D: d, Args: sc.args})
	end := time.Now()
	if err != nil {
		return r, err
	}
	// wrk leaves requests in flight when it stops; let the server finish
	// them so that they are counted here and not in the next run.
	time.Sleep(settle)
	s1, _, _ := procCPU(sc.srv.PID())
	r1, w1 := procSyscalls(sc.srv.PID())
	p1 := treeCPU(b.pmPID)
	m1, procs1 := machineCPU(), allProcs()
	if n := float64(r.Requests); n > 0 {
		perReq := func(d time.Duration) float64 { return math.Max(0, float64(d.Microseconds())/n) }
		pg := cpuSince(p0, p1)
		r.ServerCPUus = perReq(s1 - s0)
		r.SyscallsR, r.SyscallsW = float64(r1-r0)/n, float64(w1-w0)/n
		r.PGCPUus = perReq(pg)
		m := m1.sub(m0)
		r.KernelCPUus = perReq(m.Kernel)
		// Every other process (this program included) that used CPU meanwhile.
		var others []procInfo
		var otherCPU time.Duration
		for pid, p := range procs1 {
			if pid == sc.srv.PID() || p1[pid] > 0 || pid == b.pmPID {
				continue
			}
			if d := p.CPU - procs0[pid].CPU; d > 0 {
				otherCPU += d
				others = append(others, procInfo{Comm: p.Comm, CPU: d})
			}
		}
		r.OtherCPUus = perReq(otherCPU + m.Steal)
		slices.SortFunc(others, func(a, b procInfo) int { return int(b.CPU - a.CPU) })
		for _, o := range others[:min(3, len(others))] {
			if o.CPU >= 50*time.Millisecond {
				r.Others = append(r.Others, fmt.Sprintf("%s %.2fs", o.Comm, o.CPU.Seconds()))
			}
		}
		if m.Steal >= 50*time.Millisecond {
			r.Others = append(r.Others, fmt.Sprintf("steal %.2fs", m.Steal.Seconds()))
		}
		// Over wrk's run only: the settling pause after it is nearly idle.
		r.BusyShare = math.Min(1, m.Busy.Seconds()/(float64(r.DurationUS)/1e6*float64(runtime.NumCPU())))
	}
	if b.pgss {
		calls, _, err := b.stm.Calls(ctx)
		if err != nil {
			return r, err
		}
		r.StmtsPerReq = float64(calls) / float64(r.Requests)
	}
	if sc.flood {
		b.windows = append(b.windows, [2]time.Time{start, end})
	}
	return r, nil
}

// rounds runs every scenario once per round (roundOrder).
func (b *bench) rounds(ctx context.Context) error {
	scs := b.scenarios()
	for r := range b.c.Rounds {
		for _, sc := range roundOrder(scs, r) {
			logf("round %d/%d: %s", r+1, b.c.Rounds, sc.Label)
			res, err := b.measure(ctx, sc, b.script("tokens.lua"), b.c.D)
			if err != nil {
				return err
			}
			b.results[sc.Key] = append(b.results[sc.Key], res)
		}
	}
	for _, sc := range scs {
		b.report.Scenarios = append(b.report.Scenarios, summarize(sc, b.results[sc.Key]))
	}
	return nil
}

// roundOrder is the order of round r: the scenarios alternate, each of
// ours next to the reference's on the same route (sideBySide), so that a
// round's ratio compares two runs that share the host's state. The order
// rotates by one unit (a scenario, or such a pair) each round, and a pair
// runs the reference first in every other round, so that neither side
// always follows the same scenario.
func roundOrder(scs []scenario, r int) []scenario {
	refOf, isRef := map[string]string{}, map[string]bool{}
	for _, x := range sideBySide {
		refOf[x.Ours], isRef[x.Ref] = x.Ref, true
	}
	byKey := map[string]scenario{}
	for _, sc := range scs {
		byKey[sc.Key] = sc
	}
	var units [][]scenario
	for _, sc := range scs {
		switch ref, ok := refOf[sc.Key]; {
		case ok:
			var pair []scenario
			for _, k := range pairOrder(sc.Key, ref, r) {
				pair = append(pair, byKey[k])
			}
			units = append(units, pair)
		case !isRef[sc.Key]: // a reference runs with its pair
			units = append(units, []scenario{sc})
		}
	}
	var out []scenario
	for k := range units {
		out = append(out, units[(k+r)%len(units)]...)
	}
	return out
}

// longFlood runs the unknown-kid flood without a break for c.FloodLong:
// the JWKS may be fetched at most once a minute however many unknown kids
// arrive.
func (b *bench) longFlood(ctx context.Context) error {
	if b.c.FloodLong <= 0 {
		return nil
	}
	var sc scenario
	for _, x := range b.scenarios() {
		if x.flood {
			sc = x
		}
	}
	logf("continuous flood for %s: %s", b.c.FloodLong, sc.Label)
	res, err := b.measure(ctx, sc, b.script("tokens.lua"), b.c.FloodLong)
	if err != nil {
		return err
	}
	w := b.windows[len(b.windows)-1]
	sum := summarize(sc, []wrkResult{res})
	b.report.LongFlood = &longFlood{Summary: sum, Seconds: w[1].Sub(w[0]).Seconds()}
	for _, f := range b.fakes[b.on.Name].JWKSFetchTimes() {
		if !f.Before(w[0]) && !f.After(w[1]) {
			b.report.LongFlood.Fetches++
		}
	}
	return nil
}

// profiles takes CPU profiles of the server and of the reference under
// each side-by-side scenario, in c.ProfileParts slices that alternate
// between the two (pairOrder), and derives the CPU per request from the
// sum of each side's slices: like the rounds, a pair's profiles then
// share the host's drift instead of one side taking the later window.
func (b *bench) profiles(ctx context.Context) error {
	byKey := map[string]scenario{}
	for _, sc := range b.scenarios() {
		byKey[sc.Key] = sc
	}
	secs := profilePartSeconds(b.c.ProfileDuration, b.c.ProfileParts)
	for _, x := range sideBySide {
		parts := map[string][]profilePart{}
		for i := range b.c.ProfileParts {
			for _, key := range pairOrder(x.Ours, x.Ref, i) {
				sc := byKey[key]
				logf("CPU profile %d/%d: %s", i+1, b.c.ProfileParts, sc.Label)
				part, err := b.profilePart(ctx, sc, secs, i)
				if err != nil {
					return err
				}
				parts[key] = append(parts[key], part)
			}
		}
		for _, key := range []string{x.Ours, x.Ref} {
			if err := b.mergeProfile(ctx, byKey[key], parts[key]); err != nil {
				return err
			}
		}
	}
	return nil
}

// profilePartSeconds is the length in whole seconds of one of parts
// slices of a profile of length d (pprof takes whole seconds), at least 1.
func profilePartSeconds(d time.Duration, parts int) int {
	return max(1, int(d.Seconds())/max(1, parts))
}

// pairOrder is the order of a side-by-side pair in round or profile slice
// i: the reference first in every other one (roundOrder, profiles).
func pairOrder(ours, ref string, i int) []string {
	if i%2 == 1 {
		return []string{ref, ours}
	}
	return []string{ours, ref}
}

// profilePart is one slice of a scenario's profile: its file, the CPU it
// sampled and the requests served meanwhile; and, to check the sampling,
// the server's CPU from /proc over the whole wrk run around the slice with
// that run's requests.
type profilePart struct {
	path      string
	sampled   float64 // seconds
	requests  float64
	procCPU   float64 // seconds, /proc/<pid>/stat over the wrk run
	wrkServed float64 // requests of the wrk run
}

// usPerRequest is the CPU per request, in µs, of a scenario's slices: the
// sum of the CPU seconds measure reads from each slice over the sum of the
// requests it counts with them (not a mean of the slices' ratios).
func usPerRequest(parts []profilePart, measure func(profilePart) (cpu, requests float64)) float64 {
	var cpu, n float64
	for _, p := range parts {
		c, r := measure(p)
		cpu += c
		n += r
	}
	return cpu * 1e6 / math.Max(1, n)
}

// cpuPerRequest is the slices' CPU per request by profile: their samples
// over the requests of the profiled seconds.
func cpuPerRequest(parts []profilePart) float64 {
	return usPerRequest(parts, func(p profilePart) (float64, float64) { return p.sampled, p.requests })
}

// procCPUPerRequest is the slices' CPU per request by /proc: the server's
// CPU over their wrk runs over those runs' requests.
func procCPUPerRequest(parts []profilePart) float64 {
	return usPerRequest(parts, func(p profilePart) (float64, float64) { return p.procCPU, p.wrkServed })
}

// profilePart profiles sc's server for secs seconds under wrk and keeps the
// profile as cpu-KEY.I.pprof.
func (b *bench) profilePart(ctx context.Context, sc scenario, secs, i int) (profilePart, error) {
	var prof []byte
	var perr error
	done := make(chan struct{})
	go func() {
		defer close(done)
		time.Sleep(500 * time.Millisecond)
		prof, perr = fetch(ctx, fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", sc.srv.PprofURL, secs),
			time.Duration(secs)*time.Second+20*time.Second)
	}()
	d := time.Duration(secs+1) * time.Second
	cpu0, _, _ := procCPU(sc.srv.PID())
	res, _, err := runWrk(ctx, wrkRun{Script: b.script("tokens.lua"), URL: sc.srv.URL, Threads: b.c.Threads,
		Conns: b.c.Conns, D: d, Args: sc.args})
	if err != nil {
		return profilePart{}, err
	}
	cpu1, _, _ := procCPU(sc.srv.PID())
	<-done
	time.Sleep(settle)
	if perr != nil {
		return profilePart{}, fmt.Errorf("profile %s: %w", sc.Key, perr)
	}
	path := filepath.Join(b.out, fmt.Sprintf("cpu-%s.%d.pprof", sc.Key, i+1))
	if err := writeFile(path, prof); err != nil {
		return profilePart{}, err
	}
	top, err := b.pprof(ctx, sc, []string{"-top", "-nodecount=1"}, path)
	if err != nil {
		return profilePart{}, err
	}
	// The requests of the profiled seconds: wrk ran the profile's length
	// plus one second at a steady rate.
	return profilePart{path: path, sampled: sampledSeconds(string(top)),
		requests: float64(res.Requests) * float64(secs) / (float64(res.DurationUS) / 1e6),
		procCPU:  (cpu1 - cpu0).Seconds(), wrkServed: float64(res.Requests)}, nil
}

// mergeProfile merges sc's slices into cpu-KEY.pprof and records it with
// its top functions and its CPU per request.
func (b *bench) mergeProfile(ctx context.Context, sc scenario, parts []profilePart) error {
	var paths []string
	for _, p := range parts {
		paths = append(paths, p.path)
	}
	merged, err := b.pprof(ctx, sc, []string{"-proto"}, paths...)
	if err != nil {
		return err
	}
	path := filepath.Join(b.out, "cpu-"+sc.Key+".pprof")
	if err := writeFile(path, merged); err != nil {
		return err
	}
	top, err := b.pprof(ctx, sc, []string{"-top", "-nodecount=20"}, path)
	if err != nil {
		return err
	}
	cum, err := b.pprof(ctx, sc, []string{"-top", "-cum", "-nodecount=40"}, path)
	if err != nil {
		return err
	}
	_ = writeFile(filepath.Join(b.out, "cpu-"+sc.Key+".top.txt"), append(append(top, '\n'), cum...))
	b.report.Profiles = append(b.report.Profiles, profile{Key: sc.Key, Scenario: sc.Label, Path: path,
		CPUusPerReq: cpuPerRequest(parts), ProcCPUusPerReq: procCPUPerRequest(parts),
		Top: stripPprofHeader(string(top)), Cum: stripPprofHeader(string(cum))})
	return nil
}

// pprof runs go tool pprof with flags on profiles of sc's server binary.
func (b *bench) pprof(ctx context.Context, sc scenario, flags []string, profiles ...string) ([]byte, error) {
	goCmd := os.Getenv("GO")
	if goCmd == "" {
		goCmd = "go"
	}
	bin := b.bin
	if sc.srv == b.ref {
		bin = filepath.Join(b.work, "reference")
	}
	argv := slices.Concat([]string{"tool", "pprof"}, flags, []string{bin}, profiles)
	out, err := exec.CommandContext(ctx, goCmd, argv...).Output()
	if err != nil {
		return nil, fmt.Errorf("go tool pprof %s: %w", strings.Join(flags, " "), err)
	}
	return out, nil
}

// sampledSeconds reads "Total samples = 8.31s" from pprof -top's header.
func sampledSeconds(top string) float64 {
	_, rest, ok := strings.Cut(top, "Total samples = ")
	if !ok {
		return 0
	}
	v, _, _ := strings.Cut(rest, " ")
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0
	}
	return d.Seconds()
}

func stripPprofHeader(s string) string {
	var keep []string
	for _, l := range strings.Split(s, "\n") {
		if strings.HasPrefix(l, "File:") || strings.HasPrefix(l, "Build ID:") || strings.HasPrefix(l, "Type:") ||
			strings.HasPrefix(l, "Time:") {
			continue
		}
		keep = append(keep, l)
	}
	return strings.TrimRight(strings.Join(keep, "\n"), "\n")
}

func fetch(ctx context.Context, url string, timeout time.Duration) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("%s: %d %s", url, resp.StatusCode, body)
	}
	return body, err
}

// constantRate runs the workspace GET (cache on) open loop at half the
// measured maximum.
func (b *bench) constantRate(ctx context.Context) error {
	maxRPS := medianOf(b.results["ws-on"], func(r wrkResult) float64 { return r.RPS })
	rate := math.Floor(maxRPS / 2)
	var runs []rateResult
	for r := range b.c.Rounds {
		logf("constant rate %d/%d: %.0f req/s for %s", r+1, b.c.Rounds, rate, b.c.RateD)
		runs = append(runs, driveRate(ctx, b.on.URL, b.targets.ws, rate, b.c.RateD, 64))
	}
	b.report.ConstantRate = rateSummary{Scenario: "GET /api/workspaces/{id}, cache on", MaxRPS: maxRPS, Runs: runs}
	return nil
}

// webhooks posts signed user.updated deliveries, each a newer profile of a
// seeded user, with wrk.
func (b *bench) webhooks(ctx context.Context) error {
	wh, err := svix.NewWebhook(b.whSecret)
	if err != nil {
		return err
	}
	n := b.c.WebhookCap
	var runs []wrkResult
	seq := 0
	for r := range b.c.Rounds {
		path := filepath.Join(b.work, fmt.Sprintf("deliveries-%d.txt", r))
		now := time.Now()
		base := now.Add(-time.Hour)
		if err := writeLines(path, func(w *bufio.Writer) error {
			for range n {
				i := seq % b.c.Users
				body := userUpdated(b.seed.ClerkIDs[i], i, base.Add(time.Duration(seq)*time.Millisecond))
				id := fmt.Sprintf("msg_bench_%d_%s", seq, randHex(4))
				sig, err := wh.Sign(id, now, body)
				if err != nil {
					return err
				}
				fmt.Fprintf(w, "%s\t%d\t%s\t%s\n", id, now.Unix(), sig, body)
				seq++
			}
			return nil
		}); err != nil {
			return err
		}
		logf("webhook %d/%d: %d pre-signed user.updated deliveries", r+1, b.c.Rounds, n)
		sc := scenario{Key: "webhook", Label: "POST /api/webhooks/clerk (user.updated)", srv: b.on,
			args: []string{path, strconv.Itoa(b.c.Threads)}}
		res, err := b.measure(ctx, sc, b.script("webhook.lua"), b.c.D)
		if err != nil {
			return err
		}
		runs = append(runs, res)
		if res.Exhausted > 0 {
			n *= 2
		}
	}
	b.results["webhook"] = runs
	sum := summarize(scenario{Key: "webhook", Label: "POST /api/webhooks/clerk (signed user.updated)"}, runs)
	b.report.Webhook = &sum
	var events int64
	conn, err := pgx.Connect(ctx, b.on.dbURL())
	if err == nil {
		_ = conn.QueryRow(ctx, `SELECT count(*) FROM webhook_events`).Scan(&events)
		conn.Close(context.Background())
	}
	b.report.WebhookEvents = events
	return nil
}

// userUpdated is a Clerk user.updated event for user i at t.
func userUpdated(clerkID string, i int, t time.Time) []byte {
	email := fmt.Sprintf("bench%05d@example.com", i)
	data := map[string]any{
		"id": clerkID, "object": "user",
		"email_addresses":          []map[string]any{{"id": "idn_" + strconv.Itoa(i), "object": "email_address", "email_address": email}},
		"primary_email_address_id": "idn_" + strconv.Itoa(i),
		"first_name":               "Bench", "last_name": "User " + strconv.Itoa(i) + " " + strconv.FormatInt(t.UnixMilli()%1000, 10),
		"username": nil, "image_url": "https://img.clerk.com/" + clerkID,
		"created_at": t.Add(-24 * time.Hour).UnixMilli(), "updated_at": t.UnixMilli(),
	}
	out, _ := json.Marshal(map[string]any{"type": "user.updated", "object": "event", "data": data, "timestamp": t.UnixMilli()})
	return out
}

// collectServerFacts reads peak RSS, the log lines by level and the fake
// Clerk's counters.
func (b *bench) collectServerFacts() {
	for _, s := range b.servers() {
		fetches := b.fakes[s.Name].JWKSFetchTimes()
		info := serverFacts{Name: s.Name, TokenCache: s.CacheSize,
			PeakRSSKiB: statusKB(s.PID(), "VmHWM"), RSSKiB: statusKB(s.PID(), "VmRSS"),
			JWKSFetches: len(fetches), UserLookups: int(b.fakes[s.Name].TotalUserCalls()), LogLines: s.log.Levels()}
		for i := 1; i < len(fetches); i++ {
			gap := fetches[i].Sub(fetches[i-1]).Seconds()
			if info.MinFetchGapS == 0 || gap < info.MinFetchGapS {
				info.MinFetchGapS = gap
			}
		}
		if s == b.on {
			var floodS float64
			for _, w := range b.windows {
				floodS += w[1].Sub(w[0]).Seconds()
				for _, f := range fetches {
					if !f.Before(w[0]) && !f.After(w[1]) {
						info.FloodFetches++
					}
				}
			}
			info.FloodSeconds = floodS
			var inFlood []time.Time
			for _, f := range fetches {
				for _, w := range b.windows {
					if !f.Before(w[0]) && !f.After(w[1]) {
						inFlood = append(inFlood, f)
						break
					}
				}
			}
			for i := 1; i < len(inFlood); i++ {
				gap := inFlood[i].Sub(inFlood[i-1]).Seconds()
				if info.MinFloodFetchGapS == 0 || gap < info.MinFloodFetchGapS {
					info.MinFloodFetchGapS = gap
				}
			}
		}
		b.report.Servers = append(b.report.Servers, info)
	}
}

func (s *server) dbURL() string {
	for _, kv := range s.cmd.Env {
		if v, ok := strings.CutPrefix(kv, "DATABASE_URL="); ok {
			return v
		}
	}
	return ""
}

// runGoBench runs BenchmarkAuthChain against the bench's cluster.
func runGoBench(ctx context.Context, goCmd, root, dsn string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, goCmd, "test", "-run", "^$", "-bench", "AuthChain", "-benchmem", "-count", "1", "./internal/httpapi/")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "DATABASE_URL="+dsn, "TEST_DATABASE_URL="+dsn)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("go test -bench: %v: %s", err, out)
	}
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(l, "Benchmark") {
			keep = append(keep, strings.Join(strings.Fields(l), " "))
		}
	}
	return strings.Join(keep, "\n"), nil
}

func pgVersion(ctx context.Context, dsn string) string {
	conn, err := pgx.Connect(ctx, adminURL(dsn))
	if err != nil {
		return "?"
	}
	defer conn.Close(context.Background())
	var v string
	_ = conn.QueryRow(ctx, `SHOW server_version`).Scan(&v)
	return v
}

func medianOf[T any](xs []T, f func(T) float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	v := make([]float64, len(xs))
	for i, x := range xs {
		v[i] = f(x)
	}
	slices.Sort(v)
	if len(v)%2 == 1 {
		return v[len(v)/2]
	}
	return (v[len(v)/2-1] + v[len(v)/2]) / 2
}
