// Package clerkuser turns Clerk's User object into our profile, the same way
// for the webhook and for provisioning, and fetches users from Clerk's
// Backend API through the SDK.
package clerkuser

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	clerkuserapi "github.com/clerk/clerk-sdk-go/v2/user"

	"github.com/praxiom/praxiom-api/internal/store"
)

// ErrNoEmail means the Clerk user has no usable email address.
var ErrNoEmail = errors.New("clerkuser: user has no email address")

// ProfileFromUser derives our profile from a Clerk User (README, "Only
// verified email is identity"): the email is the primary address when Clerk
// says its verification status is "verified", else the first verified
// address; EmailVerified is then true. A user with no verified address keeps
// the address Clerk shows (the primary one; the first one when there is no
// primary id) with EmailVerified false, so that the store provisions it
// without product access and refuses it invitations until a user.updated
// brings a verified one. Name = first and last name joined by one space, else
// the username, else the email's local part; avatar = image_url; updated_at
// from Clerk's milliseconds. U+0000, which PostgreSQL cannot store, is
// removed from every string taken from Clerk. Returns ErrNoEmail for a user
// without an address, or whose primary id matches none of its addresses,
// and an error for a user without an id (or with U+0000 in it: an id is
// never rewritten).
func ProfileFromUser(u *clerk.User) (store.Profile, error) {
	if u == nil || u.ID == "" || strings.ContainsRune(u.ID, 0) {
		return store.Profile{}, errors.New("clerkuser: user without a usable id")
	}
	email, verified := chooseEmail(u)
	if email == "" {
		return store.Profile{}, ErrNoEmail
	}
	p := store.Profile{
		ClerkID:       u.ID,
		Email:         email,
		EmailVerified: verified,
		Name: DisplayName(StripNUL(deref(u.FirstName)), StripNUL(deref(u.LastName)),
			StripNUL(deref(u.Username)), email),
	}
	if img := strings.TrimSpace(StripNUL(deref(u.ImageURL))); img != "" {
		p.AvatarURL = &img
	}
	if u.UpdatedAt > 0 {
		p.UpdatedAt = time.UnixMilli(u.UpdatedAt).UTC()
	}
	return p, nil
}

// DisplayName joins first and last name with one space (either may be
// missing); when both are, the username; when that is missing too, the
// email's local part.
func DisplayName(first, last, username, email string) string {
	name := strings.TrimSpace(strings.TrimSpace(first) + " " + strings.TrimSpace(last))
	if name != "" {
		return name
	}
	if username = strings.TrimSpace(username); username != "" {
		return username
	}
	local, _, _ := strings.Cut(email, "@")
	return local
}

// StripNUL removes every U+0000 from s: PostgreSQL text cannot hold it, and a
// webhook delivery that can never be stored must not be retried forever.
func StripNUL(s string) string {
	if strings.IndexByte(s, 0) < 0 {
		return s
	}
	return strings.ReplaceAll(s, "\x00", "")
}

// chooseEmail returns the address to store and whether Clerk verified it:
// the primary address if verified, else the first verified one, else the
// address Clerk shows unverified (the primary one; the first one when there
// is no primary id). A primary id that matches no address makes the payload
// inconsistent: no email is chosen then.
func chooseEmail(u *clerk.User) (string, bool) {
	var primary, first, firstVerified string
	primaryVerified := false
	for _, e := range u.EmailAddresses {
		if e == nil {
			continue
		}
		addr := store.NormalizeEmail(StripNUL(e.EmailAddress))
		if addr == "" {
			continue
		}
		verified := e.Verification != nil && e.Verification.Status == "verified"
		if u.PrimaryEmailAddressID != nil && e.ID == *u.PrimaryEmailAddressID && primary == "" {
			primary, primaryVerified = addr, verified
		}
		if first == "" {
			first = addr
		}
		if verified && firstVerified == "" {
			firstVerified = addr
		}
	}
	switch {
	case u.PrimaryEmailAddressID == nil && firstVerified != "":
		return firstVerified, true
	case u.PrimaryEmailAddressID == nil:
		return first, false
	case primary == "":
		return "", false // the primary id matches no address
	case primaryVerified:
		return primary, true
	case firstVerified != "":
		return firstVerified, true
	default:
		return primary, false
	}
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// Errors of Fetch.
var (
	// ErrNotFound: Clerk does not know the user (→ 401).
	ErrNotFound = errors.New("clerkuser: user not found in Clerk")
	// ErrUnavailable: Clerk is unreachable, failing or rate limiting (→ 503).
	ErrUnavailable = errors.New("clerkuser: Clerk unavailable")
)

// Fetcher reads users from Clerk's Backend API.
type Fetcher struct {
	client *clerkuserapi.Client
}

// DefaultTimeout bounds a Fetch when NewFetcher is given no client.
const DefaultTimeout = 5 * time.Second

// NewFetcher builds a Fetcher for apiURL (CLERK_API_URL) and secretKey,
// calling Clerk through hc (nil: a client with DefaultTimeout). No
// package-level SDK state is used.
func NewFetcher(apiURL, secretKey string, hc *http.Client) *Fetcher {
	if hc == nil {
		hc = &http.Client{Timeout: DefaultTimeout}
	}
	// Record the status of every answer: the SDK turns an error body that is
	// not Clerk's JSON into a bare error without it.
	recording := *hc
	base := hc.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	recording.Transport = statusRecorder{base}
	hc = &recording
	return &Fetcher{client: clerkuserapi.NewClient(&clerk.ClientConfig{BackendConfig: clerk.BackendConfig{
		URL: clerk.String(apiURL), Key: clerk.String(secretKey), HTTPClient: hc,
	}})}
}

// Fetch returns the profile of Clerk user id. Returns ErrNotFound for a 404
// or a user without an email, ErrUnavailable for a transport error, 429 or
// 5xx, and a plain error otherwise (a 401/403 means our secret key is wrong).
func (f *Fetcher) Fetch(ctx context.Context, id string) (store.Profile, error) {
	status := new(int)
	u, err := f.client.Get(context.WithValue(ctx, statusKey{}, status), id)
	if err != nil {
		var apiErr *clerk.APIErrorResponse
		if errors.As(err, &apiErr) {
			*status = apiErr.HTTPStatusCode
		}
		if *status != 0 {
			switch s := *status; {
			case s == http.StatusNotFound:
				return store.Profile{}, ErrNotFound
			case s == http.StatusTooManyRequests || s >= 500:
				return store.Profile{}, fmt.Errorf("%w: status %d", ErrUnavailable, s)
			default:
				return store.Profile{}, fmt.Errorf("clerkuser: fetch user: status %d", s)
			}
		}
		return store.Profile{}, fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	p, err := ProfileFromUser(u)
	if errors.Is(err, ErrNoEmail) {
		return store.Profile{}, ErrNotFound
	}
	return p, err
}

type statusKey struct{}

// statusRecorder stores the response status in the *int the request's
// context carries.
type statusRecorder struct{ base http.RoundTripper }

func (r statusRecorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.base.RoundTrip(req)
	if resp != nil {
		if p, ok := req.Context().Value(statusKey{}).(*int); ok {
			*p = resp.StatusCode
		}
	}
	return resp, err
}
