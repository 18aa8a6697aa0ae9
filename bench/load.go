package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// wrkResult is what bench/*.lua print, plus what the bench derives.
type wrkResult struct {
	Requests      int64   `json:"requests"`
	DurationUS    int64   `json:"duration_us"`
	Bytes         int64   `json:"bytes"`
	ConnectErrors int64   `json:"connect_errors"`
	ReadErrors    int64   `json:"read_errors"`
	WriteErrors   int64   `json:"write_errors"`
	StatusErrors  int64   `json:"status_errors"` // answers with status > 399
	Timeouts      int64   `json:"timeouts"`
	P50US         int64   `json:"p50_us"`
	P90US         int64   `json:"p90_us"`
	P99US         int64   `json:"p99_us"`
	MaxUS         int64   `json:"max_us"`
	MeanUS        float64 `json:"mean_us"`
	Sent          int64   `json:"sent"`
	BadSent       int64   `json:"bad_sent"`
	Exhausted     int64   `json:"exhausted"`

	RPS float64 `json:"rps"`
	// GoodRPS counts the answers below 400 only.
	GoodRPS float64 `json:"good_rps"`
	// CPU used during the run, per completed request.
	WrkCPUus    float64 `json:"wrk_cpu_us_per_req"`
	ServerCPUus float64 `json:"server_cpu_us_per_req"`
	PGCPUus     float64 `json:"pg_cpu_us_per_req"`
	// SyscallsR and SyscallsW are the server's read-like and write-like
	// system calls per completed request (/proc/<pid>/io).
	SyscallsR float64 `json:"server_syscalls_r_per_req"`
	SyscallsW float64 `json:"server_syscalls_w_per_req"`
	// KernelCPUus is irq and softirq time: the loopback network stack,
	// charged to no process.
	KernelCPUus float64 `json:"kernel_cpu_us_per_req"`
	// OtherCPUus is the CPU of every other process (the bench program
	// included) and the hypervisor's steal: what disturbed the measurement.
	OtherCPUus float64 `json:"other_cpu_us_per_req"`
	// Others names the largest other consumers.
	Others []string `json:"others,omitempty"`
	// BusyShare is the machine's busy CPU over its capacity during the run.
	BusyShare float64 `json:"busy_share"`
	// Statements the servers ran per completed request (pg_stat_statements).
	StmtsPerReq float64 `json:"statements_per_req"`
}

// Errors is every failed request: socket errors, time-outs and answers
// with status > 399.
func (r wrkResult) Errors() int64 {
	return r.ConnectErrors + r.ReadErrors + r.WriteErrors + r.StatusErrors + r.Timeouts
}

type wrkRun struct {
	Script  string
	URL     string
	Threads int
	Conns   int
	D       time.Duration
	Args    []string
}

// runWrk runs wrk once and returns its result and its own CPU time.
func runWrk(ctx context.Context, w wrkRun) (wrkResult, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, w.D+30*time.Second)
	defer cancel()
	args := []string{"-t", strconv.Itoa(w.Threads), "-c", strconv.Itoa(w.Conns),
		"-d", fmt.Sprintf("%ds", max(1, int(w.D.Round(time.Second).Seconds()))), "--timeout", "5s", "-s", w.Script, w.URL, "--"}
	args = append(args, w.Args...)
	cmd := exec.CommandContext(ctx, "wrk", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	var cpu time.Duration
	if cmd.ProcessState != nil {
		cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	if err != nil {
		return wrkResult{}, cpu, fmt.Errorf("wrk: %v: %s%s", err, out.String(), errb.String())
	}
	for _, line := range strings.Split(out.String(), "\n") {
		if j, ok := strings.CutPrefix(line, "WRKJSON "); ok {
			var r wrkResult
			if err := json.Unmarshal([]byte(j), &r); err != nil {
				return wrkResult{}, cpu, fmt.Errorf("wrk output: %v: %s", err, j)
			}
			secs := float64(r.DurationUS) / 1e6
			r.RPS = float64(r.Requests) / secs
			r.GoodRPS = float64(r.Requests-r.StatusErrors) / secs
			if r.Requests > 0 {
				r.WrkCPUus = float64(cpu.Microseconds()) / float64(r.Requests)
			}
			return r, cpu, nil
		}
	}
	return wrkResult{}, cpu, fmt.Errorf("wrk printed no WRKJSON line: %s%s", out.String(), errb.String())
}

// target is one request the Go client sends.
type target struct {
	Path  string
	Token string
}

func newClient(conns int) *http.Client {
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, MaxConnsPerHost: conns,
		DisableCompression: true, IdleConnTimeout: time.Minute,
	}}
}

func do(ctx context.Context, c *http.Client, base string, t target) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+t.Path, nil)
	if err != nil {
		return 0, err
	}
	if t.Token != "" {
		req.Header.Set("Authorization", "Bearer "+t.Token)
	}
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, nil
}

// driveCount sends exactly n requests (targets in turn) with conc workers
// and returns how many answered each status.
func driveCount(ctx context.Context, base string, targets []target, n, conc int) (map[int]int, error) {
	c := newClient(conc)
	defer c.CloseIdleConnections()
	var next atomic.Int64
	var mu sync.Mutex
	statuses := map[int]int{}
	var firstErr error
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				k := next.Add(1) - 1
				if k >= int64(n) || ctx.Err() != nil {
					return
				}
				st, err := do(ctx, c, base, targets[k%int64(len(targets))])
				mu.Lock()
				if err != nil && firstErr == nil {
					firstErr = err
				}
				statuses[st]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return statuses, firstErr
}

// rateResult is an open-loop run at a constant rate.
type rateResult struct {
	TargetRPS   float64 `json:"target_rps"`
	AchievedRPS float64 `json:"achieved_rps"`
	Sent        int     `json:"sent"`
	OK          int     `json:"ok"`
	Failed      int     `json:"failed"`
	P50US       int64   `json:"p50_us"`
	P90US       int64   `json:"p90_us"`
	P99US       int64   `json:"p99_us"`
	MaxUS       int64   `json:"max_us"`
}

// driveRate sends rate requests per second for d, open loop: request k is
// due at start + k/rate whatever happened to the earlier ones, and its
// latency is measured from when it was due (so a stall is not hidden by
// the generator waiting for it: no coordinated omission).
func driveRate(ctx context.Context, base string, targets []target, rate float64, d time.Duration, workers int) rateResult {
	ctx, cancel := context.WithTimeout(ctx, d+15*time.Second)
	defer cancel()
	c := newClient(workers)
	defer c.CloseIdleConnections()
	total := int(rate * d.Seconds())
	type job struct {
		k   int
		due time.Time
	}
	jobs := make(chan job, total)
	lat := make([]time.Duration, total)
	ok := make([]bool, total)
	start := time.Now().Add(50 * time.Millisecond)
	go func() {
		defer close(jobs)
		for k := range total {
			due := start.Add(time.Duration(float64(k) / rate * float64(time.Second)))
			if wait := time.Until(due); wait > 0 {
				select {
				case <-time.After(wait):
				case <-ctx.Done():
					return
				}
			}
			jobs <- job{k, due}
		}
	}()
	var wg sync.WaitGroup
	var last atomic.Int64
	for range workers {
		wg.Go(func() {
			for j := range jobs {
				st, err := do(ctx, c, base, targets[j.k%len(targets)])
				now := time.Now()
				lat[j.k] = now.Sub(j.due)
				ok[j.k] = err == nil && st >= 200 && st < 300
				for {
					l := last.Load()
					if now.UnixNano() <= l || last.CompareAndSwap(l, now.UnixNano()) {
						break
					}
				}
			}
		})
	}
	wg.Wait()
	r := rateResult{TargetRPS: rate, Sent: total}
	var ls []time.Duration
	for k := range total {
		if ok[k] {
			r.OK++
			ls = append(ls, lat[k])
		} else {
			r.Failed++
		}
	}
	if n := len(ls); n > 0 {
		slices.Sort(ls)
		pct := func(p float64) int64 { return ls[min(n-1, int(p*float64(n)))].Microseconds() }
		r.P50US, r.P90US, r.P99US, r.MaxUS = pct(0.50), pct(0.90), pct(0.99), ls[n-1].Microseconds()
	}
	if el := time.Unix(0, last.Load()).Sub(start); el > 0 {
		r.AchievedRPS = float64(r.OK) / el.Seconds()
	}
	return r
}

// writeLines writes lines to path.
func writeLines(path string, lines func(w *bufio.Writer) error) error {
	var buf bytes.Buffer
	w := bufio.NewWriter(&buf)
	if err := lines(w); err != nil {
		return err
	}
	if err := w.Flush(); err != nil {
		return err
	}
	return writeFile(path, buf.Bytes())
}
