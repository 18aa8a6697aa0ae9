package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/praxiom/praxiom-api/internal/apikey"
	"github.com/praxiom/praxiom-api/internal/localpg"
)

// startCluster starts a private, durable PostgreSQL (fsync and synchronous
// commit on, as in production) in a temporary directory, which the caller
// removes after Stop, with pg_stat_statements loaded when the installed
// PostgreSQL has it. It returns whether pg_stat_statements is on.
func startCluster(ctx context.Context, logf func(string, ...any)) (*localpg.Cluster, bool, error) {
	bin, err := localpg.FindBinaries()
	if err != nil {
		return nil, false, err
	}
	extra := map[string]string{}
	pgss := false
	if _, err := os.Stat(filepath.Join(filepath.Dir(bin), "lib", "pg_stat_statements.so")); err == nil {
		extra["shared_preload_libraries"] = "pg_stat_statements"
		extra["pg_stat_statements.track"] = "all"
		pgss = true
	} else {
		logf("pg_stat_statements is not installed; round trips are counted by the test's tracer only")
	}
	c, err := localpg.Start(ctx, localpg.Options{ExtraConfig: extra})
	if err != nil {
		return nil, false, err
	}
	if pgss {
		conn, err := pgx.Connect(ctx, adminURL(c.URL))
		if err == nil {
			_, err = conn.Exec(ctx, `CREATE EXTENSION IF NOT EXISTS pg_stat_statements`)
			conn.Close(context.Background())
		}
		if err != nil {
			_ = c.Stop()
			return nil, false, fmt.Errorf("pg_stat_statements: %w", err)
		}
	}
	return c, pgss, nil
}

// adminURL is the cluster's URL on the "postgres" database: the bench's own
// statements run there, so pg_stat_statements filtered to the service's
// database sees the servers' statements only.
func adminURL(dsn string) string {
	u, _ := url.Parse(dsn)
	u.Path = "/postgres"
	return u.String()
}

// seed is what seedDatabase created.
type seed struct {
	ClerkIDs     []string    // user i
	Workspaces   []uuid.UUID // workspace i, owned by user i
	ReadWS       []uuid.UUID // the workspace user i reads in the workspace GET scenarios
	Keys         []string    // an API key (member) of workspace i
	BigWS        uuid.UUID   // the workspace of bigMembers members
	Memberships  int
	Users        int // the bench's users (filler members of BigWS not counted)
	AllUsers     int
	WorkspaceCnt int
}

// referralCode is a unique code of the users.referral_code alphabet for i.
func referralCode(i int) string {
	const alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
	b := make([]byte, 8)
	for k := 7; k >= 0; k-- {
		b[k] = alphabet[i%len(alphabet)]
		i /= len(alphabet)
	}
	return string(b)
}

// seedDatabase inserts n active users, one workspace each (owner, trial
// subscription, settings, and a member API key), and makes every user a
// member of extra more workspaces, so the membership table is (1+extra)·n
// rows, plus one workspace of bigMembers members: the n users and enough
// filler users (who send no request) to make up the number. User i reads,
// in the workspace scenarios, the big workspace when i mod 10 = 9, else
// workspace (i + 97·(i mod 10)) mod n: its own (owner) for one user in ten,
// one where it is a member for the others. The keys read their own
// workspace.
func seedDatabase(ctx context.Context, dsn string, n, extra, bigMembers int) (*seed, error) {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.Background())
	s := &seed{ClerkIDs: make([]string, n), Workspaces: make([]uuid.UUID, n), ReadWS: make([]uuid.UUID, n),
		Keys: make([]string, n), BigWS: uuid.New()}
	userIDs := make([]uuid.UUID, n)
	now := time.Now().UTC()
	users := make([][]any, n)
	wss := make([][]any, n)
	subs := make([][]any, n)
	settings := make([][]any, n)
	keys := make([][]any, n)
	for i := range n {
		userIDs[i] = uuid.New()
		s.Workspaces[i] = uuid.New()
		s.ClerkIDs[i] = fmt.Sprintf("user_bench%05d", i)
		users[i] = []any{userIDs[i], s.ClerkIDs[i], fmt.Sprintf("bench%05d@example.com", i), fmt.Sprintf("Bench User %d", i),
			"active", true, referralCode(1_000_000 + i), now, now.Add(-time.Hour)}
		wss[i] = []any{s.Workspaces[i], fmt.Sprintf("Workspace %d", i)}
		subs[i] = []any{s.Workspaces[i], "trial", "trialing", now.Add(14 * 24 * time.Hour)}
		settings[i] = []any{s.Workspaces[i]}
		s.Keys[i] = apikey.New()
		hash := apikey.Hash(s.Keys[i])
		keys[i] = []any{s.Workspaces[i], "Bench", apikey.Prefix(s.Keys[i]), hash[:], "member"}
	}
	if extra >= n {
		return nil, fmt.Errorf("seed: %d extra memberships per user need more than %d workspaces", extra, n)
	}
	var members [][]any
	for i := range n {
		members = append(members, []any{s.Workspaces[i], userIDs[i], "owner"})
		for j := 1; j <= extra; j++ {
			members = append(members, []any{s.Workspaces[(i+97*j)%n], userIDs[i], "member"})
		}
	}
	wss = append(wss, []any{s.BigWS, "The big workspace"})
	subs = append(subs, []any{s.BigWS, "trial", "trialing", now.Add(14 * 24 * time.Hour)})
	settings = append(settings, []any{s.BigWS})
	for i := range max(n, bigMembers) {
		uid := uuid.New()
		if i < n {
			uid = userIDs[i]
		} else {
			users = append(users, []any{uid, fmt.Sprintf("user_filler%05d", i), fmt.Sprintf("filler%05d@example.com", i),
				fmt.Sprintf("Filler %d", i), "active", true, referralCode(2_000_000 + i), now, now.Add(-time.Hour)})
		}
		if i < bigMembers {
			members = append(members, []any{s.BigWS, uid, map[bool]string{true: "owner", false: "member"}[i == 0]})
		}
	}
	for i := range n {
		s.ReadWS[i] = s.Workspaces[(i+97*(i%10))%n]
		if i%10 == 9 && bigMembers > 0 {
			s.ReadWS[i] = s.BigWS
		}
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		return nil, err
	}
	defer tx.Rollback(context.Background()) //nolint:errcheck
	for _, c := range []struct {
		table string
		cols  []string
		rows  [][]any
	}{
		{"users", []string{"id", "clerk_id", "email", "name", "access_status", "has_product_access", "referral_code", "activated_at", "clerk_updated_at"}, users},
		{"workspaces", []string{"id", "name"}, wss},
		{"subscriptions", []string{"workspace_id", "plan", "status", "trial_ends_at"}, subs},
		{"workspace_settings", []string{"workspace_id"}, settings},
		{"workspace_members", []string{"workspace_id", "user_id", "role"}, members},
		{"api_keys", []string{"workspace_id", "name", "prefix", "key_hash", "role"}, keys},
	} {
		if _, err := tx.CopyFrom(ctx, pgx.Identifier{c.table}, c.cols, pgx.CopyFromRows(c.rows)); err != nil {
			return nil, fmt.Errorf("seed %s: %w", c.table, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, err
	}
	if _, err := conn.Exec(ctx, `VACUUM ANALYZE`); err != nil {
		return nil, err
	}
	s.Users, s.AllUsers, s.WorkspaceCnt, s.Memberships = n, len(users), len(wss), len(members)
	return s, nil
}

// statements reads pg_stat_statements for the service's database.
type statements struct {
	conn *pgx.Conn
	db   string
}

func openStatements(ctx context.Context, clusterURL string) (*statements, error) {
	u, _ := url.Parse(clusterURL)
	conn, err := pgx.Connect(ctx, adminURL(clusterURL))
	if err != nil {
		return nil, err
	}
	return &statements{conn: conn, db: strings.TrimPrefix(u.Path, "/")}, nil
}

func (s *statements) Reset(ctx context.Context) error {
	_, err := s.conn.Exec(ctx, `SELECT pg_stat_statements_reset()`)
	return err
}

// stmtCount is one statement's calls.
type stmtCount struct {
	Query string `json:"query"`
	Calls int64  `json:"calls"`
	// MeanExecMS is PostgreSQL's mean execution time of one call (planning
	// and the wire not included).
	MeanExecMS float64 `json:"mean_exec_ms"`
	// Background names whose statement it is when it runs on a schedule,
	// not per request: "the job queue's" or "the API-key usage flush's".
	Background string `json:"background,omitempty"`
}

// Calls returns the statements executed in the service's database since
// the last Reset, most called first.
func (s *statements) Calls(ctx context.Context) (int64, []stmtCount, error) {
	rows, err := s.conn.Query(ctx, `SELECT s.query, sum(s.calls)::bigint,
		coalesce(sum(s.total_exec_time) / nullif(sum(s.calls), 0), 0)::float8 FROM pg_stat_statements s
		JOIN pg_database d ON d.oid = s.dbid WHERE d.datname = $1
		GROUP BY s.query ORDER BY 2 DESC`, s.db)
	if err != nil {
		return 0, nil, err
	}
	defer rows.Close()
	var total int64
	var list []stmtCount
	for rows.Next() {
		var c stmtCount
		if err := rows.Scan(&c.Query, &c.Calls, &c.MeanExecMS); err != nil {
			return 0, nil, err
		}
		c.Query = strings.Join(strings.Fields(c.Query), " ")
		total += c.Calls
		list = append(list, c)
	}
	return total, list, rows.Err()
}

func (s *statements) Close() { s.conn.Close(context.Background()) }

// clockTick is USER_HZ, the unit of /proc/<pid>/stat times (100 on Linux).
const clockTick = 100

// procCPU returns the user+system CPU time of pid from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0, err
	}
	// The command name is in parentheses and may contain spaces.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	// After ")": state(3) ppid(4) … utime(14) stime(15): indexes 0-based from field 3.
	if len(f) < 13 {
		return 0, 0, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	ppid, _ := strconv.Atoi(f[1])
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTick, ppid, nil
}

// procSyscalls returns the read and write system calls pid has made, from
// /proc/<pid>/io (every read-like and write-like call: sockets, pipes,
// files); zeros when it cannot be read.
func procSyscalls(pid int) (r, w int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return 0, 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ": ")
		n, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		switch k {
		case "syscr":
			r = n
		case "syscw":
			w = n
		}
	}
	return r, w
}

// treeCPU returns the CPU times of root and its direct children (the
// postmaster and its backends), by PID.
func treeCPU(root int) map[int]time.Duration {
	out := map[int]time.Duration{}
	if cpu, _, err := procCPU(root); err == nil {
		out[root] = cpu
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == root {
			continue
		}
		cpu, ppid, err := procCPU(pid)
		if err == nil && ppid == root {
			out[pid] = cpu
		}
	}
	return out
}

// cpuSince is the CPU the processes of now used since before: a process
// that is new counts from zero; one that exited in between is lost (only
// short-lived autovacuum workers do).
func cpuSince(before, now map[int]time.Duration) time.Duration {
	var d time.Duration
	for pid, t := range now {
		d += t - before[pid]
	}
	return d
}

// postmasterPID reads the PID of the cluster in dir.
func postmasterPID(dir string) int {
	b, err := os.ReadFile(filepath.Join(dir, "postmaster.pid"))
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	pid, _ := strconv.Atoi(strings.TrimSpace(line))
	return pid
}

// statusKB reads a "VmHWM:"-style line of /proc/<pid>/status in KiB.
func statusKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// cpuStat is the machine's CPU time since boot, from /proc/stat.
type cpuStat struct {
	Busy   time.Duration // everything but idle and iowait
	Kernel time.Duration // irq and softirq: mostly the loopback network stack, charged to no process
	Steal  time.Duration // taken by the hypervisor
}

func machineCPU() cpuStat {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return cpuStat{}
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	tick := func(i int) time.Duration {
		if i+1 >= len(f) {
			return 0
		}
		n, _ := strconv.ParseInt(f[i+1], 10, 64)
		return time.Duration(n) * time.Second / clockTick
	}
	// user nice system idle iowait irq softirq steal (guest is in user)
	return cpuStat{
		Busy:   tick(0) + tick(1) + tick(2) + tick(5) + tick(6) + tick(7),
		Kernel: tick(5) + tick(6),
		Steal:  tick(7),
	}
}

func (a cpuStat) sub(b cpuStat) cpuStat {
	return cpuStat{Busy: a.Busy - b.Busy, Kernel: a.Kernel - b.Kernel, Steal: a.Steal - b.Steal}
}

// procInfo is one process's name and CPU time.
type procInfo struct {
	Comm string
	CPU  time.Duration
}

// allProcs reads every process's CPU time.
func allProcs() map[int]procInfo {
	out := map[int]procInfo{}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		cpu, _, err := procCPU(pid)
		if err != nil {
			continue
		}
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		out[pid] = procInfo{Comm: strings.TrimSpace(string(comm)), CPU: cpu}
	}
	return out
}
