package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/app"
	"github.com/praxiom/praxiom-api/internal/devtoken"
	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/randcode"
	"github.com/praxiom/praxiom-api/internal/redistest"
	"github.com/praxiom/praxiom-api/migrations"
)

// lockedBuffer collects one instance's log lines (written from its goroutines).
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// emptyDatabase creates a database with nothing in it (no goose table, no
// schema) through the admin connection of TEST_DATABASE_URL/DATABASE_URL,
// drops it at cleanup and returns its URL.
func emptyDatabase(t *testing.T) string {
	t.Helper()
	base := pgtest.BaseURL(t)
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("DATABASE_URL is not a URL: %v", err)
	}
	name := "scale_" + strings.ToLower(randcode.String(12))
	adminURL := *u
	adminURL.Path = "/postgres"
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, adminURL.String())
	if err != nil {
		t.Fatalf("admin connection: %v", err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, adminURL.String())
		if err != nil {
			return
		}
		defer c.Close(ctx)
		_, _ = c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
	})
	dbURL := *u
	dbURL.Path = "/" + name
	return dbURL.String()
}

// migrationVersions lists the versions of the embedded migrations.
func migrationVersions(t *testing.T) []int64 {
	t.Helper()
	names, err := fs.Glob(migrations.FS, "*.sql")
	if err != nil || len(names) == 0 {
		t.Fatalf("no embedded migrations: %v", err)
	}
	var out []int64
	for _, n := range names {
		v, err := strconv.ParseInt(n[:strings.IndexByte(n, '_')], 10, 64)
		if err != nil {
			t.Fatalf("migration %s: %v", n, err)
		}
		out = append(out, v)
	}
	slices.Sort(out)
	return out
}

// appliedCounts returns the "count" of every "migrations applied" log line.
func appliedCounts(t *testing.T, logs string) []int {
	t.Helper()
	var out []int
	for _, line := range strings.Split(logs, "\n") {
		var rec struct {
			Msg   string `json:"msg"`
			Count int    `json:"count"`
		}
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Msg == "migrations applied" {
			out = append(out, rec.Count)
		}
	}
	return out
}

type answer struct {
	status int
	header http.Header
	body   []byte
}

// TestScaleOut runs two real instances (Serve on real TCP) against one
// fresh, empty database and one redis-server, started at the same moment:
// migrations are applied once, the rate-limit budget is shared, a webhook
// delivered to both instances is applied once (and the newer of two
// concurrent updates wins), and both shut down cleanly.
func TestScaleOut(t *testing.T) {
	began := time.Now()
	dbURL := emptyDatabase(t)
	rds := redistest.Start(t)
	key := apitest.Key(t)
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	secret := "whsec_" + base64.StdEncoding.EncodeToString(raw)
	const trialLimit = 20
	env := envOf(map[string]string{
		"DATABASE_URL": dbURL, "CLERK_JWT_KEY": key.PublicPEM(), "CLERK_WEBHOOK_SIGNING_SECRET": secret,
		"PORT": "0", "REDIS_URL": rds.URL, "RATE_LIMIT_TRIAL": strconv.Itoa(trialLimit),
		"PLG_GATING": "false", "SHUTDOWN_TIMEOUT": "5s", "LOG_LEVEL": "info", "METRICS_ADDR": "127.0.0.1:0",
	})

	// --- Start two instances at the same moment. -------------------------
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const n = 2
	var (
		barrier = make(chan struct{})
		ready   [n]chan app.Addrs
		done    [n]chan error
		logs    [n]*lockedBuffer
	)
	for i := range n {
		ready[i], done[i], logs[i] = make(chan app.Addrs, 1), make(chan error, 1), &lockedBuffer{}
		go func() {
			<-barrier
			done[i] <- app.Serve(ctx, env, logs[i], func(a app.Addrs) { ready[i] <- a })
		}()
	}
	startAt := time.Now()
	close(barrier)
	var base [n]string
	for i := range n {
		select {
		case a := <-ready[i]:
			base[i] = "http://127.0.0.1:" + a.API[strings.LastIndex(a.API, ":")+1:]
		case err := <-done[i]:
			t.Fatalf("instance %d ended before listening: %v\n%s", i, err, logs[i].String())
		case <-time.After(30 * time.Second):
			t.Fatalf("instance %d did not start\n%s", i, logs[i].String())
		}
	}
	t.Logf("both instances listening after %s: A=%s B=%s", time.Since(startAt).Round(time.Millisecond), base[0], base[1])
	stopped := false
	defer func() {
		if !stopped { // a failure above: stop the servers before the database is dropped
			cancel()
			for i := range n {
				select {
				case <-done[i]:
				case <-time.After(10 * time.Second):
				}
			}
		}
	}()

	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	defer client.CloseIdleConnections()
	do := func(t testing.TB, method, target string, body []byte, h http.Header) answer {
		t.Helper()
		var rd io.Reader
		if body != nil {
			rd = bytes.NewReader(body)
		}
		req, err := http.NewRequest(method, target, rd)
		if err != nil {
			t.Error(err)
			return answer{}
		}
		for k, vs := range h {
			req.Header[k] = vs
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", method, target, err)
			return answer{}
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return answer{resp.StatusCode, resp.Header, b}
	}

	db, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close(context.Background())

	// --- 1. Migrations applied once. -------------------------------------
	t.Run("migrations applied once", func(t *testing.T) {
		want := migrationVersions(t)
		rows, err := db.Query(context.Background(),
			`SELECT version_id, count(*) FROM goose_db_version WHERE version_id > 0 GROUP BY version_id ORDER BY version_id`)
		if err != nil {
			t.Fatal(err)
		}
		type vc struct{ V, C int64 }
		got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[vc])
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("goose_db_version lists %v, want versions %v once each", got, want)
		}
		for i, g := range got {
			if g.V != want[i] || g.C != 1 {
				t.Fatalf("goose_db_version lists %v, want versions %v once each", got, want)
			}
		}
		// The instance that won the advisory lock applied all of them; the
		// other found nothing left to do.
		// The log is buffered (LogWriter): its lines arrive within its
		// flush delay.
		var a, b []int
		for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
			if a, b = appliedCounts(t, logs[0].String()), appliedCounts(t, logs[1].String()); len(a) == 1 && len(b) == 1 {
				break
			}
		}
		if len(a) != 1 || len(b) != 1 || a[0]+b[0] != len(want) || min(a[0], b[0]) != 0 {
			t.Fatalf("migrations applied per instance: A=%v B=%v, want %d and 0", a, b, len(want))
		}
		t.Logf("migrations applied: A=%d B=%d; goose_db_version %v", a[0], b[0], got)
		for i := range n {
			if r := do(t, "GET", base[i]+"/readyz", nil, nil); r.status != http.StatusOK {
				t.Errorf("instance %d /readyz: %d %s", i, r.status, r.body)
			}
		}
	})

	// --- 2. One shared rate-limit budget. --------------------------------
	t.Run("shared rate limit", func(t *testing.T) {
		email := "rl-" + strings.ToLower(randcode.String(6)) + "@example.com"
		tok, err := key.Mint(devtoken.Options{Subject: devtoken.SubjectForEmail(email), Email: email, Name: "Rate Limited", TTL: time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		auth := http.Header{"Authorization": {"Bearer " + tok}}
		const total = 2*trialLimit + 4 // 2×20 would pass if each instance counted alone
		var statuses []int
		first := time.Now()
		for i := range total {
			r := do(t, "GET", base[i%n]+"/api/auth/me", nil, auth)
			statuses = append(statuses, r.status)
			switch {
			case i < trialLimit:
				if r.status != http.StatusOK {
					t.Fatalf("request %d (instance %d): %d %s", i+1, i%n, r.status, r.body)
				}
				// One budget: Remaining counts down across both instances.
				if rem := r.header.Get("X-RateLimit-Remaining"); rem != strconv.Itoa(trialLimit-1-i) {
					t.Errorf("request %d (instance %d): X-RateLimit-Remaining %q, want %d", i+1, i%n, rem, trialLimit-1-i)
				}
			default:
				if r.status != http.StatusTooManyRequests {
					t.Fatalf("request %d (instance %d): %d, want 429 once the shared budget of %d is spent (statuses %v)",
						i+1, i%n, r.status, trialLimit, statuses)
				}
				if ra, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || ra < 1 {
					t.Errorf("request %d: 429 without a usable Retry-After (%q)", i+1, r.header.Get("Retry-After"))
				}
				if !bytes.Contains(r.body, []byte(`"RATE_LIMITED"`)) {
					t.Errorf("request %d: 429 body %s", i+1, r.body)
				}
			}
		}
		// GCRA gives one request back every minute/limit (3 s here): the
		// count above is exact only if the burst took less than that.
		if el := time.Since(first); el >= time.Minute/trialLimit {
			t.Fatalf("the %d requests took %s, longer than one emission interval; the count is not conclusive", total, el)
		} else {
			t.Logf("%d requests alternating A/B in %s: %d×200 then %d×429", total, el.Round(time.Millisecond), trialLimit, total-trialLimit)
		}
	})

	// --- 3. Webhooks delivered to either instance applied once. ---------
	deliverBoth := func(t *testing.T, bodies [n][]byte, ids [n]string) [n]answer {
		t.Helper()
		var (
			wg    sync.WaitGroup
			out   [n]answer
			start = make(chan struct{})
		)
		for i := range n {
			h := apitest.SignedHeaders(t, secret, ids[i], time.Now(), bodies[i])
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				out[i] = do(t, "POST", base[i]+"/api/webhooks/clerk", bodies[i], h)
			}()
		}
		close(start)
		wg.Wait()
		return out
	}
	status := func(a answer) string {
		var s struct {
			Status string `json:"status"`
		}
		_ = json.Unmarshal(a.body, &s)
		return s.Status
	}

	t.Run("same delivery to both instances applied once", func(t *testing.T) {
		const rounds = 10
		tally := map[string]int{}
		for r := range rounds {
			clerkID := "user_scale_" + strings.ToLower(randcode.String(10))
			svixID := "msg_" + randcode.String(20)
			body := apitest.UserEvent("user.created", clerkID, clerkID+"@example.com", "Ada", "Lovelace", time.Now())
			got := deliverBoth(t, [n][]byte{body, body}, [n]string{svixID, svixID})
			var ss []string
			for i, a := range got {
				if a.status != http.StatusOK {
					t.Fatalf("round %d instance %d: %d %s", r, i, a.status, a.body)
				}
				ss = append(ss, status(a))
			}
			sorted := slices.Sorted(slices.Values(ss))
			if !slices.Equal(sorted, []string{"already_processed", "ok"}) {
				t.Fatalf("round %d: statuses A=%q B=%q, want one ok and one already_processed", r, ss[0], ss[1])
			}
			tally[fmt.Sprintf("A=%s B=%s", ss[0], ss[1])]++
			var users, events int
			if err := db.QueryRow(context.Background(), `SELECT
				(SELECT count(*) FROM users WHERE clerk_id = $1),
				(SELECT count(*) FROM webhook_events WHERE svix_id = $2)`, clerkID, svixID).Scan(&users, &events); err != nil {
				t.Fatal(err)
			}
			if users != 1 || events != 1 {
				t.Fatalf("round %d: %d user rows and %d webhook_events rows, want 1 and 1", r, users, events)
			}
		}
		t.Logf("%d rounds: %v", rounds, tally)
	})

	t.Run("newer update wins across instances", func(t *testing.T) {
		const rounds = 5
		tally := map[string]int{}
		for r := range rounds {
			clerkID := "user_scale_" + strings.ToLower(randcode.String(10))
			t0 := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
			created := apitest.UserEvent("user.created", clerkID, clerkID+"@example.com", "First", "Version", t0)
			if a := do(t, "POST", base[r%n]+"/api/webhooks/clerk", created,
				apitest.SignedHeaders(t, secret, "msg_"+randcode.String(20), time.Now(), created)); status(a) != "ok" {
				t.Fatalf("round %d: user.created: %d %s", r, a.status, a.body)
			}
			newer := apitest.UserEvent("user.updated", clerkID, "newer-"+clerkID+"@example.com", "Newer", "Data", t0.Add(2*time.Second))
			older := apitest.UserEvent("user.updated", clerkID, "older-"+clerkID+"@example.com", "Older", "Data", t0.Add(time.Second))
			got := deliverBoth(t, [n][]byte{newer, older}, [n]string{"msg_" + randcode.String(20), "msg_" + randcode.String(20)})
			if got[0].status != http.StatusOK || status(got[0]) != "ok" {
				t.Fatalf("round %d: newer update on A: %d %s", r, got[0].status, got[0].body)
			}
			// The older one is applied when it wins the race (then overwritten)
			// and ignored when it loses.
			if s := status(got[1]); got[1].status != http.StatusOK || (s != "ok" && s != "ignored") {
				t.Fatalf("round %d: older update on B: %d %s", r, got[1].status, got[1].body)
			}
			tally["older on B: "+status(got[1])]++
			var name, email string
			var updated time.Time
			if err := db.QueryRow(context.Background(),
				`SELECT name, email, clerk_updated_at FROM users WHERE clerk_id = $1`, clerkID).Scan(&name, &email, &updated); err != nil {
				t.Fatal(err)
			}
			if name != "Newer Data" || email != "newer-"+clerkID+"@example.com" || !updated.Equal(t0.Add(2*time.Second)) {
				t.Fatalf("round %d: stored %q %q %s, want the newer update", r, name, email, updated)
			}
		}
		t.Logf("%d rounds: %v", rounds, tally)
	})

	// --- 4. Both shut down cleanly. ---------------------------------------
	client.CloseIdleConnections()
	cancel()
	stopped = true
	for i := range n {
		select {
		case err := <-done[i]:
			if err != nil {
				t.Errorf("instance %d: Serve returned %v, want nil after cancellation", i, err)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("instance %d did not stop", i)
		}
		if !strings.Contains(logs[i].String(), `"msg":"stopped"`) {
			t.Errorf("instance %d did not log stopped", i)
		}
		if strings.Contains(logs[i].String(), `"level":"ERROR"`) {
			t.Errorf("instance %d logged an error:\n%s", i, logs[i].String())
		}
	}
	t.Logf("total %s", time.Since(began).Round(time.Millisecond))
}
