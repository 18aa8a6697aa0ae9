package main

import (
	"fmt"
	"math"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
)

type machineInfo struct {
	CPUs       int    `json:"cpus"`
	CPUModel   string `json:"cpu_model"`
	MemoryMiB  int64  `json:"memory_mib"`
	Kernel     string `json:"kernel"`
	Go         string `json:"go"`
	PostgreSQL string `json:"postgresql"`
	Wrk        string `json:"wrk"`
}

func machine() machineInfo {
	m := machineInfo{CPUs: runtime.NumCPU(), Go: runtime.Version()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "model name"); ok {
				m.CPUModel = strings.TrimSpace(strings.TrimPrefix(strings.TrimSpace(v), ":"))
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "MemTotal:"); ok {
				var kb int64
				fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
				m.MemoryMiB = kb / 1024
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	if out, _ := exec.Command("wrk", "-v").CombinedOutput(); len(out) > 0 {
		line, _, _ := strings.Cut(string(out), "\n")
		m.Wrk = strings.TrimSpace(strings.Split(line, "Copyright")[0])
	}
	return m
}

type roundTripResult struct {
	Route       string      `json:"route"`
	Server      string      `json:"server"`
	Requests    int         `json:"requests"`
	Statuses    map[int]int `json:"statuses"`
	Statements  int64       `json:"statements"`
	PerRequest  float64     `json:"per_request"`
	ByStatement []stmtCount `json:"by_statement"`
}

type scenarioSummary struct {
	Key         string      `json:"key"`
	Label       string      `json:"label"`
	RPS         float64     `json:"rps"`
	GoodRPS     float64     `json:"good_rps"`
	P50US       float64     `json:"p50_us"`
	P99US       float64     `json:"p99_us"`
	Failed      int64       `json:"failed"` // over all rounds
	StmtsPerReq float64     `json:"statements_per_req"`
	ServerCPUus float64     `json:"server_cpu_us_per_req"`
	PGCPUus     float64     `json:"pg_cpu_us_per_req"`
	WrkCPUus    float64     `json:"wrk_cpu_us_per_req"`
	KernelCPUus float64     `json:"kernel_cpu_us_per_req"`
	OtherCPUus  float64     `json:"other_cpu_us_per_req"`
	SyscallsR   float64     `json:"server_syscalls_r_per_req"`
	SyscallsW   float64     `json:"server_syscalls_w_per_req"`
	BusyShare   float64     `json:"busy_share"`
	FailedShare float64     `json:"failed_share"`
	Runs        []wrkResult `json:"runs"`
}

func summarize(sc scenario, runs []wrkResult) scenarioSummary {
	s := scenarioSummary{Key: sc.Key, Label: sc.Label, Runs: runs,
		RPS:         medianOf(runs, func(r wrkResult) float64 { return r.RPS }),
		GoodRPS:     medianOf(runs, func(r wrkResult) float64 { return r.GoodRPS }),
		P50US:       medianOf(runs, func(r wrkResult) float64 { return float64(r.P50US) }),
		P99US:       medianOf(runs, func(r wrkResult) float64 { return float64(r.P99US) }),
		StmtsPerReq: medianOf(runs, func(r wrkResult) float64 { return r.StmtsPerReq }),
		ServerCPUus: medianOf(runs, func(r wrkResult) float64 { return r.ServerCPUus }),
		PGCPUus:     medianOf(runs, func(r wrkResult) float64 { return r.PGCPUus }),
		WrkCPUus:    medianOf(runs, func(r wrkResult) float64 { return r.WrkCPUus }),
		KernelCPUus: medianOf(runs, func(r wrkResult) float64 { return r.KernelCPUus }),
		OtherCPUus:  medianOf(runs, func(r wrkResult) float64 { return r.OtherCPUus }),
		SyscallsR:   medianOf(runs, func(r wrkResult) float64 { return r.SyscallsR }),
		SyscallsW:   medianOf(runs, func(r wrkResult) float64 { return r.SyscallsW }),
		BusyShare:   medianOf(runs, func(r wrkResult) float64 { return r.BusyShare }),
		FailedShare: medianOf(runs, func(r wrkResult) float64 { return float64(r.Errors()) / math.Max(1, float64(r.Requests)) }),
	}
	for _, r := range runs {
		s.Failed += r.Errors()
	}
	return s
}

type rateSummary struct {
	Scenario string       `json:"scenario"`
	MaxRPS   float64      `json:"max_rps"`
	Runs     []rateResult `json:"runs"`
}

type serverFacts struct {
	Name         string  `json:"name"`
	TokenCache   int     `json:"token_cache_size"`
	PeakRSSKiB   int64   `json:"peak_rss_kib"`
	RSSKiB       int64   `json:"rss_kib"`
	JWKSFetches  int     `json:"jwks_fetches"`
	FloodFetches int     `json:"flood_jwks_fetches"`
	FloodSeconds float64 `json:"flood_seconds"`
	MinFetchGapS float64 `json:"min_jwks_fetch_gap_s"`
	// MinFloodFetchGapS is the shortest gap between two fetches during floods.
	MinFloodFetchGapS float64 `json:"min_flood_jwks_fetch_gap_s"`
	UserLookups       int     `json:"clerk_user_lookups"`
	// LogLines counts the server's log lines by level over the whole run.
	LogLines map[string]int `json:"log_lines"`
}

type longFlood struct {
	Summary scenarioSummary `json:"summary"`
	Seconds float64         `json:"seconds"`
	Fetches int             `json:"jwks_fetches"`
}

type profile struct {
	Key      string `json:"key"`
	Scenario string `json:"scenario"`
	Path     string `json:"path"`
	// CPUusPerReq is the CPU the profile sampled per request served
	// meanwhile.
	CPUusPerReq float64 `json:"cpu_us_per_req"`
	// ProcCPUusPerReq is the server's CPU per request from /proc over the
	// wrk runs the profile's slices were taken in: the same window, counted
	// without sampling.
	ProcCPUusPerReq float64 `json:"proc_cpu_us_per_req"`
	Top             string  `json:"top"`
	Cum             string  `json:"cum"`
}

type report struct {
	Config        config            `json:"config"`
	Machine       machineInfo       `json:"machine"`
	Seed          map[string]int    `json:"seed"`
	RoundTrips    []roundTripResult `json:"round_trips"`
	Scenarios     []scenarioSummary `json:"scenarios"`
	ConstantRate  rateSummary       `json:"constant_rate"`
	LongFlood     *longFlood        `json:"long_flood"`
	Webhook       *scenarioSummary  `json:"webhook"`
	WebhookEvents int64             `json:"webhook_events_recorded"`
	Servers       []serverFacts     `json:"servers"`
	Profiles      []profile         `json:"profiles"`
	GoBench       string            `json:"go_bench"`
	// SameAnswers is how many targets the reference answered byte for byte
	// as the server did.
	SameAnswers int     `json:"same_answers"`
	BusyBefore  float64 `json:"machine_busy_before"`
	Elapsed     string  `json:"elapsed"`
	OutDir      string  `json:"out_dir"`
}

func (r *report) scenario(key string) scenarioSummary {
	for _, s := range r.Scenarios {
		if s.Key == key {
			return s
		}
	}
	return scenarioSummary{}
}

func (r *report) server(name string) serverFacts {
	for _, s := range r.Servers {
		if s.Name == name {
			return s
		}
	}
	return serverFacts{}
}

func ms(us float64) string { return fmt.Sprintf("%.2f", us/1000) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "MISSED"
}

// pairedRatios are the req/s of ours over the reference's, round by round.
func pairedRatios(ours, ref []wrkResult) []float64 {
	out := make([]float64, min(len(ours), len(ref)))
	for i := range out {
		out[i] = ratio(ours[i].RPS, ref[i].RPS)
	}
	return out
}

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

// Text renders the report.
func (r *report) Text() string {
	var b strings.Builder
	p := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	m := r.Machine
	c := r.Config
	p("")
	p("== Praxiom auth chain benchmark ==")
	p("machine: %d CPUs (%s), %d MiB RAM, Linux %s; %s; PostgreSQL %s; %s", m.CPUs, m.CPUModel, m.MemoryMiB, m.Kernel, m.Go, m.PostgreSQL, m.Wrk)
	if c.ServerEnv != "" {
		p("EXPERIMENT: both servers ran with %s on top of the settings below", c.ServerEnv)
	}
	if c.Overlay != "" {
		p("EXPERIMENT: the server was built with the overlay %s (a patched build, not the source tree)", c.Overlay)
	}
	p("the machine was %.0f%% busy in the 2 s before the run", 100*r.BusyBefore)
	p("load: wrk -t%d -c%d, %s per run, %d rounds with the scenarios alternating, medians over rounds", c.Threads, c.Conns, c.D, c.Rounds)
	p("profiles: %d s of each side-by-side scenario, in %d slices of %d s, the server's and the reference's alternating",
		c.ProfileParts*profilePartSeconds(c.ProfileDuration, c.ProfileParts), c.ProfileParts, profilePartSeconds(c.ProfileDuration, c.ProfileParts))
	p("servers: praxiom serve ×2 (TOKEN_CACHE_SIZE=%d and 0), JWKS mode against a loopback fake Clerk, DB_MAX_CONNS=%d,", c.CacheSize, c.DBMaxConns)
	p("         production's defaults otherwise: the request log at info (read and counted by the bench), rate limits on in memory")
	p("         (every limit %d/min so none refuses), metrics on (METRICS_ADDR=127.0.0.1:0), tracing unset; and the hand-tuned", benchRateLimit)
	p("         reference (bench/reference: net/http + pgx, one joined query, a token map, the same JSON: %d answers compared byte for byte)", r.SameAnswers)
	p("PostgreSQL durable (fsync on), pg_stat_statements")
	p("seed: %d users (%d with filler members), %d workspaces, %d memberships, %d API keys, a workspace of %d members (read by 1 user in 10);",
		r.Seed["users"], r.Seed["all_users"], r.Seed["workspaces"], r.Seed["memberships"], r.Seed["api_keys"], r.Seed["big_workspace_members"])
	p("      %d tokens (one per user)", r.Seed["users"])
	p("")
	p("%-58s %9s %8s %8s %7s %9s   %s", "scenario", "req/s", "p50 ms", "p99 ms", "failed", "stmts/req*", "CPU µs/req: server postgres  wrk kernel other  busy")
	row := func(s scenarioSummary) {
		p("%-58s %9.0f %8s %8s %7d %9.2f   %17.0f %8.0f %4.0f %6.0f %5.0f %4.0f%%", s.Label, s.RPS, ms(s.P50US), ms(s.P99US), s.Failed,
			s.StmtsPerReq, s.ServerCPUus, s.PGCPUus, s.WrkCPUus, s.KernelCPUus, s.OtherCPUus, 100*s.BusyShare)
	}
	for _, s := range r.Scenarios {
		row(s)
	}
	if lf := r.LongFlood; lf != nil {
		s := lf.Summary
		s.Label = fmt.Sprintf("  the same, continuously for %.0f s", lf.Seconds)
		row(s)
	}
	if w := r.Webhook; w != nil {
		row(*w)
	}
	p("(failed = socket errors, time-outs and answers ≥ 400, summed over rounds; in the flood the unknown-kid 401s are expected.")
	p(" *statements per completed request: requests wrk left in flight when it stopped are not counted but their statements are;")
	p("  the exact count follows. CPU per completed request: kernel = irq+softirq (the loopback network stack, charged to no")
	p("  process); other = every other process, this program included, and hypervisor steal: what disturbed the run;")
	p("  busy = the machine's busy CPU over its capacity)")
	var disturbed []string
	all := append([]scenarioSummary(nil), r.Scenarios...)
	if r.Webhook != nil {
		all = append(all, *r.Webhook)
	}
	if r.LongFlood != nil {
		all = append(all, r.LongFlood.Summary)
	}
	for _, s := range all {
		for i, run := range s.Runs {
			if len(run.Others) > 0 {
				disturbed = append(disturbed, fmt.Sprintf("  %s, run %d: %s", s.Label, i+1, strings.Join(run.Others, ", ")))
			}
		}
	}
	if len(disturbed) > 0 {
		p("other processes that used ≥ 50 ms of CPU during a run:")
		for _, d := range disturbed {
			p("%s", d)
		}
	}
	p("")

	p("database round trips per request (pg_stat_statements, exactly %d requests per row, warm pools):", c.RTCount)
	rtOK := len(r.RoundTrips) > 0
	for _, rt := range r.RoundTrips {
		p("  %-26s %-9s %.2f   statuses %v", rt.Route, rt.Server, rt.PerRequest, rt.Statuses)
		for _, s := range rt.ByStatement {
			bg := ""
			if s.Background != "" {
				bg = " (" + s.Background + ", not counted)"
			}
			p("      %6d × %4.0f µs in PostgreSQL%s: %s", s.Calls, 1000*s.MeanExecMS, bg, s.Query)
		}
		if rt.PerRequest != 1 {
			rtOK = false
		}
	}
	if len(r.RoundTrips) == 0 {
		p("  (pg_stat_statements not available)")
	}
	p("")

	p("side by side with the reference (medians of this run; CPU per request from /proc during the runs, from the CPU profiles,")
	p("and from /proc during the profiles' wrk runs):")
	p("  %-42s %9s %9s %6s   %s", "", "server", "reference", "ratio", "CPU µs/req server/reference: runs, profile, /proc while profiled")
	sideOK, cpuOK := true, true
	for _, x := range sideBySide {
		o, f := r.scenario(x.Ours), r.scenario(x.Ref)
		po, pf := r.profile(x.Ours), r.profile(x.Ref)
		p("  %-42s %9.0f %9.0f %6.2f   %.0f/%.0f = %.2f, %.0f/%.0f = %.2f, %.0f/%.0f = %.2f", x.Route, o.RPS, f.RPS, ratio(o.RPS, f.RPS),
			o.ServerCPUus, f.ServerCPUus, ratio(o.ServerCPUus, f.ServerCPUus), po.CPUusPerReq, pf.CPUusPerReq, ratio(po.CPUusPerReq, pf.CPUusPerReq),
			po.ProcCPUusPerReq, pf.ProcCPUusPerReq, ratio(po.ProcCPUusPerReq, pf.ProcCPUusPerReq))
		sideOK = sideOK && ratio(o.RPS, f.RPS) >= 1
		cpuOK = cpuOK && ratio(po.CPUusPerReq, pf.CPUusPerReq) <= 1
	}
	p("  each round's ratio (within a round the reference runs next to the server, first in every other round; the host's")
	p("  speed drifts between rounds, and a pair's ratio is less exposed to it than the medians'):")
	for _, x := range sideBySide {
		rounds := pairedRatios(r.scenario(x.Ours).Runs, r.scenario(x.Ref).Runs)
		parts := make([]string, len(rounds))
		for i, v := range rounds {
			parts[i] = fmt.Sprintf("%.2f", v)
		}
		p("  %-42s %s; median %.2f", x.Route, strings.Join(parts, " "), medianOf(rounds, func(v float64) float64 { return v }))
	}
	p("  system calls per request, server/reference (/proc/<pid>/io: read-like, write-like):")
	for _, x := range sideBySide {
		o, f := r.scenario(x.Ours), r.scenario(x.Ref)
		p("  %-42s read %.2f/%.2f, write %.2f/%.2f", x.Route, o.SyscallsR, f.SyscallsR, o.SyscallsW, f.SyscallsW)
	}
	p("")

	hz, meOn, meOff := r.scenario("healthz"), r.scenario("me-on"), r.scenario("me-off")
	wsOn, wsOff, fl := r.scenario("ws-on"), r.scenario("ws-off"), r.scenario("ws-flood")
	on := r.server("cache-on")
	p("ratios (medians of this run):")
	p("  GET /api/auth/me / GET /healthz:            cache on %.2f, cache off %.2f", ratio(meOn.RPS, hz.RPS), ratio(meOff.RPS, hz.RPS))
	p("  GET /api/workspaces/{id} / GET /healthz:    cache on %.2f, cache off %.2f", ratio(wsOn.RPS, hz.RPS), ratio(wsOff.RPS, hz.RPS))
	p("  cache on / cache off:                       GET /api/auth/me %.2f, GET /api/workspaces/{id} %.2f", ratio(meOn.RPS, meOff.RPS), ratio(wsOn.RPS, wsOff.RPS))
	p("")
	p("unknown-kid flood (1 request in %d, cache on): %.0f req/s in all, %.0f req/s answered < 400 (valid tokens) = %.2f × the clean %.0f req/s;",
		c.FloodEvery, fl.RPS, fl.GoodRPS, ratio(fl.GoodRPS, wsOn.RPS), wsOn.RPS)
	p("  share answered ≥ 400: %.1f%%; the cache-on server fetched the JWKS %d times in the whole run (the first at start-up),",
		100*fl.FailedShare, on.JWKSFetches)
	p("  %d of them during %.0f s of flood%s", on.FloodFetches, on.FloodSeconds, floodGapText(on))
	if lf := r.LongFlood; lf != nil {
		p("  continuous flood of %.0f s: %.0f req/s in all, %.0f answered < 400 (%.2f × the clean median), p50 %s ms, p99 %s ms; JWKS fetches: %d",
			lf.Seconds, lf.Summary.RPS, lf.Summary.GoodRPS, ratio(lf.Summary.GoodRPS, wsOn.RPS), ms(lf.Summary.P50US), ms(lf.Summary.P99US), lf.Fetches)
	}
	p("")
	cr := r.ConstantRate
	p("constant rate, %s, open loop at 50%% of the measured maximum (%.0f req/s):", cr.Scenario, cr.MaxRPS)
	crFailed := 0
	for i, x := range cr.Runs {
		p("  run %d: target %.0f req/s, achieved %.0f, p50 %s ms, p90 %s ms, p99 %s ms, max %s ms, failed %d of %d",
			i+1, x.TargetRPS, x.AchievedRPS, ms(float64(x.P50US)), ms(float64(x.P90US)), ms(float64(x.P99US)), ms(float64(x.MaxUS)), x.Failed, x.Sent)
		crFailed += x.Failed
	}
	p("  median: p50 %s ms, p99 %s ms", ms(medianOf(cr.Runs, func(x rateResult) float64 { return float64(x.P50US) })),
		ms(medianOf(cr.Runs, func(x rateResult) float64 { return float64(x.P99US) })))
	p("")
	if w := r.Webhook; w != nil {
		ex := int64(0)
		for _, x := range w.Runs {
			ex += x.Exhausted
		}
		p("webhook ingestion: %.0f signed user.updated deliveries/s (median), p50 %s ms, p99 %s ms, failed %d, %d deliveries recorded in webhook_events%s",
			w.GoodRPS, ms(w.P50US), ms(w.P99US), w.Failed, r.WebhookEvents, map[bool]string{true: " (a round ran out of deliveries: a lower bound)", false: ""}[ex > 0])
		p("")
	}
	errorLines := 0
	for _, s := range r.Servers {
		p("server %-9s peak RSS (VmHWM) %.1f MiB, RSS at the end %.1f MiB, JWKS fetches %d, Clerk user look-ups %d, log lines %v",
			s.Name, float64(s.PeakRSSKiB)/1024, float64(s.RSSKiB)/1024, s.JWKSFetches, s.UserLookups, s.LogLines)
		if s.Name != "reference" {
			errorLines += s.LogLines["ERROR"]
		}
	}
	p("")

	clean := int64(crFailed)
	for _, s := range r.Scenarios {
		if s.Key != "ws-flood" {
			clean += s.Failed
		}
	}
	if r.Webhook != nil {
		clean += r.Webhook.Failed
	}
	peak := int64(0)
	for _, s := range r.Servers {
		peak = max(peak, s.PeakRSSKiB)
	}
	floodFetchOK := on.MinFloodFetchGapS == 0 || on.MinFloodFetchGapS >= 59.5
	if lf := r.LongFlood; lf != nil && float64(lf.Fetches) > math.Ceil(lf.Seconds/60) {
		floodFetchOK = false
	}
	allocs := goBenchAllocs(r.GoBench, "workspace/production")
	p("targets:")
	p("  %-70s %s", "throughput ≥ 1.0× the reference in every side-by-side scenario", verdict(sideOK))
	p("  %-70s %s", "server CPU per request (profile) ≤ 1.0× the reference's", verdict(cpuOK))
	p("  %-70s %s (%d)", "≤ 80 allocations per workspace GET (BenchmarkAuthChain, production config)", verdict(allocs > 0 && allocs <= 80), allocs)
	p("  %-70s %s (%d)", "no ERROR log line (requests cancelled by wrk at the end of runs included)", verdict(errorLines == 0), errorLines)
	p("  %-70s %s", "exactly 1.00 database round trips per authenticated request", verdict(rtOK))
	p("  %-70s %s (%.2f)", "token cache on/off ≥ 1.3× on the workspace GET", verdict(ratio(wsOn.RPS, wsOff.RPS) >= 1.3), ratio(wsOn.RPS, wsOff.RPS))
	p("  %-70s %s (%.2f)", "unknown-kid flood keeps valid-token throughput ≥ 0.9× the clean run", verdict(ratio(fl.GoodRPS, wsOn.RPS) >= 0.9), ratio(fl.GoodRPS, wsOn.RPS))
	lfFetches := -1
	if r.LongFlood != nil {
		lfFetches = r.LongFlood.Fetches
	}
	p("  %-70s %s (%d in the continuous flood, %d in all floods)", "at most one JWKS fetch per minute of flood", verdict(floodFetchOK), lfFetches, on.FloodFetches)
	p("  %-70s %s (%.2f)", "workspace GET ≥ 0.15× the req/s of GET /healthz (cache on)", verdict(ratio(wsOn.RPS, hz.RPS) >= 0.15), ratio(wsOn.RPS, hz.RPS))
	p("  %-70s %s (%d)", "no failed answer in any clean scenario (incl. constant rate, webhooks)", verdict(clean == 0), clean)
	p("  %-70s %s (%.1f MiB)", "peak RSS under 100 MB", verdict(peak*1024 < 100_000_000), float64(peak)/1024)
	p("")
	if r.GoBench != "" {
		p("go test -bench AuthChain (in-process, real router and PostgreSQL, sequential requests):")
		for _, l := range strings.Split(r.GoBench, "\n") {
			p("  %s", l)
		}
		p("")
	}
	for _, pr := range r.Profiles {
		p("CPU profile of the server, %s (%s, its slices merged):", pr.Scenario, pr.Path)
		p("%s", indent(pr.Top))
		p("")
		p("  by cumulative time:")
		p("%s", indent(pr.Cum))
		p("")
	}
	p("elapsed %s; results.json, report.txt and the profiles are in %s", r.Elapsed, r.OutDir)
	return b.String()
}

func (r *report) profile(key string) profile {
	for _, p := range r.Profiles {
		if p.Key == key {
			return p
		}
	}
	return profile{}
}

// goBenchAllocs reads the allocs/op of the named BenchmarkAuthChain
// variant (0 when absent).
func goBenchAllocs(out, variant string) int {
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) == 0 || !strings.HasPrefix(f[0], "BenchmarkAuthChain/"+variant) {
			continue
		}
		for i := 1; i < len(f); i++ {
			if f[i] == "allocs/op" {
				n, _ := strconv.Atoi(f[i-1])
				return n
			}
		}
	}
	return 0
}

func floodGapText(s serverFacts) string {
	if s.FloodFetches < 2 {
		return ""
	}
	return fmt.Sprintf(", at least %.1f s apart", s.MinFloodFetchGapS)
}

func indent(s string) string {
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = "  " + l
	}
	return strings.Join(lines, "\n")
}
