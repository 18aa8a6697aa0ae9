package mailer_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/mailer"
	"github.com/praxiom/praxiom-api/internal/smtptest"
)

func newMailer(t *testing.T, srv *smtptest.Server, smtpURL string) *mailer.Mailer {
	t.Helper()
	m, err := mailer.New(mailer.Config{SMTPURL: smtpURL, From: "Praxiom <no-reply@praxiom.test>",
		AppURL: "https://app.example.com/", TLSConfig: srv.ClientTLS(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func invitation(t *testing.T, m *mailer.Mailer, id uuid.UUID) mailer.Message {
	t.Helper()
	msg, err := m.Invitation(id, "bob@example.com", mailer.Invitation{Workspace: "Acme", Inviter: "Ada", Role: "member",
		ExpiresAt: time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC), Token: "tok_en-123"})
	if err != nil {
		t.Fatal(err)
	}
	return msg
}

// TestSendTLS: STARTTLS whenever the server offers it, plain SMTP when it
// does not (smtp://), TLS from the first byte for smtps://.
func TestSendTLS(t *testing.T) {
	for _, tc := range []struct {
		name    string
		opts    smtptest.Options
		wantTLS bool
	}{
		{"STARTTLS offered", smtptest.Options{TLS: true}, true},
		{"no STARTTLS", smtptest.Options{}, false},
		{"implicit TLS", smtptest.Options{Implicit: true}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := smtptest.Start(t, tc.opts)
			m := newMailer(t, srv, srv.URL)
			id := uuid.New()
			if err := m.Send(context.Background(), invitation(t, m, id)); err != nil {
				t.Fatal(err)
			}
			got := srv.Wait(1, 5*time.Second)[0]
			if got.TLS != tc.wantTLS {
				t.Errorf("TLS = %v, want %v", got.TLS, tc.wantTLS)
			}
			if got.MessageID != id.String()+"@praxiom.test" || got.From != "no-reply@praxiom.test" {
				t.Errorf("Message-ID %q, from %q", got.MessageID, got.From)
			}
			if from := got.Header.Get("From"); from != `"Praxiom" <no-reply@praxiom.test>` && from != "Praxiom <no-reply@praxiom.test>" {
				t.Errorf("From: %q", from)
			}
		})
	}
}

// TestSendAuth: the URL's user and password authenticate (over TLS); a
// wrong password fails without the password in the error.
func TestSendAuth(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{TLS: true, User: "apikey", Password: "s3cr3t-Pa55"})
	u := "smtp://apikey:" + url.QueryEscape("s3cr3t-Pa55") + "@" + srv.Addr
	m := newMailer(t, srv, u)
	if err := m.Send(context.Background(), invitation(t, m, uuid.New())); err != nil {
		t.Fatal(err)
	}
	if got := srv.Wait(1, 5*time.Second)[0]; got.User != "apikey" || !got.TLS {
		t.Errorf("authenticated as %q, TLS %v", got.User, got.TLS)
	}
	bad := newMailer(t, srv, "smtp://apikey:wrong-Pa55word@"+srv.Addr)
	err := bad.Send(context.Background(), invitation(t, bad, uuid.New()))
	if err == nil {
		t.Fatal("a wrong password was accepted")
	}
	if strings.Contains(err.Error(), "wrong-Pa55word") {
		t.Errorf("the error shows the password: %v", err)
	}
	// Without a user the server's demand for AUTH refuses the mail.
	anon := newMailer(t, srv, srv.URL)
	if err := anon.Send(context.Background(), invitation(t, anon, uuid.New())); err == nil {
		t.Error("sent without authenticating")
	}
}

// TestSendRefusedAndGone: a 5xx answer and a server that is not there are
// errors (the worker retries them).
func TestSendRefusedAndGone(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	m := newMailer(t, srv, srv.URL)
	srv.Refuse(554)
	err := m.Send(context.Background(), invitation(t, m, uuid.New()))
	if err == nil || !strings.Contains(err.Error(), "554") {
		t.Errorf("refused: %v", err)
	}
	srv.Stop()
	if err := m.Send(context.Background(), invitation(t, m, uuid.New())); err == nil {
		t.Error("sent to a server that is gone")
	}
}

// TestCompose: links from APP_URL, the role and expiry in words, the
// subject on one line whatever the workspace is called.
func TestCompose(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	m := newMailer(t, srv, srv.URL)
	msg, err := m.Invitation(uuid.New(), "bob@example.com", mailer.Invitation{Workspace: "Acme\r\n\tBcc: x@example.com\u2028",
		Inviter: "", Role: "admin", ExpiresAt: time.Date(2030, 1, 2, 3, 4, 0, 0, time.UTC), Token: "abc_DEF-123"})
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "You're invited to join Acme Bcc: x@example.com on Praxiom" {
		t.Errorf("subject %q", msg.Subject)
	}
	for _, want := range []string{"https://app.example.com/workspace-invite/abc_DEF-123", "as an admin", "Someone",
		"Wednesday, 2 January 2030 at 03:04 UTC"} {
		if !strings.Contains(msg.Text, want) || !strings.Contains(msg.HTML, want) {
			t.Errorf("message lacks %q:\n%s\n%s", want, msg.Text, msg.HTML)
		}
	}
	a, err := m.WaitlistApproval(uuid.New(), "ann@example.com", mailer.Approval{Code: "PRAXIOM-ABC234"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(a.Text, "https://app.example.com/redeem?code=PRAXIOM-ABC234") || !strings.HasPrefix(a.Text, "Hello,") {
		t.Errorf("approval text:\n%s", a.Text)
	}
}

func TestParseSMTPURL(t *testing.T) {
	for _, tc := range []struct {
		in       string
		host     string
		port     int
		implicit bool
		bad      bool
	}{
		{"smtp://mail.example.com", "mail.example.com", 587, false, false},
		{"smtp://u:p@mail.example.com:2525", "mail.example.com", 2525, false, false},
		{"smtps://mail.example.com", "mail.example.com", 465, true, false},
		{"smtp://127.0.0.1:1025/", "127.0.0.1", 1025, false, false},
		{"http://mail.example.com", "", 0, false, true},
		{"smtp://", "", 0, false, true},
		{"smtp://mail.example.com:0", "", 0, false, true},
		{"smtp://mail.example.com:99999", "", 0, false, true},
		{"smtp://mail.example.com/path", "", 0, false, true},
		{"smtp://mail.example.com?x=1", "", 0, false, true},
		{"mail.example.com:25", "", 0, false, true},
	} {
		host, port, implicit, err := mailer.ParseSMTPURL(tc.in)
		if (err != nil) != tc.bad || (!tc.bad && (host != tc.host || port != tc.port || implicit != tc.implicit)) {
			t.Errorf("%q: %q %d %v %v", tc.in, host, port, implicit, err)
		}
	}
}

func TestParseFrom(t *testing.T) {
	for in, ok := range map[string]bool{
		"Praxiom <no-reply@praxiomai.xyz>":     true,
		"no-reply@praxiomai.xyz":               true,
		"Praxiom":                              false,
		"Praxiom <no-reply@x.y>\r\nBcc: a@b.c": false,
		"":                                     false,
	} {
		if _, err := mailer.ParseFrom(in); (err == nil) != ok {
			t.Errorf("%q: %v", in, err)
		}
	}
}
