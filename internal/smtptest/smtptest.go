// Package smtptest runs a real SMTP server in-process for tests, built on
// go-smtp: the service's mailer holds a real SMTP conversation with it. It
// records every message it accepts (decoded: headers, subject, the plain
// text and HTML parts), and can refuse (a 4xx or 5xx answer), disappear
// (close its listener and every connection) and come back on the same port.
// It can offer STARTTLS, speak implicit TLS and require AUTH PLAIN.
package smtptest

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math/big"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Options configure a Server.
type Options struct {
	// TLS offers STARTTLS (or, with Implicit, speaks TLS from the first
	// byte, as smtps:// expects) with a self-signed certificate for
	// 127.0.0.1; ClientTLS trusts it.
	TLS      bool
	Implicit bool
	// User and Password, when User is set, require AUTH PLAIN with them.
	User, Password string
	// OnData, when set, runs for each message once it has been read, before
	// the server answers the DATA command; an error is the answer.
	OnData func(Message) error
}

// Message is a message the server accepted (or was answering when OnData
// ran).
type Message struct {
	From    string
	To      []string
	Raw     []byte
	Header  mail.Header
	Subject string // decoded (RFC 2047)
	// MessageID is the Message-ID without its angle brackets.
	MessageID string
	Text      string // the text/plain part, decoded
	HTML      string // the text/html part, decoded
	// TLS: the conversation was encrypted; User: who authenticated.
	TLS  bool
	User string
	At   time.Time
}

// Server is a running SMTP server on 127.0.0.1.
type Server struct {
	// Addr is host:port; URL is smtp://Addr (smtps:// with Implicit).
	Addr, URL string

	tb      testing.TB
	opts    Options
	tlsConf *tls.Config
	pool    *x509.CertPool

	mu       sync.Mutex
	srv      *smtp.Server
	msgs     []Message
	refuse   *smtp.SMTPError
	arrivals chan struct{}
	sessions int
}

// Start starts a server on a free port; it stops at the end of the test.
func Start(tb testing.TB, o Options) *Server {
	tb.Helper()
	s := &Server{tb: tb, opts: o, arrivals: make(chan struct{}, 1024)}
	if o.TLS || o.Implicit {
		s.tlsConf, s.pool = selfSigned(tb)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("smtptest: listen: %v", err)
	}
	s.Addr = ln.Addr().String()
	s.URL = "smtp://" + s.Addr
	if o.Implicit {
		s.URL = "smtps://" + s.Addr
	}
	s.serve(ln)
	tb.Cleanup(s.Stop)
	return s
}

// ClientTLS is a client configuration that trusts the server's certificate.
func (s *Server) ClientTLS() *tls.Config {
	return &tls.Config{RootCAs: s.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
}

func (s *Server) serve(ln net.Listener) {
	srv := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		s.mu.Lock()
		s.sessions++
		s.mu.Unlock()
		return &session{s: s, c: c}, nil
	}))
	srv.Domain = "smtptest.local"
	srv.ReadTimeout = 10 * time.Second
	srv.WriteTimeout = 10 * time.Second
	srv.MaxMessageBytes = 10 << 20
	srv.AllowInsecureAuth = !s.opts.TLS && !s.opts.Implicit
	if s.tlsConf != nil {
		srv.TLSConfig = s.tlsConf
	}
	if s.opts.Implicit {
		ln = tls.NewListener(ln, s.tlsConf)
	}
	s.mu.Lock()
	s.srv = srv
	s.mu.Unlock()
	go func() { _ = srv.Serve(ln) }()
}

// Stop makes the server disappear: the listener and every open connection
// close (a client in the middle of a conversation sees it broken).
func (s *Server) Stop() {
	s.mu.Lock()
	srv := s.srv
	s.srv = nil
	s.mu.Unlock()
	if srv != nil {
		_ = srv.Close()
	}
}

// Restart brings a stopped server back on the same address.
func (s *Server) Restart() {
	s.tb.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger for a moment after Close
		if ln, err = net.Listen("tcp", s.Addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		s.tb.Fatalf("smtptest: listen again on %s: %v", s.Addr, err)
	}
	s.serve(ln)
}

// Refuse makes the server answer MAIL FROM with code (e.g. 421 or 554)
// until Accept; no message is accepted meanwhile.
func (s *Server) Refuse(code int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = &smtp.SMTPError{Code: code, EnhancedCode: smtp.EnhancedCode{code / 100, 3, 0},
		Message: fmt.Sprintf("smtptest refuses with %d", code)}
}

// Accept undoes Refuse.
func (s *Server) Accept() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refuse = nil
}

// Messages returns the messages accepted so far, in order.
func (s *Server) Messages() []Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Message(nil), s.msgs...)
}

// Sessions counts the SMTP conversations begun so far.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sessions
}

// Wait waits until at least n messages were accepted and returns them;
// the test fails after timeout.
func (s *Server) Wait(n int, timeout time.Duration) []Message {
	s.tb.Helper()
	deadline := time.After(timeout)
	for {
		if m := s.Messages(); len(m) >= n {
			return m
		}
		select {
		case <-s.arrivals:
		case <-deadline:
			s.tb.Fatalf("smtptest: %d message(s) after %s, want %d", len(s.Messages()), timeout, n)
			return nil
		}
	}
}

type session struct {
	s    *Server
	c    *smtp.Conn
	from string
	to   []string
	user string
}

func (x *session) AuthMechanisms() []string {
	if x.s.opts.User == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (x *session) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || x.s.opts.User == "" {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, user, pass string) error {
		if user != x.s.opts.User || pass != x.s.opts.Password {
			return smtp.ErrAuthFailed
		}
		x.user = user
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.s.opts.User != "" && x.user == "" {
		return smtp.ErrAuthRequired
	}
	x.s.mu.Lock()
	refuse := x.s.refuse
	x.s.mu.Unlock()
	if refuse != nil {
		return refuse
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	raw, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	m, err := decode(raw)
	if err != nil {
		return &smtp.SMTPError{Code: 554, EnhancedCode: smtp.EnhancedCode{5, 6, 0}, Message: "smtptest: " + err.Error()}
	}
	m.From, m.To, m.User, m.At = x.from, append([]string(nil), x.to...), x.user, time.Now()
	_, m.TLS = x.c.TLSConnectionState()
	if x.s.opts.OnData != nil {
		if err := x.s.opts.OnData(m); err != nil {
			return err
		}
	}
	x.s.mu.Lock()
	x.s.msgs = append(x.s.msgs, m)
	x.s.mu.Unlock()
	select {
	case x.s.arrivals <- struct{}{}:
	default:
	}
	return nil
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

// decode parses a message: its header, decoded subject and Message-ID, and
// its text/plain and text/html parts (directly or inside multipart/*).
func decode(raw []byte) (Message, error) {
	pm, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return Message{}, fmt.Errorf("parse message: %w", err)
	}
	m := Message{Raw: raw, Header: pm.Header}
	dec := new(mime.WordDecoder)
	if m.Subject, err = dec.DecodeHeader(pm.Header.Get("Subject")); err != nil {
		return Message{}, fmt.Errorf("subject: %w", err)
	}
	m.MessageID = strings.Trim(pm.Header.Get("Message-Id"), "<> ")
	err = walk(pm.Header, pm.Body, &m)
	return m, err
}

// part is what walk needs of a header (mail.Header, textproto.MIMEHeader).
type part interface{ Get(string) string }

func walk(h part, body io.Reader, m *Message) error {
	mt, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		mt = "text/plain"
	}
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return fmt.Errorf("multipart: %w", err)
			}
			if err := walk(p.Header, p, m); err != nil {
				return err
			}
		}
	}
	var r io.Reader = body
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body) // ignores line breaks
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return fmt.Errorf("part: %w", err)
	}
	switch mt {
	case "text/plain":
		m.Text = string(b)
	case "text/html":
		m.HTML = string(b)
	}
	return nil
}

// selfSigned makes a certificate for 127.0.0.1 and a pool that trusts it.
func selfSigned(tb testing.TB) (*tls.Config, *x509.CertPool) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatalf("smtptest: key: %v", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "smtptest"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatalf("smtptest: certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatalf("smtptest: certificate: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key, Leaf: cert}},
		MinVersion: tls.VersionTLS12}, pool
}
