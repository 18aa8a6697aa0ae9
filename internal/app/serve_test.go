package app_test

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/app"
	"github.com/praxiom/praxiom-api/internal/pgtest"
)

// envOf is an environment of exactly kv, read like os.LookupEnv.
func envOf(kv map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := kv[k]; return v, ok }
}

// runServe starts Serve with the environment kv and returns its addresses
// on 127.0.0.1, the cancel that stands for SIGTERM, and the channel Serve's
// result arrives on.
func runServe(t *testing.T, kv map[string]string) (app.Addrs, context.CancelFunc, <-chan error) {
	t.Helper()
	return runServeLogging(t, kv, io.Discard)
}

// runServeLogging is runServe with the server's log lines written to logw.
func runServeLogging(t *testing.T, kv map[string]string, logw io.Writer) (app.Addrs, context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan app.Addrs, 1)
	done := make(chan error, 1)
	go func() { done <- app.Serve(ctx, envOf(kv), logw, func(a app.Addrs) { ready <- a }) }()
	select {
	case a := <-ready:
		a.API = "127.0.0.1:" + a.API[strings.LastIndex(a.API, ":")+1:]
		return a, cancel, done
	case err := <-done:
		cancel()
		t.Fatalf("Serve ended early: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("Serve did not start")
	}
	return app.Addrs{}, nil, nil
}

// refused reports whether nothing accepts connections on addr.
func refused(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
	}
	return err != nil
}

// TestServeDrainsInFlightRequests starts the real server, begins a request
// whose body is still arriving, signals shutdown, then finishes the body:
// the request completes, Serve returns nil and both listeners are closed.
func TestServeDrainsInFlightRequests(t *testing.T) {
	kv := map[string]string{
		"DATABASE_URL": pgtest.NewDatabase(t), "CLERK_JWT_KEY": apitest.Key(t).PublicPEM(), "PORT": "0",
		"CLERK_WEBHOOK_SIGNING_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "SHUTDOWN_TIMEOUT": "10s",
		"METRICS_ADDR": "127.0.0.1:0",
	}
	addrs, cancel, done := runServe(t, kv)
	defer cancel()
	conn, err := net.Dial("tcp", addrs.API)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"type":"x"}`
	if _, err := io.WriteString(conn, "POST /api/webhooks/clerk HTTP/1.1\r\nHost: x\r\nContent-Length: "+
		strconv.Itoa(len(body))+"\r\n\r\n"+body[:5]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // the handler is now reading the body
	cancel()                           // SIGTERM
	time.Sleep(200 * time.Millisecond)
	if _, err := io.WriteString(conn, body[5:]); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatalf("in-flight request was cut: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest { // unsigned: INVALID_SIGNATURE, but answered
		t.Fatalf("status %d", resp.StatusCode)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve returned %v after a graceful shutdown", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not stop")
	}
	// New connections are refused once it has stopped, on both listeners.
	for _, a := range []string{addrs.API, addrs.Metrics} {
		if !refused(a) {
			t.Fatalf("%s still accepts connections after shutdown", a)
		}
	}
}

// TestServeDrainsBeforeClosing: with SHUTDOWN_DRAIN_DELAY, a SIGTERM first
// turns /readyz to 503 while requests are still served, then the server stops.
func TestServeDrainsBeforeClosing(t *testing.T) {
	kv := map[string]string{
		"DATABASE_URL": pgtest.NewDatabase(t), "CLERK_JWT_KEY": apitest.Key(t).PublicPEM(), "PORT": "0", "HOST": "127.0.0.1",
		"SHUTDOWN_DRAIN_DELAY": "700ms", "METRICS_ADDR": "",
	}
	addrs, cancel, done := runServe(t, kv)
	defer cancel()
	get := func(path string) int {
		resp, err := http.Get("http://" + addrs.API + path)
		if err != nil {
			return -1
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := get("/readyz"); got != http.StatusOK {
		t.Fatalf("readyz before shutdown = %d", got)
	}
	cancel()
	time.Sleep(200 * time.Millisecond)
	if got := get("/readyz"); got != http.StatusServiceUnavailable {
		t.Fatalf("readyz while draining = %d, want 503", got)
	}
	if got := get("/healthz"); got != http.StatusOK {
		t.Fatalf("healthz while draining = %d, want 200 (still serving)", got)
	}
	if err := <-done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if got := get("/healthz"); got != -1 {
		t.Fatalf("still serving after the drain: %d", got)
	}
}

// TestServeRefusesABusyMetricsAddress: when METRICS_ADDR cannot be bound,
// Serve fails with a reason naming it instead of running without metrics.
func TestServeRefusesABusyMetricsAddress(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	kv := map[string]string{
		"DATABASE_URL": pgtest.NewDatabase(t), "CLERK_JWT_KEY": apitest.Key(t).PublicPEM(), "PORT": "0",
		"HOST": "127.0.0.1", "METRICS_ADDR": busy.Addr().String(),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = app.Serve(ctx, envOf(kv), io.Discard, func(app.Addrs) { t.Error("Serve reported ready with its metrics address taken") })
	if err == nil || !strings.Contains(err.Error(), "METRICS_ADDR") {
		t.Fatalf("Serve with a busy METRICS_ADDR: %v", err)
	}
}
