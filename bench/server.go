package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
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

// server is one `praxiom serve` process under test.
type server struct {
	Name      string
	URL       string
	PprofURL  string
	CacheSize int
	cmd       *exec.Cmd
	done      chan error
	logPath   string
}

// startServer starts bin serve with env (PORT and the pprof address are
// added) and waits until /healthz answers 200.
func startServer(ctx context.Context, bin, dir, name string, cacheSize int, env map[string]string) (*server, error) {
	port, err := localpg.FreePort()
	if err != nil {
		return nil, err
	}
	pport, err := localpg.FreePort()
	if err != nil {
		return nil, err
	}
	s := &server{Name: name, CacheSize: cacheSize, URL: fmt.Sprintf("http://127.0.0.1:%d", port),
		PprofURL: fmt.Sprintf("http://127.0.0.1:%d", pport), logPath: filepath.Join(dir, "server-"+name+".log"),
		done: make(chan error, 1)}
	logf, err := os.Create(s.logPath)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(bin, "serve")
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"),
		"PORT=" + strconv.Itoa(port), "PRAXIOM_BENCH_PPROF_ADDR=" + fmt.Sprintf("127.0.0.1:%d", pport),
		"TOKEN_CACHE_SIZE=" + strconv.Itoa(cacheSize)}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	// Its own process group, so that an interrupted bench can stop it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return nil, err
	}
	s.cmd = cmd
	go func() { s.done <- cmd.Wait(); logf.Close() }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case err := <-s.done:
			s.done <- err
			return nil, fmt.Errorf("server %s exited at start-up (%v); log:\n%s", name, err, tail(s.logPath))
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
			return nil, fmt.Errorf("server %s not healthy after 30s; log:\n%s", name, tail(s.logPath))
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

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}
