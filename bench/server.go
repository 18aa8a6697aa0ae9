package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/praxiom/praxiom-api/internal/localpg"
)

// pprofOverlay is added to package main of cmd/praxiom for the bench build
// only, through `go build -overlay`: the source tree and the shipped binary
// are unchanged. It serves net/http/pprof on PRAXIOM_BENCH_PPROF_ADDR (a
// loopback address the bench picks) when that variable is set.
const pprofOverlay = `package main

import (
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	if addr := os.Getenv("PRAXIOM_BENCH_PPROF_ADDR"); addr != "" {
		go func() { _ = http.ListenAndServe(addr, nil) }()
	}
}
`

// buildReference builds the reference server (bench/reference) into dir.
func buildReference(ctx context.Context, goCmd, root, dir string) (string, error) {
	bin := filepath.Join(dir, "reference")
	cmd := exec.CommandContext(ctx, goCmd, "build", "-o", bin, "./reference")
	cmd.Dir = filepath.Join(root, "bench")
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build reference: %v: %s", err, out)
	}
	return bin, nil
}

// buildServer builds cmd/praxiom into dir with the pprof overlay, plus the
// replacements of the `go build -overlay` file extra when it is set (to
// measure a patched build without touching the source tree).
func buildServer(ctx context.Context, goCmd, root, dir, extra string) (string, error) {
	src := filepath.Join(dir, "bench_pprof.go")
	if err := os.WriteFile(src, []byte(pprofOverlay), 0o644); err != nil {
		return "", err
	}
	replace := map[string]string{filepath.Join(root, "cmd", "praxiom", "zz_bench_pprof.go"): src}
	if extra != "" {
		raw, err := os.ReadFile(extra)
		if err != nil {
			return "", err
		}
		var ov struct{ Replace map[string]string }
		if err := json.Unmarshal(raw, &ov); err != nil {
			return "", fmt.Errorf("-overlay %s: %w", extra, err)
		}
		for k, v := range ov.Replace {
			if !filepath.IsAbs(k) {
				k = filepath.Join(root, k)
			}
			replace[k] = v
		}
	}
	overlay, _ := json.Marshal(map[string]any{"Replace": replace})
	ovPath := filepath.Join(dir, "overlay.json")
	if err := os.WriteFile(ovPath, overlay, 0o644); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "praxiom")
	bctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(bctx, goCmd, "build", "-overlay", ovPath, "-o", bin, "./cmd/praxiom")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v: %s", err, out)
	}
	return bin, nil
}

// server is one process under test: `praxiom serve` or the reference.
type server struct {
	Name      string
	URL       string
	PprofURL  string
	CacheSize int
	cmd       *exec.Cmd
	done      chan error
	log       *logSink
}

// logSink reads a server's output as its log shipper would, cheaply (the
// bench shares the machine with the server, and the reference logs
// nothing): it counts the JSON lines by level in one pass over each read,
// copying nothing but a line cut by the end of a read, and keeps the last
// 16 KiB for error messages.
type logSink struct {
	mu     sync.Mutex
	levels map[string]int
	last   []byte
}

var logLevels = [...]string{"DEBUG", "INFO", "WARN", "ERROR"}

// levelKey precedes a line's level; inside a JSON string its quotes would
// be escaped, so it is found only as a key.
var levelKey = []byte(`"level":"`)

const sinkTail = 16 << 10

func (l *logSink) read(r io.Reader) {
	buf := make([]byte, 256<<10)
	kept := 0 // a line cut by the end of the last read, at buf's start
	for {
		n, err := r.Read(buf[kept:])
		n += kept
		cut := bytes.LastIndexByte(buf[:n], '\n') + 1
		if cut == 0 && (n == len(buf) || err != nil) {
			cut = n // a line longer than the buffer, or the last one
		}
		l.count(buf[:cut])
		kept = copy(buf, buf[cut:n])
		if err != nil {
			return
		}
	}
}

// count adds the levels of whole lines and keeps their tail.
func (l *logSink) count(lines []byte) {
	var n [len(logLevels)]int
	for rest := lines; ; {
		i := bytes.Index(rest, levelKey)
		if i < 0 {
			break
		}
		rest = rest[i+len(levelKey):]
		for j, lv := range logLevels {
			if len(rest) > len(lv) && string(rest[:len(lv)]) == lv && rest[len(lv)] == '"' {
				n[j]++
				break
			}
		}
	}
	tail := lines[max(0, len(lines)-sinkTail):]
	l.mu.Lock()
	defer l.mu.Unlock()
	for j, lv := range logLevels {
		l.levels[lv] += n[j]
	}
	if drop := len(l.last) + len(tail) - sinkTail; drop > 0 {
		l.last = append(l.last[:0], l.last[drop:]...)
	}
	l.last = append(l.last, tail...)
}

// Levels returns the number of lines by level so far.
func (l *logSink) Levels() map[string]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.levels)
}

// Tail returns the last lines.
func (l *logSink) Tail() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.last)
}

// startServer starts argv with env (PORT and the pprof address are added)
// and waits until /healthz answers 200.
func startServer(ctx context.Context, name string, argv []string, cacheSize int, env map[string]string) (*server, error) {
	port, err := localpg.FreePort()
	if err != nil {
		return nil, err
	}
	pport, err := localpg.FreePort()
	if err != nil {
		return nil, err
	}
	s := &server{Name: name, CacheSize: cacheSize, URL: fmt.Sprintf("http://127.0.0.1:%d", port),
		PprofURL: fmt.Sprintf("http://127.0.0.1:%d", pport), done: make(chan error, 1),
		log: &logSink{levels: map[string]int{}}}
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"PORT=" + strconv.Itoa(port), "PRAXIOM_BENCH_PPROF_ADDR=" + fmt.Sprintf("127.0.0.1:%d", pport),
		"TOKEN_CACHE_SIZE=" + strconv.Itoa(cacheSize)}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = cmd.Stdout
	// Its own process group, so that an interrupted bench can stop it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	s.cmd = cmd
	logged := make(chan struct{})
	go func() { defer close(logged); s.log.read(out) }()
	go func() { <-logged; s.done <- cmd.Wait() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-s.done:
			s.done <- err
			return nil, fmt.Errorf("server %s exited at start-up (%v); log:\n%s", name, err, s.log.Tail())
		default:
		}
		resp, err := http.Get(s.URL + "/healthz")
		if err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return s, nil
			}
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			s.Stop()
			return nil, fmt.Errorf("server %s not healthy after 30s; log:\n%s", name, s.log.Tail())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func (s *server) PID() int { return s.cmd.Process.Pid }

// Stop sends SIGTERM and waits up to 30 s, then kills the process.
func (s *server) Stop() error {
	if s == nil || s.cmd == nil || s.cmd.Process == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-s.done:
		s.done <- err
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("server %s: %v", s.Name, err)
		}
		return nil
	case <-time.After(30 * time.Second):
		_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		return fmt.Errorf("server %s did not stop within 30s; killed", s.Name)
	}
}
