// Package mailer composes the service's emails (a plain-text and an HTML
// part from text/template and html/template, with a Message-ID fixed by the
// email's id) and sends them over SMTP with go-mail: STARTTLS whenever the
// server offers it (smtp://), implicit TLS for smtps://, authentication from
// the URL's user and password.
package mailer

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/mail"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	gomail "github.com/wneessen/go-mail"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
)

// Config is what the mailer is built from (README, "Email").
type Config struct {
	// SMTPURL is smtp://[user:password@]host[:port] (STARTTLS when offered,
	// port 587 by default) or smtps://… (implicit TLS, port 465 by default).
	SMTPURL string
	// From is MAIL_FROM, an address with an optional display name.
	From string
	// AppURL is the web app's base URL, for links (no trailing slash).
	AppURL string
	// Timeout bounds one SMTP conversation (30s when zero).
	Timeout time.Duration
	// TLSConfig, when set, replaces the TLS client configuration (tests
	// trust their own certificate authority with it).
	TLSConfig *tls.Config
}

// Mailer composes and sends emails. It is safe for concurrent use: each
// Send holds its own SMTP conversation.
type Mailer struct {
	host     string
	port     int
	implicit bool
	user     string
	password string
	hasAuth  bool
	from     *mail.Address
	domain   string
	appURL   string
	timeout  time.Duration
	tls      *tls.Config
}

// ParseSMTPURL checks an SMTP_URL and returns its host, port and whether it
// asks for implicit TLS. The error is a phrase naming what is wrong.
func ParseSMTPURL(raw string) (host string, port int, implicit bool, err error) {
	u, err := url.Parse(raw)
	if err != nil {
		return "", 0, false, errors.New("is not a URL")
	}
	switch u.Scheme {
	case "smtp":
		port = 587
	case "smtps":
		implicit, port = true, 465
	default:
		return "", 0, false, errors.New("must be an smtp:// or smtps:// URL")
	}
	host = u.Hostname()
	if host == "" {
		return "", 0, false, errors.New("must name a host")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return "", 0, false, errors.New("must have a port from 1 to 65535")
		}
		port = n
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", 0, false, errors.New("must not have a path, query or fragment")
	}
	return host, port, implicit, nil
}

// ParseFrom checks a MAIL_FROM: one address, with an optional display name,
// and nothing that could break a header.
func ParseFrom(raw string) (*mail.Address, error) {
	if strings.ContainsAny(raw, "\r\n\x00") {
		return nil, errors.New("must be on one line")
	}
	a, err := mail.ParseAddress(raw)
	if err != nil || !strings.Contains(a.Address, "@") {
		return nil, errors.New("must be an address such as Praxiom <no-reply@example.com>")
	}
	return a, nil
}

// New checks c and returns a mailer. It does not connect.
func New(c Config) (*Mailer, error) {
	host, port, implicit, err := ParseSMTPURL(c.SMTPURL)
	if err != nil {
		return nil, fmt.Errorf("mailer: SMTP_URL %w", err)
	}
	from, err := ParseFrom(c.From)
	if err != nil {
		return nil, fmt.Errorf("mailer: MAIL_FROM %w", err)
	}
	u, _ := url.Parse(c.SMTPURL)
	m := &Mailer{host: host, port: port, implicit: implicit, from: from,
		domain: from.Address[strings.LastIndexByte(from.Address, '@')+1:],
		appURL: strings.TrimRight(c.AppURL, "/"), timeout: c.Timeout, tls: c.TLSConfig}
	if u.User != nil {
		m.user = u.User.Username()
		m.password, _ = u.User.Password()
		m.hasAuth = true
	}
	if m.timeout <= 0 {
		m.timeout = 30 * time.Second
	}
	return m, nil
}

// Message is one composed email.
type Message struct {
	// MessageID is the Message-ID without angle brackets; it is fixed by the
	// email's id, so a repeated send carries the same one.
	MessageID string
	To        string
	Subject   string
	Text      string
	HTML      string
}

// MessageID is the Message-ID of email id: the id at MAIL_FROM's domain.
func (m *Mailer) MessageID(id uuid.UUID) string { return id.String() + "@" + m.domain }

// Send sends msg in one SMTP conversation. A server that offers STARTTLS
// gets it (smtp://); smtps:// speaks TLS from the start; with a user in the
// URL the client authenticates with the best mechanism the server offers.
// The error carries the server's answer, never the password.
func (m *Mailer) Send(ctx context.Context, msg Message) error {
	g := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	g.FromMailAddress(m.from)
	if err := g.To(msg.To); err != nil {
		return fmt.Errorf("mailer: recipient: %w", err)
	}
	g.Subject(headerSafe(msg.Subject))
	g.SetMessageIDWithValue(msg.MessageID)
	g.SetDate()
	g.SetBodyString(gomail.TypeTextPlain, msg.Text)
	g.AddAlternativeString(gomail.TypeTextHTML, msg.HTML)

	opts := []gomail.Option{gomail.WithPort(m.port), gomail.WithTimeout(m.timeout)}
	if m.implicit {
		opts = append(opts, gomail.WithSSL())
	} else {
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSOpportunistic))
	}
	if m.tls != nil {
		opts = append(opts, gomail.WithTLSConfig(m.tls))
	}
	if m.hasAuth {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(m.user), gomail.WithPassword(m.password))
	}
	c, err := gomail.NewClient(m.host, opts...)
	if err != nil {
		return fmt.Errorf("mailer: client: %w", err)
	}
	// A child of the caller's span, by the caller's provider (no-op when
	// the caller is not traced). Never the recipient, subject or user; nor
	// the error text, since SMTP replies often quote the recipient.
	ctx, span := trace.SpanFromContext(ctx).TracerProvider().Tracer("github.com/praxiom/praxiom-api/internal/mailer").
		Start(ctx, "SMTP send", trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
			attribute.String("server.address", m.host), attribute.Int("server.port", m.port)))
	defer span.End()
	if err := c.DialAndSendWithContext(ctx, g); err != nil {
		span.SetStatus(codes.Error, "SMTP send failed")
		return fmt.Errorf("mailer: send: %w", err)
	}
	return nil
}

// headerSafe makes s fit for one header line: every control character
// (CR and LF included) and line or paragraph separator becomes a space, and
// runs of spaces become one.
func headerSafe(s string) string {
	f := strings.FieldsFunc(s, func(r rune) bool {
		return r < 0x20 || r == 0x7f || r == ' ' || r == '\u0085' || r == '\u2028' || r == '\u2029'
	})
	return strings.Join(f, " ")
}
