// Package mailpit runs a local Mailpit for `praxiom dev`: a mail catcher
// with a web UI, so that every email the server sends in development lands
// where a developer can read it. It starts a Mailpit binary (the version
// pinned in tools/go.mod, built by scripts/mailpit.sh) on loopback ports,
// keeps its messages in a database under a data directory, and stops it.
// It only runs a binary it is given: building and installing belong to the
// scripts.
package mailpit

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"
)

// Default ports, used when free: Mailpit's own defaults.
const (
	DefaultSMTPPort = 1025
	DefaultUIPort   = 8025
)

// startTimeout bounds the wait for Mailpit to answer.
const startTimeout = 15 * time.Second

// Options configure Start.
type Options struct {
	// Binary is the Mailpit executable (required).
	Binary string
	// Dir keeps Mailpit's database (messages survive restarts) and log.
	Dir string
	// SMTPPort and UIPort on 127.0.0.1; 0 means the default when it is
	// free, else any free port.
	SMTPPort, UIPort int
	// Logf receives progress lines; nil is silent.
	Logf func(format string, args ...any)
}

// Server is a running Mailpit.
type Server struct {
	// SMTPURL is where to send: smtp://127.0.0.1:PORT (no TLS, no auth).
	SMTPURL string
	// UIURL is the web UI (and its API under /api/v1).
	UIURL string

	cmd  *exec.Cmd
	done chan struct{}
	err  error
	logf func(string, ...any)
}

// Start runs Mailpit and waits until its web UI answers. Mailpit runs in a
// process group of its own, so a terminal's Ctrl-C reaches the caller, which
// stops it with Stop after its own shutdown.
func Start(ctx context.Context, o Options) (*Server, error) {
	if o.Binary == "" {
		return nil, errors.New("mailpit: no binary given")
	}
	if o.Logf == nil {
		o.Logf = func(string, ...any) {}
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("mailpit: %w", err)
	}
	smtpPort, err := port(o.SMTPPort, DefaultSMTPPort)
	if err != nil {
		return nil, err
	}
	uiPort, err := port(o.UIPort, DefaultUIPort)
	if err != nil {
		return nil, err
	}
	smtpAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(smtpPort))
	uiAddr := net.JoinHostPort("127.0.0.1", strconv.Itoa(uiPort))
	logFile, err := os.OpenFile(filepath.Join(o.Dir, "mailpit.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("mailpit: log: %w", err)
	}
	defer logFile.Close() // the child holds its own descriptor
	cmd := exec.Command(o.Binary,
		"--smtp", smtpAddr, "--listen", uiAddr,
		"--database", filepath.Join(o.Dir, "mailpit.db"),
		"--disable-version-check", "--smtp-disable-rdns", "--quiet")
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("mailpit: start %s: %w", o.Binary, err)
	}
	s := &Server{SMTPURL: "smtp://" + smtpAddr, UIURL: "http://" + uiAddr, cmd: cmd, done: make(chan struct{}), logf: o.Logf}
	go func() {
		s.err = cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(ctx); err != nil {
		_ = s.Stop()
		return nil, err
	}
	o.Logf("Mailpit ready: SMTP %s, web UI %s", smtpAddr, s.UIURL)
	return s, nil
}

// waitReady polls the web UI's readiness endpoint.
func (s *Server) waitReady(ctx context.Context) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(startTimeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.UIURL+"/readyz", nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-s.done:
			return fmt.Errorf("mailpit: exited at start-up (%v); see its log", s.err)
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mailpit: not ready after %s", startTimeout)
		}
	}
}

// Stop ends Mailpit (SIGTERM, then SIGKILL after 5 seconds) and waits for
// it. Stopping a Mailpit that already exited is not an error.
func (s *Server) Stop() error {
	select {
	case <-s.done:
		return nil
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(5 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
	s.logf("Mailpit stopped")
	return nil
}

// Done is closed once Mailpit has exited.
func (s *Server) Done() <-chan struct{} { return s.done }

// port returns want, or def when want is 0 and def is free, or a free port.
func port(want, def int) (int, error) {
	if want != 0 {
		return want, nil
	}
	if l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(def))); err == nil {
		l.Close()
		return def, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("mailpit: pick a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}
