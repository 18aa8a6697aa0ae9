package jobs_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/jobs"
	"github.com/praxiom/praxiom-api/internal/mailer"
	"github.com/praxiom/praxiom-api/internal/pgtest"
	"github.com/praxiom/praxiom-api/internal/smtptest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// childEnv makes the test binary run as a worker process (workerMain)
// instead of running tests: a real process the test can SIGKILL.
const childEnv = "PRAXIOM_JOBS_TEST_WORKER"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) != "" {
		os.Exit(workerMain())
	}
	os.Exit(m.Run())
}

// workerMain runs the job queue as the server does (jobs.Start with a
// mailer) against DATABASE_URL and SMTP_URL until it is killed.
func workerMain() int {
	ctx := context.Background()
	log := slog.New(slog.NewJSONHandler(os.Stderr, nil))
	st, err := store.Open(ctx, os.Getenv("DATABASE_URL"), store.Options{})
	if err != nil {
		log.Error("store", "error", err.Error())
		return 1
	}
	m, err := mailer.New(mailer.Config{SMTPURL: os.Getenv("SMTP_URL"), From: apitest.TestMailFrom, AppURL: apitest.TestAppURL})
	if err != nil {
		log.Error("mailer", "error", err.Error())
		return 1
	}
	c := apitest.TestJobs
	c.Mailer, c.Logger = m, log
	if _, err := jobs.Start(ctx, st, c); err != nil {
		log.Error("jobs", "error", err.Error())
		return 1
	}
	fmt.Println("worker ready")
	select {}
}

// TestEmailCrashBetweenSendAndRecord kills a worker process (SIGKILL) from
// the SMTP server's DATA handler: the server has the message, the worker
// never recorded it. Another instance then sends it again — one duplicate,
// with the same Message-ID — and records it: never a loss.
func TestEmailCrashBetweenSendAndRecord(t *testing.T) {
	ctx := context.Background()
	url := pgtest.NewDatabase(t)
	st, err := store.Open(ctx, url, store.Options{Outbox: jobs.NewOutbox()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st.Close)
	owner := apitest.NewUser(t, st, "ada@example.com", store.NewUserPolicy{Active: true})
	ws := apitest.InsertWorkspace(t, st, "Acme", owner.ID)

	var (
		worker   atomic.Pointer[exec.Cmd]
		killOnce sync.Once
		killed   = make(chan time.Time, 1)
	)
	srv := smtptest.Start(t, smtptest.Options{OnData: func(smtptest.Message) error {
		killOnce.Do(func() {
			// The whole message is in; the worker waits for our answer.
			w := worker.Load()
			_ = w.Process.Signal(syscall.SIGKILL)
			_ = w.Wait()
			killed <- time.Now()
		})
		return nil // recorded as accepted; the dead worker never hears it
	}})

	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"=1", "DATABASE_URL="+url, "SMTP_URL="+srv.URL)
	var logs strings.Builder
	var logMu sync.Mutex
	stderr, _ := cmd.StderrPipe()
	stdout, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	worker.Store(cmd)
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	go func() {
		_, _ = io.Copy(writerFunc(func(p []byte) (int, error) {
			logMu.Lock()
			defer logMu.Unlock()
			return logs.Write(p)
		}), stderr)
	}()
	ready := make(chan struct{})
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if sc.Text() == "worker ready" {
				close(ready)
			}
		}
	}()
	select {
	case <-ready:
	case <-time.After(20 * time.Second):
		t.Fatal("the worker process did not start")
	}

	inv, err := st.CreateInvitation(ctx, store.UserActor(owner), ws, store.NewInvitation{Email: "bob@example.com", Role: store.RoleMember})
	if err != nil {
		t.Fatal(err)
	}
	var at time.Time
	select {
	case at = <-killed:
	case <-time.After(20 * time.Second):
		logMu.Lock()
		defer logMu.Unlock()
		t.Fatalf("the worker never reached DATA\n%s", logs.String())
	}
	var emailID, status string
	if err := st.Pool().QueryRow(ctx, `SELECT e.id::text, e.status FROM emails e JOIN invitations i ON i.email_id = e.id
		WHERE i.id = $1`, inv.ID).Scan(&emailID, &status); err != nil {
		t.Fatal(err)
	}
	if status != store.EmailQueued {
		t.Fatalf("after the crash the email is %q, want still queued (sent but not recorded)", status)
	}
	if n := len(srv.Messages()); n != 1 {
		t.Fatalf("%d messages at the crash, want 1", n)
	}

	// Another instance takes over: once the dead worker's job is overdue
	// it is rescued and sent again.
	st2, err := store.Open(ctx, url, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(st2.Close)
	m, err := mailer.New(mailer.Config{SMTPURL: srv.URL, From: apitest.TestMailFrom, AppURL: apitest.TestAppURL})
	if err != nil {
		t.Fatal(err)
	}
	c := apitest.TestJobs
	c.Mailer, c.JobTimeout, c.RescueAfter = m, 2*time.Second, 3*time.Second
	stop, err := jobs.Start(ctx, st2, c)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = stop(ctx) })
	msgs := srv.Wait(2, 50*time.Second)
	t.Logf("worker killed in DATA; the other instance delivered the email again %s later",
		msgs[1].At.Sub(at).Round(100*time.Millisecond))
	if msgs[0].MessageID != msgs[1].MessageID || msgs[0].MessageID != emailID+"@praxiom.test" {
		t.Errorf("Message-IDs %q and %q, want both %s@praxiom.test", msgs[0].MessageID, msgs[1].MessageID, emailID)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if err := st.Pool().QueryRow(ctx, `SELECT status FROM emails WHERE id = $1`, emailID).Scan(&status); err != nil {
			t.Fatal(err)
		}
		if status == store.EmailSent || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if status != store.EmailSent {
		t.Errorf("email %q after the redelivery, want sent", status)
	}
	time.Sleep(time.Second)
	if n := len(srv.Messages()); n != 2 {
		t.Errorf("%d messages, want exactly 2 (one duplicate)", n)
	}
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
