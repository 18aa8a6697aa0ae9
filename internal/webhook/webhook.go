// Package webhook verifies Clerk's webhook deliveries with the Svix library
// and applies the user events they carry through the store.
package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/clerkuser"
	"github.com/praxiom/praxiom-api/internal/store"
)

// MaxBody is the largest delivery accepted (api/openapi.yaml, ClerkEvent:
// 1 MiB).
const MaxBody = 1 << 20

// Event is the envelope of a Clerk webhook delivery.
type Event struct {
	Type string          `json:"type"`
	Data json.RawMessage `json:"data"`
	// Timestamp is the envelope's time in milliseconds; it orders deletions.
	Timestamp int64  `json:"timestamp"`
	Object    string `json:"object"`
}

// Verifier checks Svix signatures with the signing secret.
type Verifier struct {
	wh *svix.Webhook
}

// NewVerifier parses secret (whsec_…).
func NewVerifier(secret string) (*Verifier, error) {
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		return nil, fmt.Errorf("webhook: signing secret: %w", errors.New("not a whsec_ base64 secret"))
	}
	return &Verifier{wh: wh}, nil
}

// MessageID returns the delivery's id from the svix-id header, or the
// webhook-id header (the Standard Webhooks names), as the library reads them.
func MessageID(h http.Header) string {
	if h.Get("svix-id") != "" && h.Get("svix-signature") != "" && h.Get("svix-timestamp") != "" {
		return h.Get("svix-id")
	}
	return h.Get("webhook-id")
}

// Verify checks the signature of the raw body. Returns INVALID_SIGNATURE for
// a missing, malformed or wrong signature or a timestamp more than five
// minutes off.
func (v *Verifier) Verify(body []byte, h http.Header) error {
	if err := v.wh.Verify(body, h); err != nil {
		return apperr.Wrap(apperr.InvalidSignature, "The webhook signature is missing, invalid or expired.", err)
	}
	return nil
}

// Decode parses a verified body as a Clerk event. Returns BAD_REQUEST for a
// body that is not a Clerk event.
func Decode(body []byte) (Event, error) {
	var ev Event
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&ev); err != nil {
		return Event{}, apperr.Wrap(apperr.BadRequest, "The body is not a Clerk event.", err)
	}
	if dec.More() {
		return Event{}, apperr.New(apperr.BadRequest, "The body is not a Clerk event.")
	}
	if strings.TrimSpace(ev.Type) == "" || len(ev.Data) == 0 || ev.Data[0] != '{' {
		return Event{}, apperr.New(apperr.BadRequest, "The body is not a Clerk event: type and data are required.")
	}
	return ev, nil
}

// Applier applies verified events.
type Applier struct {
	Store  *store.Store
	Policy store.NewUserPolicy
}

// deletedData is the data of user.deleted.
type deletedData struct {
	ID      string `json:"id"`
	Deleted bool   `json:"deleted"`
}

// Apply applies ev, delivered as svixID, as a change of a (the system, with
// the delivery's request id and address, for the audit log). The profile of a user event is
// derived by clerkuser.ProfileFromUser, which removes U+0000 from Clerk's
// strings (PostgreSQL cannot store it, and a delivery that fails every time
// would be retried for days); the event type is recorded without it too.
// Returns the result for the answer, BAD_REQUEST for a user event whose data
// is not a Clerk user (also a user id containing U+0000: an id is never
// rewritten), and SERVICE_UNAVAILABLE when the database is down (Svix then
// retries).
func (a *Applier) Apply(ctx context.Context, actor store.Actor, svixID string, ev Event) (store.WebhookResult, error) {
	typ := clerkuser.StripNUL(ev.Type)
	switch ev.Type {
	case "user.created", "user.updated":
		var u clerk.User
		if err := json.Unmarshal(ev.Data, &u); err != nil {
			return "", apperr.New(apperr.BadRequest, "The event's data is not a Clerk user.")
		}
		p, err := clerkuser.ProfileFromUser(&u) // refuses a user without an id
		if errors.Is(err, clerkuser.ErrNoEmail) {
			// A user without an email cannot be one of ours yet; a later
			// user.updated with an address will create it.
			return a.Store.RecordIgnored(ctx, actor, svixID, typ)
		}
		if err != nil {
			return "", apperr.Wrap(apperr.BadRequest, "The event's data is not a Clerk user.", err)
		}
		return a.Store.ApplyUserUpsert(ctx, actor, svixID, typ, p, a.Policy)
	case "user.deleted":
		var d deletedData
		if err := json.Unmarshal(ev.Data, &d); err != nil || d.ID == "" || strings.ContainsRune(d.ID, 0) {
			return "", apperr.New(apperr.BadRequest, "The event's data is not a deleted Clerk user.")
		}
		at := time.Now()
		if ev.Timestamp > 0 {
			at = time.UnixMilli(ev.Timestamp)
		}
		return a.Store.ApplyUserDeleted(ctx, actor, svixID, typ, d.ID, at)
	default:
		return a.Store.RecordIgnored(ctx, actor, svixID, typ)
	}
}
