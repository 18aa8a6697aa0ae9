package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/auth"
	"github.com/praxiom/praxiom-api/internal/testenv"
)

func envOf(kv map[string]string) func(string) string {
	return func(k string) string { return kv[k] }
}

// runServe starts serve() with the environment kv and returns its address
// on 127.0.0.1, the cancel that stands for SIGTERM, and the channel serve's
// result arrives on.
func runServe(t *testing.T, kv map[string]string) (string, context.CancelFunc, <-chan error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- serve(ctx, envOf(kv), io.Discard, ready) }()
	select {
	case addr := <-ready:
		return "127.0.0.1:" + addr[strings.LastIndex(addr, ":")+1:], cancel, done
	case err := <-done:
		cancel()
		t.Fatalf("serve ended early: %v", err)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatal("serve did not start")
	}
	return "", nil, nil
}

func TestServeRefusesBadConfigInOneLine(t *testing.T) {
	err := run(context.Background(), []string{"serve"}, envOf(map[string]string{"CLERK_JWT_KEY": "x"}), io.Discard, io.Discard)
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "DATABASE_URL") {
		t.Fatalf("want a one-line reason naming DATABASE_URL, got %v", err)
	}
}

func TestUnknownCommand(t *testing.T) {
	if err := run(context.Background(), []string{"frobnicate"}, envOf(nil), io.Discard, io.Discard); err == nil {
		t.Fatal("unknown command accepted")
	}
}

func TestDevRefusesProduction(t *testing.T) {
	for _, args := range [][]string{{"dev"}, {"dev", "token", "--email", "a@b.co"}} {
		err := run(context.Background(), args, envOf(map[string]string{"APP_ENV": "production"}), io.Discard, io.Discard)
		if err == nil || !strings.Contains(err.Error(), "production") {
			t.Fatalf("%v: want refusal, got %v", args, err)
		}
	}
}

func TestDevTokenIsVerifiableWithTheDevKey(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	kv := map[string]string{"PRAXIOM_DATA_DIR": dir}
	if err := run(context.Background(), []string{"dev", "token", "--email", "Ada@Example.com", "--name", "Ada"}, envOf(kv), &out, io.Discard); err != nil {
		t.Fatal(err)
	}
	token := strings.TrimSpace(out.String())
	pub, err := readFile(dir + "/dev-jwt-public.pem")
	if err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier(auth.Config{JWTKeyPEM: pub, Issuer: devIssuer})
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(context.Background(), token)
	if err != nil {
		t.Fatalf("dev token does not verify: %v", err)
	}
	if c.Email != "ada@example.com" || c.Name != "Ada" || !strings.HasPrefix(c.Subject, "user_dev") {
		t.Fatalf("claims: %+v", c)
	}
	if err := run(context.Background(), []string{"dev", "token"}, envOf(kv), io.Discard, io.Discard); err == nil {
		t.Fatal("dev token without --email accepted")
	}
}

// TestServeDrainsInFlightRequests starts the real server, begins a request
// whose body is still arriving, signals shutdown, then finishes the body:
// the request completes and serve returns nil.
func TestServeDrainsInFlightRequests(t *testing.T) {
	url := testenv.NewDatabase(t)
	key := testenv.Key(t)
	kv := map[string]string{
		"DATABASE_URL": url, "CLERK_JWT_KEY": key.PublicPEM(), "PORT": "0",
		"CLERK_WEBHOOK_SIGNING_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "SHUTDOWN_TIMEOUT": "10s",
	}
	addr, cancel, done := runServe(t, kv)
	defer cancel()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	body := `{"type":"x"}`
	if _, err := io.WriteString(conn, "POST /api/webhooks/clerk HTTP/1.1\r\nHost: x\r\nContent-Length: "+
		itoa(len(body))+"\r\n\r\n"+body[:5]); err != nil {
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
			t.Fatalf("serve returned %v after a graceful shutdown", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("serve did not stop")
	}
	// New connections are refused once it has stopped.
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("still accepting connections after shutdown")
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func readFile(p string) (string, error) {
	b, err := os.ReadFile(p)
	return string(b), err
}

// TestServeDrainsBeforeClosing: with SHUTDOWN_DRAIN_DELAY, a SIGTERM first
// turns /readyz to 503 while requests are still served, then the server stops.
func TestServeDrainsBeforeClosing(t *testing.T) {
	url := testenv.NewDatabase(t)
	kv := map[string]string{
		"DATABASE_URL": url, "CLERK_JWT_KEY": testenv.Key(t).PublicPEM(), "PORT": "0", "HOST": "127.0.0.1",
		"SHUTDOWN_DRAIN_DELAY": "700ms",
	}
	addr, cancel, done := runServe(t, kv)
	defer cancel()
	get := func(path string) int {
		resp, err := http.Get("http://" + addr + path)
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
		t.Fatalf("serve: %v", err)
	}
	if got := get("/healthz"); got != -1 {
		t.Fatalf("still serving after the drain: %d", got)
	}
}
