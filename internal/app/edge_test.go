package app_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/app"
	"github.com/praxiom/praxiom-api/internal/devtoken"
	"github.com/praxiom/praxiom-api/internal/pgtest"
)

// Edge tests: the real server from Serve, configured through the
// environment, probed over TCP on 127.0.0.1 by misbehaving clients.

// edgeServe runs Serve on a fresh database with the base configuration
// plus kv, and returns its addresses on 127.0.0.1. It stops at cleanup.
func edgeServe(t *testing.T, kv map[string]string) app.Addrs {
	t.Helper()
	env := map[string]string{
		"DATABASE_URL": pgtest.NewDatabase(t), "CLERK_JWT_KEY": apitest.Key(t).PublicPEM(), "PORT": "0", "HOST": "127.0.0.1",
		"CLERK_WEBHOOK_SIGNING_SECRET": "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "SHUTDOWN_TIMEOUT": "5s",
		"LOG_LEVEL": "error", "METRICS_ADDR": "127.0.0.1:0",
	}
	for k, v := range kv {
		env[k] = v
	}
	addrs, cancel, done := runServe(t, env)
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("Serve did not stop")
		}
	})
	return addrs
}

// edgeDial opens a raw connection with an overall deadline, so that no
// probe can hang the test.
func edgeDial(t *testing.T, addr string, deadline time.Duration) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	_ = c.SetDeadline(time.Now().Add(deadline))
	t.Cleanup(func() { c.Close() })
	return c
}

// edgeClosed reports, on the returned channel, when the peer closes c (or
// resets it), with whatever it sent before.
func edgeClosed(c net.Conn) <-chan []byte {
	ch := make(chan []byte, 1)
	go func() {
		var got bytes.Buffer
		buf := make([]byte, 4096)
		for {
			n, err := c.Read(buf)
			got.Write(buf[:n])
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					got.WriteString("\n[test deadline hit]")
				}
				ch <- got.Bytes()
				return
			}
		}
	}()
	return ch
}

func edgeToken(t *testing.T, email string) string {
	t.Helper()
	tok, err := apitest.Key(t).Mint(devtoken.Options{Subject: devtoken.SubjectForEmail(email), Email: email, Name: "Edge", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// edgeCode is error.code of an envelope.
func edgeCode(t *testing.T, body []byte) string {
	t.Helper()
	var env struct {
		Error struct {
			Code      string `json:"code"`
			Message   string `json:"message"`
			RequestID string `json:"request_id"`
		} `json:"error"`
	}
	if err := json.Unmarshal(body, &env); err != nil || env.Error.Message == "" || env.Error.RequestID == "" {
		t.Fatalf("not an error envelope (%v): %.200s", err, body)
	}
	return env.Error.Code
}

// TestEdgeSlowHeaders: a client trickling its headers is cut off by
// HTTP_READ_HEADER_TIMEOUT, while one that finishes in time is served.
func TestEdgeSlowHeaders(t *testing.T) {
	addr := edgeServe(t, map[string]string{"HTTP_READ_HEADER_TIMEOUT": "500ms"}).API

	// In time: headers spread over 300 ms.
	c := edgeDial(t, addr, 10*time.Second)
	for _, part := range []string{"GET /healthz HTTP/1.1\r\n", "Host: edge\r\n", "X-Slow: yes\r\n", "\r\n"} {
		if _, err := io.WriteString(c, part); err != nil {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("headers finished within the timeout: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d", resp.StatusCode)
	}

	// Trickled: one byte every 100 ms would take 4 s.
	c = edgeDial(t, addr, 10*time.Second)
	start := time.Now()
	closed := edgeClosed(c)
	if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: edge\r\nX-Trickle: "); err != nil {
		t.Fatal(err)
	}
	const trickle = 40
	var at time.Duration
	var got []byte
	sent := 0
loop:
	for ; sent < trickle; sent++ {
		select {
		case got = <-closed:
			at = time.Since(start)
			break loop
		case <-time.After(100 * time.Millisecond):
		}
		if _, err := c.Write([]byte{'a'}); err != nil {
			got, at = <-closed, time.Since(start)
			break
		}
	}
	if at == 0 {
		t.Fatalf("the connection was still open after trickling %d header bytes over %v", trickle, time.Since(start))
	}
	if at < 400*time.Millisecond || at > 2*time.Second {
		t.Fatalf("connection closed after %v (%d bytes trickled), want about the 500ms header timeout", at, sent)
	}
	if bytes.Contains(got, []byte("200 OK")) || bytes.Contains(got, []byte("deadline hit")) {
		t.Fatalf("the trickling client got: %q", got)
	}
	t.Logf("trickling client cut off after %v, %d bytes trickled; it was sent %q", at.Round(time.Millisecond), sent, got)
}

// edgeRoundTrip writes raw on a new connection and reads one response.
func edgeRoundTrip(t *testing.T, addr, raw string) (*http.Response, []byte) {
	t.Helper()
	c := edgeDial(t, addr, 10*time.Second)
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatalf("write %d bytes: %v", len(raw), err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("read the response to %d bytes: %v", len(raw), err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// edgeHead builds a GET /healthz whose request line and headers (through
// the blank line) are exactly size bytes.
func edgeHead(size int) string {
	head := "GET /healthz HTTP/1.1\r\nHost: edge\r\nX-Pad: "
	tail := "\r\nConnection: close\r\n\r\n"
	return head + strings.Repeat("p", size-len(head)-len(tail)) + tail
}

// TestEdgeHeaderLimits: a request head over 32 KiB is refused with 431; a
// 16 KiB token and the usual headers fit.
func TestEdgeHeaderLimits(t *testing.T) {
	addr := edgeServe(t, nil).API

	resp, body := edgeRoundTrip(t, addr, edgeHead(32<<10))
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("a 32 KiB request head: %d %s, want 200", resp.StatusCode, body)
	}
	for _, size := range []int{32<<10 + 1, 40 << 10, 200 << 10} {
		resp, body := edgeRoundTrip(t, addr, edgeHead(size))
		if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
			t.Errorf("a %d-byte request head: %d %.100s, want 431", size, resp.StatusCode, body)
		}
	}
	// A 16 KiB bearer token (not a valid one) with browser-like headers is
	// read and judged: 401, not 431.
	raw := "GET /api/auth/me HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer " + strings.Repeat("x", 16<<10) +
		"\r\nUser-Agent: " + strings.Repeat("u", 300) + "\r\nCookie: " + strings.Repeat("c", 4<<10) +
		"\r\nAccept: application/json\r\nConnection: close\r\n\r\n"
	resp, body = edgeRoundTrip(t, addr, raw)
	if resp.StatusCode != http.StatusUnauthorized || edgeCode(t, body) != "UNAUTHORIZED" {
		t.Fatalf("a 16 KiB token: %d %s, want 401 UNAUTHORIZED", resp.StatusCode, body)
	}
}

// TestEdgeBodyLimit: a body over 1 MiB gets the 413 PAYLOAD_TOO_LARGE
// envelope, on a JSON route and on the webhook; exactly 1 MiB is read.
func TestEdgeBodyLimit(t *testing.T) {
	addr := edgeServe(t, map[string]string{"PLG_GATING": "false"}).API
	tok := edgeToken(t, "edge-body@example.com")
	client := &http.Client{Timeout: 10 * time.Second}
	post := func(path string, body []byte, header http.Header) (int, []byte) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, "http://"+addr+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		req.Header = header
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("POST %s with %d bytes: %v", path, len(body), err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.Header.Get("X-Request-ID") == "" {
			t.Errorf("POST %s: no X-Request-ID", path)
		}
		return resp.StatusCode, b
	}
	// {"name":"aaaa…"} of exactly n bytes.
	named := func(n int) []byte {
		return []byte(`{"name":"` + strings.Repeat("a", n-len(`{"name":""}`)) + `"}`)
	}
	jsonHeader := http.Header{"Authorization": {"Bearer " + tok}, "Content-Type": {"application/json"}}

	status, body := post("/api/workspaces", named(1<<20), jsonHeader)
	if status != http.StatusUnprocessableEntity || edgeCode(t, body) != "VALIDATION_ERROR" {
		t.Fatalf("exactly 1 MiB: %d %.200s, want it read (422 for a name that long)", status, body)
	}
	for _, n := range []int{1<<20 + 1, 1<<20 + 4096} {
		status, body := post("/api/workspaces", named(n), jsonHeader)
		if status != http.StatusRequestEntityTooLarge || edgeCode(t, body) != "PAYLOAD_TOO_LARGE" {
			t.Fatalf("%d bytes: %d %.200s, want 413 PAYLOAD_TOO_LARGE", n, status, body)
		}
	}
	// The webhook, which reads its raw body itself (no Content-Type needed).
	status, body = post("/api/webhooks/clerk", named(1<<20+1), http.Header{})
	if status != http.StatusRequestEntityTooLarge || edgeCode(t, body) != "PAYLOAD_TOO_LARGE" {
		t.Fatalf("webhook: %d %.200s, want 413 PAYLOAD_TOO_LARGE", status, body)
	}
	// Chunked, so the size is only known while reading.
	c := edgeDial(t, addr, 10*time.Second)
	payload := named(1<<20 + 10)
	var raw bytes.Buffer
	fmt.Fprintf(&raw, "POST /api/workspaces HTTP/1.1\r\nHost: edge\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n", tok)
	for chunk := payload; len(chunk) > 0; {
		n := min(len(chunk), 64<<10)
		fmt.Fprintf(&raw, "%x\r\n%s\r\n", n, chunk[:n])
		chunk = chunk[n:]
	}
	raw.WriteString("0\r\n\r\n")
	go func() { _, _ = c.Write(raw.Bytes()) }()
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("chunked: %v", err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || edgeCode(t, b) != "PAYLOAD_TOO_LARGE" {
		t.Fatalf("chunked: %d %.200s, want 413 PAYLOAD_TOO_LARGE", resp.StatusCode, b)
	}
}

// TestEdgeIdleKeepAlive: a kept-alive connection serves several requests,
// and is closed once idle for HTTP_IDLE_TIMEOUT.
func TestEdgeIdleKeepAlive(t *testing.T) {
	addr := edgeServe(t, map[string]string{"HTTP_IDLE_TIMEOUT": "400ms"}).API
	c := edgeDial(t, addr, 10*time.Second)
	br := bufio.NewReader(c)
	get := func() {
		t.Helper()
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: edge\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("keep-alive request: %v", err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || resp.Close {
			t.Fatalf("status %d, close %v", resp.StatusCode, resp.Close)
		}
	}
	get()
	time.Sleep(150 * time.Millisecond) // idle, but less than the timeout
	get()
	idleSince := time.Now()
	_, err := br.ReadByte()
	idle := time.Since(idleSince)
	var ne net.Error
	switch {
	case errors.As(err, &ne) && ne.Timeout():
		t.Fatalf("the idle connection was still open after %v", idle)
	case err == nil:
		t.Fatal("the server sent bytes on an idle connection")
	}
	if idle < 300*time.Millisecond || idle > 2*time.Second {
		t.Fatalf("idle connection closed after %v, want about HTTP_IDLE_TIMEOUT=400ms", idle)
	}
	t.Logf("idle connection closed after %v", idle.Round(time.Millisecond))
}

// edgeGet sends one GET with a token and headers.
func edgeGet(t *testing.T, addr, path, tok string, h http.Header) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+addr+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range h {
		req.Header[k] = vs
	}
	if tok != "" {
		req.Header.Set("Authorization", "Bearer "+tok)
	}
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

// TestEdgeMetricsListener: /metrics is served on METRICS_ADDR, with the
// pool of DB_MAX_CONNS and the token cache wired in, and never on the
// public port; an empty METRICS_ADDR opens no metrics listener.
func TestEdgeMetricsListener(t *testing.T) {
	t.Run("own listener", func(t *testing.T) {
		addrs := edgeServe(t, map[string]string{"DB_MAX_CONNS": "7"})
		if addrs.Metrics == "" || addrs.Metrics == addrs.API {
			t.Fatalf("metrics address %q (API %q)", addrs.Metrics, addrs.API)
		}
		tok := edgeToken(t, "edge-metrics@example.com")
		for i := 0; i < 2; i++ {
			if resp, b := edgeGet(t, addrs.API, "/api/auth/me", tok, nil); resp.StatusCode != http.StatusOK {
				t.Fatalf("GET /api/auth/me: %d %s", resp.StatusCode, b)
			}
		}
		resp, b := edgeGet(t, addrs.API, "/metrics", "", nil)
		if resp.StatusCode != http.StatusNotFound || edgeCode(t, b) != "NOT_FOUND" {
			t.Fatalf("/metrics on the public port: %d %s, want 404 NOT_FOUND", resp.StatusCode, b)
		}
		resp, b = edgeGet(t, addrs.Metrics, "/metrics", "", nil)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("/metrics on METRICS_ADDR: %d %s", resp.StatusCode, b)
		}
		text := string(b)
		for _, want := range []string{
			"praxiom_db_pool_max_conns 7\n",
			`praxiom_http_requests_total{method="GET",route="/api/auth/me",status="200"} 2` + "\n",
			`praxiom_token_cache_total{result="hit"} 1` + "\n",
			`praxiom_token_cache_total{result="miss"} 1` + "\n",
			"praxiom_http_request_duration_seconds_bucket{",
			"go_goroutines ",
		} {
			if !strings.Contains(text, want) {
				t.Errorf("/metrics lacks %q", want)
			}
		}
		// The refused public /metrics was counted as an unmatched route.
		if strings.Contains(text, `route="/metrics"`) {
			t.Errorf("/metrics is a route of the public router:\n%s", text)
		}
		// The metrics listener serves nothing else.
		if resp, _ := edgeGet(t, addrs.Metrics, "/healthz", "", nil); resp.StatusCode != http.StatusNotFound {
			t.Errorf("/healthz on METRICS_ADDR: %d, want 404", resp.StatusCode)
		}
	})
	t.Run("off", func(t *testing.T) {
		addrs := edgeServe(t, map[string]string{"METRICS_ADDR": ""})
		if addrs.Metrics != "" {
			t.Fatalf("a metrics listener on %s with METRICS_ADDR empty", addrs.Metrics)
		}
		resp, b := edgeGet(t, addrs.API, "/metrics", "", nil)
		if resp.StatusCode != http.StatusNotFound || edgeCode(t, b) != "NOT_FOUND" {
			t.Fatalf("/metrics with METRICS_ADDR empty: %d %s, want 404 NOT_FOUND", resp.StatusCode, b)
		}
		if resp, _ := edgeGet(t, addrs.API, "/healthz", "", nil); resp.StatusCode != http.StatusOK {
			t.Fatalf("/healthz: %d", resp.StatusCode)
		}
	})
}

// TestEdgeLimitsAndCORSFromEnvironment: the rate limits and CORS origins
// reach the server from the environment.
func TestEdgeLimitsAndCORSFromEnvironment(t *testing.T) {
	t.Run("configured", func(t *testing.T) {
		addr := edgeServe(t, map[string]string{"RATE_LIMIT_TRIAL": "3", "RATE_LIMIT_IP": "2",
			"CORS_ALLOWED_ORIGINS": "https://app.praxiom.ai, https://admin.praxiom.ai"}).API
		tok := edgeToken(t, "edge-limits@example.com")
		origin := http.Header{"Origin": {"https://admin.praxiom.ai"}}
		for i := 1; i <= 4; i++ {
			resp, b := edgeGet(t, addr, "/api/auth/me", tok, origin)
			want := http.StatusOK
			if i == 4 {
				want = http.StatusTooManyRequests
			}
			if resp.StatusCode != want || resp.Header.Get("X-RateLimit-Limit") != "3" {
				t.Fatalf("request %d: %d %v %s", i, resp.StatusCode, resp.Header, b)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != "https://admin.praxiom.ai" {
				t.Fatalf("request %d: Access-Control-Allow-Origin = %q", i, resp.Header.Get("Access-Control-Allow-Origin"))
			}
			if i == 4 && (edgeCode(t, b) != "RATE_LIMITED" || resp.Header.Get("Retry-After") == "") {
				t.Fatalf("over the limit: %v %s", resp.Header, b)
			}
		}
		for i := 1; i <= 3; i++ {
			resp, _ := edgeGet(t, addr, "/api/invitations/nope", "", nil)
			if want := map[bool]int{true: 404, false: 429}[i <= 2]; resp.StatusCode != want {
				t.Fatalf("look-up %d: %d, want %d", i, resp.StatusCode, want)
			}
		}
	})
	t.Run("off", func(t *testing.T) {
		addr := edgeServe(t, map[string]string{"RATE_LIMIT_ENABLED": "false"}).API
		tok := edgeToken(t, "edge-nolimits@example.com")
		for i := 0; i < 35; i++ {
			resp, b := edgeGet(t, addr, "/api/auth/me", tok, http.Header{"Origin": {"https://app.praxiom.ai"}})
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("request %d: %d %s", i+1, resp.StatusCode, b)
			}
			for k := range resp.Header {
				if strings.HasPrefix(k, "X-Ratelimit") || strings.HasPrefix(k, "Access-Control") {
					t.Fatalf("request %d carries %s", i+1, k)
				}
			}
		}
	})
}
