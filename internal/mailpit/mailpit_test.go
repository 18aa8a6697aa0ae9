package mailpit_test

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/mailer"
	"github.com/praxiom/praxiom-api/internal/mailpit"
)

// binary returns the pinned Mailpit, built by scripts/mailpit.sh into
// .data/bin (once; `make dev-smoke` has usually built it already).
func binary(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	cmd := exec.Command("bash", filepath.Join(root, "scripts", "mailpit.sh"))
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("scripts/mailpit.sh: %v", err)
	}
	return strings.TrimSpace(string(out))
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestMailpit: the launcher starts the pinned Mailpit on the ports asked
// for, an email sent to its SMTP port shows in its API, the messages
// survive a restart (its database is under Dir), and Stop ends it.
func TestMailpit(t *testing.T) {
	bin := binary(t)
	dir := t.TempDir()
	smtpPort, uiPort := freePort(t), freePort(t)
	start := func() *mailpit.Server {
		t.Helper()
		s, err := mailpit.Start(context.Background(), mailpit.Options{Binary: bin, Dir: dir, SMTPPort: smtpPort, UIPort: uiPort, Logf: t.Logf})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = s.Stop() })
		return s
	}
	s := start()
	m, err := mailer.New(mailer.Config{SMTPURL: s.SMTPURL, From: "Praxiom <no-reply@praxiom.localhost>", AppURL: "http://localhost:3000"})
	if err != nil {
		t.Fatal(err)
	}
	id := uuid.New()
	msg, err := m.Invitation(id, "bob@example.com", mailer.Invitation{Workspace: "Acme", Inviter: "Ada", Role: "member",
		ExpiresAt: time.Now().Add(time.Hour), Token: "tok"})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(context.Background(), msg); err != nil {
		t.Fatal(err)
	}
	type listing struct {
		Total    int `json:"total"`
		Messages []struct {
			MessageID string `json:"MessageID"`
			Subject   string `json:"Subject"`
		} `json:"messages"`
	}
	list := func() listing {
		t.Helper()
		resp, err := http.Get(s.UIURL + "/api/v1/messages")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var l listing
		if err := json.NewDecoder(resp.Body).Decode(&l); err != nil {
			t.Fatal(err)
		}
		return l
	}
	l := list()
	if l.Total != 1 || l.Messages[0].MessageID != id.String()+"@praxiom.localhost" || !strings.Contains(l.Messages[0].Subject, "Acme") {
		t.Fatalf("Mailpit holds %+v", l)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s.Done():
	default:
		t.Fatal("Mailpit still runs after Stop")
	}
	if c, err := net.DialTimeout("tcp", s.UIURL[len("http://"):], 200*time.Millisecond); err == nil {
		c.Close()
		t.Fatal("the web UI still answers after Stop")
	}
	s = start()
	if l := list(); l.Total != 1 {
		t.Errorf("after a restart Mailpit holds %d messages, want the 1 kept in its database", l.Total)
	}
}

// TestMailpitBadBinary: a binary that does not start is an error, not a
// hang.
func TestMailpitBadBinary(t *testing.T) {
	_, err := mailpit.Start(context.Background(), mailpit.Options{Binary: "/bin/false", Dir: t.TempDir(),
		SMTPPort: freePort(t), UIPort: freePort(t)})
	if err == nil || !strings.Contains(err.Error(), "exited") {
		t.Fatalf("Start with /bin/false: %v", err)
	}
	if _, err := mailpit.Start(context.Background(), mailpit.Options{Dir: t.TempDir()}); err == nil {
		t.Fatal("Start without a binary")
	}
}
