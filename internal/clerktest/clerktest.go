// Package clerktest is the one fake Clerk Backend API of the tests: an
// httptest server that answers, as Clerk does,
//
//   - GET /v1/jwks: the JSON Web Key Set of the keys it was given (or a raw
//     body, or a failing status), optionally held until the test opens it;
//   - GET /v1/users/{id}: a Clerk User object added with AddUser (email
//     addresses with a verification status each), a failure, or a raw body;
//     404 for an unknown id.
//
// Both require `Authorization: Bearer ` + SecretKey and answer 401 with
// Clerk's error envelope otherwise. Every request is counted, authorized or
// not, so tests can assert how often the code under test called Clerk.
// Point the code under test at URL() (CLERK_API_URL). The server listens on
// the loopback interface only and is closed when the test ends (New), or
// when its owner closes it (Start, for the benchmark of bench/).
//
// User.Object is the Clerk User object and User.Event the webhook event
// carrying it, for the webhook tests.
package clerktest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/devtoken"
)

// SecretKey is the Clerk secret key the fake requires (CLERK_SECRET_KEY).
const SecretKey = "sk_test_fake"

// Server is a fake Clerk Backend API. Its methods are safe for concurrent
// use, also while requests are being answered.
type Server struct {
	srv         *httptest.Server
	jwksFetches atomic.Int64
	jwksTimes   []time.Time // guarded by mu
	userCalls   atomic.Int64
	badAuth     atomic.Int64

	mu         sync.Mutex
	jwksBody   []byte
	jwksStatus int
	gate       chan struct{} // when non-nil, JWKS requests wait until it is closed
	authSeen   []string
	users      map[string]userAnswer
	callsByID  map[string]int64
	userDelay  time.Duration
}

// userAnswer is what GET /v1/users/{id} answers for one id.
type userAnswer struct {
	status      int
	contentType string
	body        []byte
}

// New starts a fake Clerk serving a JWKS of keys (an empty set when there
// are none) and no users. It is closed by tb's cleanup.
func New(tb testing.TB, keys ...*devtoken.Key) *Server {
	tb.Helper()
	s := Start(keys...)
	tb.Cleanup(s.Close)
	return s
}

// Start is New for a program without a testing.TB (the benchmark): the
// caller closes the server.
func Start(keys ...*devtoken.Key) *Server {
	s := &Server{
		jwksBody:   devtoken.JWKSOf(keys...),
		jwksStatus: http.StatusOK,
		users:      map[string]userAnswer{},
		callsByID:  map[string]int64{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/jwks", s.serveJWKS)
	mux.HandleFunc("GET /v1/users/{id}", s.serveUser)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if s.authorized(w, r) {
			clerkError(w, http.StatusNotFound, "resource_not_found")
		}
	})
	s.srv = httptest.NewServer(mux)
	return s
}

// URL is the fake's CLERK_API_URL: its base URL followed by "/v1".
func (s *Server) URL() string { return s.srv.URL + "/v1" }

// Close stops the server now, so that calls to URL() fail to connect (an
// unreachable Clerk). Later calls to Close do nothing.
func (s *Server) Close() {
	s.OpenJWKS()
	s.srv.Close()
}

// authorized records the Authorization header and answers 401 with
// Clerk's error envelope, counting it, unless it carries SecretKey.
func (s *Server) authorized(w http.ResponseWriter, r *http.Request) bool {
	h := r.Header.Get("Authorization")
	s.mu.Lock()
	s.authSeen = append(s.authSeen, h)
	s.mu.Unlock()
	if h == "Bearer "+SecretKey {
		return true
	}
	s.badAuth.Add(1)
	clerkError(w, http.StatusUnauthorized, "authentication_invalid")
	return false
}

// clerkError writes Clerk's error envelope.
func clerkError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = fmt.Fprintf(w, `{"errors":[{"code":%q,"message":"fake","long_message":"fake clerk"}],"clerk_trace_id":"trace"}`, code)
}

// errorCode is the code Clerk puts in its envelope for status.
func errorCode(status int) string {
	switch status {
	case http.StatusNotFound:
		return "resource_not_found"
	case http.StatusTooManyRequests:
		return "too_many_requests"
	case http.StatusUnauthorized:
		return "authentication_invalid"
	case http.StatusForbidden:
		return "authorization_invalid"
	default:
		return "internal_clerk_error"
	}
}

// ---------------------------------------------------------------------------
// GET /v1/jwks
// ---------------------------------------------------------------------------

func (s *Server) serveJWKS(w http.ResponseWriter, r *http.Request) {
	s.jwksFetches.Add(1)
	s.mu.Lock()
	s.jwksTimes = append(s.jwksTimes, time.Now())
	s.mu.Unlock()
	if !s.authorized(w, r) {
		return
	}
	s.mu.Lock()
	gate := s.gate
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	s.mu.Lock()
	body, status := s.jwksBody, s.jwksStatus
	s.mu.Unlock()
	if status != http.StatusOK {
		clerkError(w, status, errorCode(status))
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(body)
}

// SetKeys makes the JWKS hold the public keys of keys, in order, and
// answer 200 again.
func (s *Server) SetKeys(keys ...*devtoken.Key) {
	s.SetJWKSBody(devtoken.JWKSOf(keys...))
}

// SetJWKSBody makes the JWKS endpoint answer 200 with body as it is (for
// key sets the SDK or the verifier must filter or refuse).
func (s *Server) SetJWKSBody(body []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jwksBody = append([]byte(nil), body...)
	s.jwksStatus = http.StatusOK
}

// SetJWKSStatus makes the JWKS endpoint answer status with Clerk's error
// envelope; http.StatusOK serves the key set again.
func (s *Server) SetJWKSStatus(status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.jwksStatus = status
}

// HoldJWKS makes JWKS requests wait (after they are counted) until
// OpenJWKS is called, so a test can pile up callers behind one fetch.
func (s *Server) HoldJWKS() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate == nil {
		s.gate = make(chan struct{})
	}
}

// OpenJWKS releases the JWKS requests held by HoldJWKS; later ones are
// answered at once. It does nothing when nothing is held.
func (s *Server) OpenJWKS() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
}

// JWKSFetches returns how many JWKS requests arrived, authorized or not.
func (s *Server) JWKSFetches() int64 { return s.jwksFetches.Load() }

// JWKSFetchTimes returns when each JWKS request arrived, in order.
func (s *Server) JWKSFetchTimes() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Time(nil), s.jwksTimes...)
}

// AuthHeaders returns the Authorization header of every request so far
// (both endpoints), in order of arrival; "" for a request without one.
func (s *Server) AuthHeaders() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.authSeen...)
}

// BadAuth returns how many requests came without the secret key.
func (s *Server) BadAuth() int64 { return s.badAuth.Load() }

// ---------------------------------------------------------------------------
// GET /v1/users/{id}
// ---------------------------------------------------------------------------

func (s *Server) serveUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.userCalls.Add(1)
	s.mu.Lock()
	s.callsByID[id]++
	s.mu.Unlock()
	if !s.authorized(w, r) {
		return
	}
	s.mu.Lock()
	a, ok := s.users[id]
	delay := s.userDelay
	s.mu.Unlock()
	if delay > 0 {
		select {
		case <-time.After(delay):
		case <-r.Context().Done():
			return
		}
	}
	if !ok {
		clerkError(w, http.StatusNotFound, "resource_not_found")
		return
	}
	if a.contentType == "" {
		clerkError(w, a.status, errorCode(a.status))
		return
	}
	w.Header().Set("Content-Type", a.contentType)
	w.WriteHeader(a.status)
	_, _ = w.Write(a.body)
}

// AddUser makes GET /v1/users/{u.ID} answer 200 with u.Object(), replacing
// whatever that id answered before (a failure included).
func (s *Server) AddUser(u User) {
	body, err := json.Marshal(u.Object())
	if err != nil {
		panic("clerktest: marshal user: " + err.Error())
	}
	s.setUser(u.ID, userAnswer{status: http.StatusOK, contentType: "application/json", body: body})
}

// FailUser makes GET /v1/users/{id} answer status with Clerk's error
// envelope (404 resource_not_found, 429 too_many_requests, 5xx
// internal_clerk_error, …).
func (s *Server) FailUser(id string, status int) {
	s.setUser(id, userAnswer{status: status})
}

// SetUserRaw makes GET /v1/users/{id} answer status with body as it is:
// Content-Type application/json when body is valid JSON (a hand-edited
// User object), else text/html (a proxy's error page).
func (s *Server) SetUserRaw(id string, status int, body string) {
	ct := "text/html; charset=utf-8"
	if json.Valid([]byte(body)) {
		ct = "application/json"
	}
	s.setUser(id, userAnswer{status: status, contentType: ct, body: []byte(body)})
}

// RemoveUser makes GET /v1/users/{id} answer 404 again.
func (s *Server) RemoveUser(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.users, id)
}

func (s *Server) setUser(id string, a userAnswer) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.users[id] = a
}

// SetUserDelay makes every user look-up wait d before it is answered (0:
// answer at once), so concurrent first requests overlap.
func (s *Server) SetUserDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.userDelay = d
}

// UserCalls returns how many look-ups of user id arrived, authorized or not.
func (s *Server) UserCalls(id string) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.callsByID[id]
}

// TotalUserCalls returns how many user look-ups arrived, for any id.
func (s *Server) TotalUserCalls() int64 { return s.userCalls.Load() }

// ---------------------------------------------------------------------------
// The Clerk User object
// ---------------------------------------------------------------------------

// Verification statuses of an email address, as Clerk spells them.
const (
	Verified   = "verified"
	Unverified = "unverified"
	// NullVerification sends "verification": null (an address Clerk holds
	// no verification for).
	NullVerification = "null"
)

// Email is one of a user's email addresses.
type Email struct {
	Address string
	// Status is the verification status: Verified (also when empty),
	// Unverified, NullVerification, or any other string Clerk may send
	// ("expired", "failed", "transferable").
	Status string
}

// Emails returns verified addresses, in order.
func Emails(addresses ...string) []Email {
	out := make([]Email, len(addresses))
	for i, a := range addresses {
		out[i] = Email{Address: a, Status: Verified}
	}
	return out
}

// User describes a Clerk User; empty strings are sent as JSON null.
type User struct {
	ID string
	// Emails get the ids idn_0, idn_1, … in order.
	Emails []Email
	// Primary is the index in Emails of the primary address: it is sent as
	// primary_email_address_id "idn_<Primary>" even when no address has that
	// id (a dangling primary). -1, or no addresses, sends null.
	Primary   int
	FirstName string
	LastName  string
	Username  string
	ImageURL  string
	// UpdatedAt is updated_at; zero means the time of the call to Object.
	// created_at is an hour before it.
	UpdatedAt time.Time
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// Object returns the Clerk User JSON object, as GET /v1/users/{id} answers
// it and as the data of a user.created or user.updated webhook event.
func (u User) Object() map[string]any {
	emails := make([]map[string]any, 0, len(u.Emails))
	for i, e := range u.Emails {
		var verification any
		switch e.Status {
		case NullVerification:
		case "":
			verification = map[string]any{"status": Verified, "strategy": "email_code"}
		default:
			verification = map[string]any{"status": e.Status, "strategy": "email_code"}
		}
		emails = append(emails, map[string]any{
			"id": fmt.Sprintf("idn_%d", i), "object": "email_address",
			"email_address": e.Address, "verification": verification, "linked_to": []any{},
		})
	}
	var primary any
	if u.Primary >= 0 && len(u.Emails) > 0 {
		primary = fmt.Sprintf("idn_%d", u.Primary)
	}
	upd := u.UpdatedAt
	if upd.IsZero() {
		upd = time.Now()
	}
	return map[string]any{
		"id": u.ID, "object": "user",
		"email_addresses": emails, "primary_email_address_id": primary,
		"first_name": nullable(u.FirstName), "last_name": nullable(u.LastName),
		"username": nullable(u.Username), "image_url": nullable(u.ImageURL), "has_image": u.ImageURL != "",
		"phone_numbers": []any{}, "web3_wallets": []any{}, "external_accounts": []any{},
		"public_metadata": map[string]any{}, "private_metadata": map[string]any{}, "unsafe_metadata": map[string]any{},
		"created_at": upd.Add(-time.Hour).UnixMilli(), "updated_at": upd.UnixMilli(),
	}
}

// Event returns the body of a Clerk webhook event of type typ
// ("user.created", "user.updated") whose data is u.Object(), stamped with
// u's updated_at, as Svix delivers it (sign it with apitest.SignedHeaders).
func (u User) Event(typ string) []byte {
	if u.UpdatedAt.IsZero() {
		u.UpdatedAt = time.Now()
	}
	b, err := json.Marshal(map[string]any{"type": typ, "object": "event", "data": u.Object(),
		"timestamp": u.UpdatedAt.UnixMilli(), "instance_id": "ins_test"})
	if err != nil {
		panic("clerktest: marshal event: " + err.Error())
	}
	return b
}
