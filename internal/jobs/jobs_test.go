package jobs_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	neturl "net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/config"
	"github.com/praxiom/praxiom-api/internal/jobs"
	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// TestPrunePeriodically: the periodic job (run at start, then every
// PruneInterval, by River's leader) deletes the webhook de-duplication
// records, audit events, idempotency keys and revoked or expired API keys
// past their retention and keeps the others.
func TestPrunePeriodically(t *testing.T) {
	ctx := context.Background()
	st, _ := pgtest.NewStore(t, store.Options{})
	exec := func(q string) {
		t.Helper()
		if _, err := st.Pool().Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	exec(`INSERT INTO webhook_events (svix_id, event_type, processed_at) VALUES
		('msg_old', 'user.created', now() - interval '8 days'), ('msg_new', 'user.created', now() - interval '6 days')`)
	exec(`INSERT INTO audit_events (action, actor_type, target_type, target_id, created_at) VALUES
		('user.suspended', 'cli', 'user', 'old', now() - interval '31 days'),
		('user.suspended', 'cli', 'user', 'new', now() - interval '29 days')`)
	exec(`INSERT INTO idempotency_keys (principal, key, method, path, body_sha256, created_at) VALUES
		('user:x', 'old', 'POST', '/api/workspaces', sha256(''::bytea), now() - interval '25 hours'),
		('user:x', 'new', 'POST', '/api/workspaces', sha256(''::bytea), now() - interval '23 hours')`)
	exec(`INSERT INTO users (id, clerk_id, email, referral_code) VALUES
		('00000000-0000-0000-0000-0000000000a1', 'user_prune', 'prune@example.com', 'PRVNEKEY')`)
	exec(`INSERT INTO workspaces (id, name) VALUES ('00000000-0000-0000-0000-0000000000b1', 'Prune')`)
	exec(`INSERT INTO api_keys (workspace_id, name, prefix, key_hash, role, revoked_at, expires_at)
		SELECT '00000000-0000-0000-0000-0000000000b1', k, 'pxm_' || lpad(i::text, 8, '0'), sha256(k::bytea), 'member', r, e
		FROM (VALUES (1, 'revoked-old', now() - interval '31 days', NULL::timestamptz),
		             (2, 'expired-old', NULL, now() - interval '31 days'),
		             (3, 'revoked-new', now() - interval '29 days', NULL),
		             (4, 'expired-new', NULL, now() - interval '29 days'),
		             (5, 'live', NULL, now() + interval '1 day')) AS v(i, k, r, e)`)
	c := apitest.TestJobs
	c.WebhookRetention = 7 * 24 * time.Hour
	c.AuditRetention = 30 * 24 * time.Hour
	c.PruneInterval = 300 * time.Millisecond
	stop, err := jobs.Start(ctx, st, c)
	if err != nil {
		t.Fatal(err)
	}
	defer stop(ctx) //nolint:errcheck
	count := func(id string) int {
		var n int
		if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM webhook_events WHERE svix_id = $1`, id).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	apitest.WaitFor(t, 10*time.Second, func() bool { return count("msg_old") == 0 })
	// API keys are the run's last prune: once they are done, so is the rest.
	apitest.WaitFor(t, 10*time.Second, func() bool {
		var n int
		if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM api_keys WHERE name IN ('revoked-old', 'expired-old')`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n == 0
	})
	if count("msg_new") != 1 {
		t.Fatal("a record within the retention was pruned")
	}
	var left string
	if err := st.Pool().QueryRow(ctx, `SELECT (SELECT string_agg(target_id, ',') FROM audit_events) || '/' ||
		(SELECT string_agg(key, ',') FROM idempotency_keys)`).Scan(&left); err != nil || left != "new/new" {
		t.Fatalf("after pruning: %q %v; want only the audit event and the key within their retention", left, err)
	}
	if err := st.Pool().QueryRow(ctx, `SELECT string_agg(name, ',' ORDER BY name) FROM api_keys`).Scan(&left); err != nil ||
		left != "expired-new,live,revoked-new" {
		t.Fatalf("API keys after pruning: %q %v; want those revoked or expired within 30 days, and the live one", left, err)
	}
	// And again on the next period.
	exec(`INSERT INTO webhook_events (svix_id, event_type, processed_at) VALUES ('msg_later', 'user.created', now() - interval '9 days')`)
	apitest.WaitFor(t, 10*time.Second, func() bool { return count("msg_later") == 0 })
	// Finished runs stay in the queue's table for a while (River's job
	// retention), completed.
	apitest.WaitFor(t, 5*time.Second, func() bool {
		var runs int
		if err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'prune' AND state = 'completed'`).Scan(&runs); err != nil {
			t.Fatal(err)
		}
		return runs >= 2
	})
}

// TestStartWhileDatabaseDown: the queue starts in the background once the
// database answers, so the server may start while it is down; stopping
// before that returns at once.
func TestStartWhileDatabaseDown(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, "postgres://nobody@127.0.0.1:1/none?connect_timeout=1", store.Options{ConnectTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var buf syncBuffer
	c := apitest.TestJobs
	c.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
	stop, err := jobs.Start(ctx, st, c)
	if err != nil {
		t.Fatalf("start with the database down: %v", err)
	}
	apitest.WaitFor(t, 5*time.Second, func() bool { return strings.Contains(buf.String(), "job queue did not start; retrying") })
	began := time.Now()
	if err := stop(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(began); d > time.Second {
		t.Errorf("stop took %s", d)
	}
}

// TestStartsOnceTheDatabaseAnswers: started while the database does not
// answer, the queue retries and starts as soon as it does, and then works
// (the periodic pruning runs).
func TestStartsOnceTheDatabaseAnswers(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	target := u.Host
	// A port where nothing listens yet; later a forwarder to the database.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	u.Host = addr
	st, err := store.Open(ctx, u.String(), store.Options{ConnectTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if _, err := st.Pool().Exec(ctx, `SELECT 1`); err == nil {
		t.Fatal("the database answered before the forwarder started")
	}
	var buf syncBuffer
	c := apitest.TestJobs
	c.Logger = slog.New(slog.NewJSONHandler(&buf, nil))
	c.PruneInterval = time.Hour
	stop, err := jobs.Start(ctx, st, c)
	if err != nil {
		t.Fatal(err)
	}
	defer stop(ctx) //nolint:errcheck
	apitest.WaitFor(t, 5*time.Second, func() bool { return strings.Contains(buf.String(), "job queue did not start; retrying") })

	fwd, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer fwd.Close()
	go func() {
		for {
			in, err := fwd.Accept()
			if err != nil {
				return
			}
			out, err := net.Dial("tcp", target)
			if err != nil {
				in.Close()
				continue
			}
			go func() { _, _ = io.Copy(out, in); out.Close() }()
			go func() { _, _ = io.Copy(in, out); in.Close() }()
		}
	}()
	// The periodic job runs at start: proof that River started and works.
	apitest.WaitFor(t, 40*time.Second, func() bool {
		var n int
		err := st.Pool().QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'prune' AND state = 'completed'`).Scan(&n)
		return err == nil && n > 0
	})
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// TestNewMailer: without SMTP_URL email is off (no mailer, no outbox) and
// a production start-up warns; with it, a mailer and an outbox.
func TestNewMailer(t *testing.T) {
	for _, env := range []string{"development", "production"} {
		var buf syncBuffer
		log := slog.New(slog.NewJSONHandler(&buf, nil))
		m, err := jobs.NewMailer(config.Config{AppEnv: env, AppURL: config.DefaultAppURL}, log)
		if err != nil || m != nil || jobs.OutboxFor(m) != nil {
			t.Fatalf("%s without SMTP_URL: %v %v", env, m, err)
		}
		if warned := strings.Contains(buf.String(), "SMTP_URL is not set"); warned != (env == "production") {
			t.Errorf("%s: warned %v: %s", env, warned, buf.String())
		}
	}
	m, err := jobs.NewMailer(config.Config{SMTPURL: "smtp://127.0.0.1:1025", MailFrom: "a@b.co", AppURL: config.DefaultAppURL}, slog.Default())
	if err != nil || m == nil || jobs.OutboxFor(m) == nil {
		t.Fatalf("with SMTP_URL: %v %v", m, err)
	}
}
