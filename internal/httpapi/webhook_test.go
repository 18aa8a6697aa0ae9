package httpapi_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/clerktest"
	"github.com/praxiom/praxiom-api/internal/devtoken"
	"github.com/praxiom/praxiom-api/internal/store"
)

// webhookPaths are the two paths the Clerk webhook is served at
// (api/openapi.yaml, receiveClerkWebhook and receiveClerkWebhookAlias).
var webhookPaths = []string{"/api/webhooks/clerk", "/webhooks/clerk"}

// deliverTo posts body to path signed with secret for message id at ts;
// edit, when set, may change the headers before sending.
func deliverTo(t *testing.T, e *apitest.Env, path, secret, id string, ts time.Time, body []byte, edit func(h http.Header)) *apitest.Response {
	t.Helper()
	h := apitest.SignedHeaders(t, secret, id, ts, body)
	if edit != nil {
		edit(h)
	}
	return e.Do(apitest.Request{Method: http.MethodPost, Path: path, Body: body, Header: h})
}

// assertStatusBody checks a 200 {"status": want}.
func assertStatusBody(t *testing.T, r *apitest.Response, want string) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("status %d, want 200 %q: %s", r.Status, want, r.Body)
	}
	var b map[string]any
	r.JSON(t, &b)
	if len(b) != 1 || b["status"] != want {
		t.Fatalf("body %s, want {\"status\":%q}", r.Body, want)
	}
	if r.Header.Get("X-Request-ID") == "" {
		t.Error("no X-Request-ID")
	}
}

func newSecret() string {
	raw := make([]byte, 24)
	_, _ = rand.Read(raw)
	return "whsec_" + base64.StdEncoding.EncodeToString(raw)
}

// userRow returns the stored row of clerkID.
func userRow(t *testing.T, e *apitest.Env, clerkID string) store.User {
	t.Helper()
	u, err := e.Store.UserByClerkID(context.Background(), clerkID)
	if err != nil {
		t.Fatalf("user %s: %v", clerkID, err)
	}
	return u
}

// profileOf is what the tests compare of a row.
type profileOf struct {
	Email, Name, Avatar string
	ClerkUpdatedAt      time.Time
}

func rowProfile(u store.User) profileOf {
	p := profileOf{Email: u.Email, Name: u.Name}
	if u.AvatarURL != nil {
		p.Avatar = *u.AvatarURL
	}
	if u.ClerkUpdatedAt != nil {
		p.ClerkUpdatedAt = u.ClerkUpdatedAt.UTC()
	}
	return p
}

func TestWebhookMatrix(t *testing.T) {
	for _, path := range webhookPaths {
		t.Run(strings.TrimPrefix(path, "/"), func(t *testing.T) {
			e := apitest.New(t, apitest.Options{})
			webhookMatrix(t, e, path)
			assertLogsClean(t, e.Logs(), e.WebhookSecret, strings.TrimPrefix(e.WebhookSecret, "whsec_"))
		})
	}
}

func webhookMatrix(t *testing.T, e *apitest.Env, path string) {
	secret := e.WebhookSecret
	deliver := func(t *testing.T, body []byte) *apitest.Response {
		t.Helper()
		return deliverTo(t, e, path, secret, uniq("msg_"), time.Now(), body, nil)
	}
	base := time.Now().Add(-time.Hour).Truncate(time.Millisecond)

	t.Run("created applies the derived fields", func(t *testing.T) {
		cases := []struct {
			name        string
			user        clerktest.User
			email, disp string
		}{
			{"primary by id, first and last", clerktest.User{Emails: clerktest.Emails("other@example.com", "Grace.Hopper@Example.com"), Primary: 1,
				FirstName: " Grace ", LastName: "Hopper", Username: "gh", ImageURL: "https://img.clerk.com/g.png"}, "grace.hopper@example.com", "Grace Hopper"},
			{"first only", clerktest.User{Emails: clerktest.Emails("f@example.com"), FirstName: "Grace"}, "f@example.com", "Grace"},
			{"last only", clerktest.User{Emails: clerktest.Emails("l@example.com"), LastName: "Hopper"}, "l@example.com", "Hopper"},
			{"username", clerktest.User{Emails: clerktest.Emails("u@example.com"), Username: "amazing_grace"}, "u@example.com", "amazing_grace"},
			{"email local part", clerktest.User{Emails: clerktest.Emails("Local.Part@example.com")}, "local.part@example.com", "local.part"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				u := tc.user
				u.ID, u.UpdatedAt = "user_"+uniq("wc"), base
				assertStatusBody(t, deliver(t, u.Event("user.created")), "ok")
				row := userRow(t, e, u.ID)
				want := profileOf{Email: tc.email, Name: tc.disp, Avatar: u.ImageURL, ClerkUpdatedAt: base.UTC()}
				if got := rowProfile(row); got != want {
					t.Errorf("row = %+v, want %+v", got, want)
				}
				if row.AccessStatus != store.StatusPending || row.HasProductAccess || !referralCodeRE.MatchString(row.ReferralCode) || row.DeletedAt != nil {
					t.Errorf("row = %+v; want pending, no access, a referral code, live", row)
				}
			})
		}
	})

	t.Run("created then visible on /api/auth/me", func(t *testing.T) {
		email := uniq("me") + "@example.com"
		sub := devtoken.SubjectForEmail(email)
		u := clerktest.User{ID: sub, Emails: clerktest.Emails(email), FirstName: "Web", LastName: "Hook", UpdatedAt: base}
		assertStatusBody(t, deliver(t, u.Event("user.created")), "ok")
		got := decodeMe(t, e.Get("/api/auth/me", e.Token(email)))
		if got.Name != "Web Hook" || got.ClerkID != sub {
			t.Errorf("/me = %+v, want the webhook's user", got)
		}
	})

	t.Run("duplicate svix-id changes nothing", func(t *testing.T) {
		u := clerktest.User{ID: "user_" + uniq("dup"), Emails: clerktest.Emails("dup@example.com"), FirstName: "First", UpdatedAt: base}
		id := uniq("msg_dup_")
		body := u.Event("user.created")
		assertStatusBody(t, deliverTo(t, e, path, secret, id, time.Now(), body, nil), "ok")
		before := userRow(t, e, u.ID)
		// The same delivery again.
		assertStatusBody(t, deliverTo(t, e, path, secret, id, time.Now(), body, nil), "already_processed")
		// Another (newer) body under the same id: still already processed.
		newer := u
		newer.FirstName, newer.UpdatedAt = "Second", base.Add(time.Minute)
		assertStatusBody(t, deliverTo(t, e, path, secret, id, time.Now(), newer.Event("user.updated"), nil), "already_processed")
		after := userRow(t, e, u.ID)
		if rowProfile(after) != rowProfile(before) || !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Errorf("row changed: before %+v, after %+v", before, after)
		}
		// The same data under a fresh id applies.
		assertStatusBody(t, deliver(t, newer.Event("user.updated")), "ok")
		if got := userRow(t, e, u.ID).Name; got != "Second" {
			t.Errorf("name = %q after a fresh delivery, want Second", got)
		}
	})

	t.Run("updated before created", func(t *testing.T) {
		created := clerktest.User{ID: "user_" + uniq("ooo"), Emails: clerktest.Emails("old@example.com"), FirstName: "Old", UpdatedAt: base}
		updated := created
		updated.Emails, updated.FirstName, updated.UpdatedAt = clerktest.Emails("new@example.com"), "New", base.Add(time.Minute)
		assertStatusBody(t, deliver(t, updated.Event("user.updated")), "ok")
		assertStatusBody(t, deliver(t, created.Event("user.created")), "ignored")
		want := profileOf{Email: "new@example.com", Name: "New", ClerkUpdatedAt: updated.UpdatedAt.UTC()}
		if got := rowProfile(userRow(t, e, created.ID)); got != want {
			t.Errorf("row = %+v, want %+v", got, want)
		}
		if n := countUsers(t, e, created.ID); n != 1 {
			t.Errorf("rows = %d", n)
		}
	})

	t.Run("older update after a newer one is ignored", func(t *testing.T) {
		u := clerktest.User{ID: "user_" + uniq("stale"), Emails: clerktest.Emails("v0@example.com"), FirstName: "V0", UpdatedAt: base}
		assertStatusBody(t, deliver(t, u.Event("user.created")), "ok")
		v2 := u
		v2.Emails, v2.FirstName, v2.ImageURL, v2.UpdatedAt = clerktest.Emails("v2@example.com"), "V2", "https://img.clerk.com/v2", base.Add(2*time.Minute)
		assertStatusBody(t, deliver(t, v2.Event("user.updated")), "ok")
		before := userRow(t, e, u.ID)
		v1 := u
		v1.Emails, v1.FirstName, v1.UpdatedAt = clerktest.Emails("v1@example.com"), "V1", base.Add(time.Minute)
		assertStatusBody(t, deliver(t, v1.Event("user.updated")), "ignored")
		// The same updated_at again is not newer either.
		same := v2
		same.FirstName = "Same Time"
		assertStatusBody(t, deliver(t, same.Event("user.updated")), "ignored")
		after := userRow(t, e, u.ID)
		want := profileOf{Email: "v2@example.com", Name: "V2", Avatar: "https://img.clerk.com/v2", ClerkUpdatedAt: v2.UpdatedAt.UTC()}
		if got := rowProfile(after); got != want || !after.UpdatedAt.Equal(before.UpdatedAt) {
			t.Errorf("row = %+v (updated_at %v), want %+v (updated_at %v)", got, after.UpdatedAt, want, before.UpdatedAt)
		}
	})

	t.Run("deleted then late events are ignored", func(t *testing.T) {
		email := uniq("del") + "@example.com"
		sub := devtoken.SubjectForEmail(email)
		u := clerktest.User{ID: sub, Emails: clerktest.Emails(email), FirstName: "Del", LastName: "Eted", ImageURL: "https://img.clerk.com/d", UpdatedAt: base}
		assertStatusBody(t, deliver(t, u.Event("user.created")), "ok")
		tok := e.Token(email)
		decodeMe(t, e.Get("/api/auth/me", tok))

		assertStatusBody(t, deliver(t, apitest.DeletedEvent(sub, base.Add(time.Minute))), "ok")
		row := userRow(t, e, sub)
		if row.DeletedAt == nil || row.Email != "" || row.Name != "" || row.AvatarURL != nil {
			t.Errorf("tombstone = %+v; want deleted_at set and email, name, avatar scrubbed", row)
		}
		late := u
		late.FirstName, late.UpdatedAt = "Zombie", base.Add(time.Hour)
		assertStatusBody(t, deliver(t, late.Event("user.updated")), "ignored")
		assertStatusBody(t, deliver(t, late.Event("user.created")), "ignored")
		assertStatusBody(t, deliver(t, apitest.DeletedEvent(sub, base.Add(2*time.Hour))), "ignored")
		after := userRow(t, e, sub)
		if after.DeletedAt == nil || after.Email != "" || after.Name != "" || !after.DeletedAt.Equal(*row.DeletedAt) {
			t.Errorf("after late events: %+v; want the unchanged tombstone", after)
		}
		assertUnauthorized(t, e.Get("/api/auth/me", tok), true)
		if n := countUsers(t, e, sub); n != 1 {
			t.Errorf("rows = %d", n)
		}
	})

	t.Run("deleted before ever seen, then created", func(t *testing.T) {
		email := uniq("never") + "@example.com"
		sub := devtoken.SubjectForEmail(email)
		assertStatusBody(t, deliver(t, apitest.DeletedEvent(sub, time.Now())), "ok")
		u := clerktest.User{ID: sub, Emails: clerktest.Emails(email), FirstName: "Never", UpdatedAt: time.Now()}
		assertStatusBody(t, deliver(t, u.Event("user.created")), "ignored")
		if row := userRow(t, e, sub); row.DeletedAt == nil || row.Email != "" {
			t.Errorf("row = %+v, want a tombstone", row)
		}
		assertUnauthorized(t, e.Get("/api/auth/me", e.Token(email)), true)
	})

	t.Run("signature failures", func(t *testing.T) {
		otherSecret := newSecret()
		cases := []struct {
			name string
			// send returns the response of a bad delivery of body.
			send func(t *testing.T, id string, body []byte) *apitest.Response
		}{
			{"tampered body", func(t *testing.T, id string, body []byte) *apitest.Response {
				h := apitest.SignedHeaders(t, secret, id, time.Now(), body)
				tampered := bytes.Replace(body, []byte(`"first_name":"Sig"`), []byte(`"first_name":"Evil"`), 1)
				if bytes.Equal(tampered, body) {
					t.Fatal("tampering changed nothing")
				}
				return e.Do(apitest.Request{Method: http.MethodPost, Path: path, Body: tampered, Header: h})
			}},
			{"wrong secret", func(t *testing.T, id string, body []byte) *apitest.Response {
				return deliverTo(t, e, path, otherSecret, id, time.Now(), body, nil)
			}},
			{"missing svix-id", func(t *testing.T, id string, body []byte) *apitest.Response {
				return deliverTo(t, e, path, secret, id, time.Now(), body, func(h http.Header) { h.Del("svix-id") })
			}},
			{"missing svix-timestamp", func(t *testing.T, id string, body []byte) *apitest.Response {
				return deliverTo(t, e, path, secret, id, time.Now(), body, func(h http.Header) { h.Del("svix-timestamp") })
			}},
			{"missing svix-signature", func(t *testing.T, id string, body []byte) *apitest.Response {
				return deliverTo(t, e, path, secret, id, time.Now(), body, func(h http.Header) { h.Del("svix-signature") })
			}},
			{"no headers at all", func(t *testing.T, id string, body []byte) *apitest.Response {
				return e.Do(apitest.Request{Method: http.MethodPost, Path: path, Body: body})
			}},
			{"signature for another message id", func(t *testing.T, id string, body []byte) *apitest.Response {
				return deliverTo(t, e, path, secret, id, time.Now(), body, func(h http.Header) { h.Set("svix-id", id+"x") })
			}},
			{"timestamp 6 minutes old", func(t *testing.T, id string, body []byte) *apitest.Response {
				return deliverTo(t, e, path, secret, id, time.Now().Add(-6*time.Minute), body, nil)
			}},
			{"timestamp 6 minutes ahead", func(t *testing.T, id string, body []byte) *apitest.Response {
				return deliverTo(t, e, path, secret, id, time.Now().Add(6*time.Minute), body, nil)
			}},
			{"non-numeric timestamp", func(t *testing.T, id string, body []byte) *apitest.Response {
				return deliverTo(t, e, path, secret, id, time.Now(), body, func(h http.Header) { h.Set("svix-timestamp", "yesterday") })
			}},
			{"garbage signature", func(t *testing.T, id string, body []byte) *apitest.Response {
				return deliverTo(t, e, path, secret, id, time.Now(), body, func(h http.Header) { h.Set("svix-signature", "v1,AAAA v1 ,") })
			}},
			{"valid signature under version v2", func(t *testing.T, id string, body []byte) *apitest.Response {
				return deliverTo(t, e, path, secret, id, time.Now(), body, func(h http.Header) {
					h.Set("svix-signature", "v2,"+strings.TrimPrefix(h.Get("svix-signature"), "v1,"))
				})
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				u := clerktest.User{ID: "user_" + uniq("sig"), Emails: clerktest.Emails("sig@example.com"), FirstName: "Sig", UpdatedAt: base}
				id := uniq("msg_sig_")
				wantError(t, tc.send(t, id, u.Event("user.created")), http.StatusBadRequest, "INVALID_SIGNATURE")
				if n := countUsers(t, e, u.ID); n != 0 {
					t.Errorf("rows = %d, want 0", n)
				}
				// The refused delivery was not recorded: a good one with the
				// same id applies.
				assertStatusBody(t, deliverTo(t, e, path, secret, id, time.Now(), u.Event("user.created"), nil), "ok")
			})
		}
	})

	t.Run("webhook-* headers are accepted", func(t *testing.T) {
		u := clerktest.User{ID: "user_" + uniq("std"), Emails: clerktest.Emails("std@example.com"), FirstName: "Standard", UpdatedAt: base}
		id := uniq("msg_std_")
		body := u.Event("user.created")
		rename := func(h http.Header) {
			for _, k := range []string{"id", "timestamp", "signature"} {
				h.Set("webhook-"+k, h.Get("svix-"+k))
				h.Del("svix-" + k)
			}
		}
		assertStatusBody(t, deliverTo(t, e, path, secret, id, time.Now(), body, rename), "ok")
		if got := userRow(t, e, u.ID).Name; got != "Standard" {
			t.Errorf("name = %q", got)
		}
		// webhook-id is the delivery id for de-duplication too: the same id
		// again is a duplicate, another id is a new delivery.
		assertStatusBody(t, deliverTo(t, e, path, secret, id, time.Now(), body, rename), "already_processed")
		other := clerktest.User{ID: "user_" + uniq("std"), Emails: clerktest.Emails("std2@example.com"), FirstName: "Other", UpdatedAt: base}
		assertStatusBody(t, deliverTo(t, e, path, secret, uniq("msg_std_"), time.Now(), other.Event("user.created"), rename), "ok")
		if got := userRow(t, e, other.ID).Name; got != "Other" {
			t.Errorf("name = %q", got)
		}
		// And webhook-* signatures are checked.
		wantError(t, deliverTo(t, e, path, newSecret(), uniq("msg_std_"), time.Now(), body, rename), http.StatusBadRequest, "INVALID_SIGNATURE")
	})

	t.Run("two signatures in one header (secret rotation)", func(t *testing.T) {
		oldSecret := newSecret()
		for _, order := range []string{"old first", "valid first"} {
			t.Run(order, func(t *testing.T) {
				u := clerktest.User{ID: "user_" + uniq("rot"), Emails: clerktest.Emails("rot@example.com"), FirstName: "Rot", UpdatedAt: base}
				id, ts, body := uniq("msg_rot_"), time.Now(), u.Event("user.created")
				old := apitest.SignedHeaders(t, oldSecret, id, ts, body).Get("svix-signature")
				r := deliverTo(t, e, path, secret, id, ts, body, func(h http.Header) {
					sigs := []string{old, h.Get("svix-signature")}
					if order == "valid first" {
						sigs[0], sigs[1] = sigs[1], sigs[0]
					}
					h.Set("svix-signature", strings.Join(sigs, " "))
				})
				assertStatusBody(t, r, "ok")
				if n := countUsers(t, e, u.ID); n != 1 {
					t.Errorf("rows = %d", n)
				}
			})
		}
	})

	t.Run("unknown event type is ignored", func(t *testing.T) {
		for _, typ := range []string{"session.created", "organization.created", "user.banned"} {
			body := []byte(`{"type":"` + typ + `","object":"event","data":{"id":"sess_123","object":"session"},"timestamp":` +
				strconv.FormatInt(time.Now().UnixMilli(), 10) + `}`)
			assertStatusBody(t, deliver(t, body), "ignored")
		}
		// A redelivery of an ignored message is recognised as such too.
		body := []byte(`{"type":"session.created","object":"event","data":{"id":"sess_1"}}`)
		id := uniq("msg_")
		assertStatusBody(t, deliverTo(t, e, path, secret, id, time.Now(), body, nil), "ignored")
		assertStatusBody(t, deliverTo(t, e, path, secret, id, time.Now(), body, nil), "already_processed")
	})

	t.Run("user event without an email is ignored", func(t *testing.T) {
		u := clerktest.User{ID: "user_" + uniq("nomail"), UpdatedAt: base, FirstName: "No"}
		assertStatusBody(t, deliver(t, u.Event("user.created")), "ignored")
		if n := countUsers(t, e, u.ID); n != 0 {
			t.Errorf("rows = %d", n)
		}
	})

	t.Run("oversize body", func(t *testing.T) {
		u := clerktest.User{ID: "user_" + uniq("big"), Emails: clerktest.Emails("big@example.com"), UpdatedAt: base}
		obj := u.Object()
		obj["unsafe_metadata"] = map[string]any{"pad": strings.Repeat("x", 1<<20)}
		body, _ := json.Marshal(map[string]any{"type": "user.created", "object": "event", "data": obj})
		if len(body) <= 1<<20 {
			t.Fatalf("body is only %d bytes", len(body))
		}
		wantError(t, deliver(t, body), http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
		if n := countUsers(t, e, u.ID); n != 0 {
			t.Errorf("rows = %d", n)
		}
		// Just under the limit is fine.
		obj["unsafe_metadata"] = map[string]any{"pad": ""}
		small, _ := json.Marshal(map[string]any{"type": "user.created", "object": "event", "data": obj})
		obj["unsafe_metadata"] = map[string]any{"pad": strings.Repeat("x", 1<<20-len(small))}
		body, _ = json.Marshal(map[string]any{"type": "user.created", "object": "event", "data": obj})
		if len(body) != 1<<20 {
			t.Fatalf("body is %d bytes, want exactly 1 MiB", len(body))
		}
		assertStatusBody(t, deliver(t, body), "ok")
	})

	t.Run("signed body that is not a Clerk event", func(t *testing.T) {
		for name, body := range map[string]string{
			"not JSON":                 `not json at all`,
			"JSON array":               `[1,2,3]`,
			"object without type":      `{"data":{"id":"user_x"}}`,
			"object without data":      `{"type":"user.created"}`,
			"data not an object":       `{"type":"user.created","data":"user_x"}`,
			"two objects":              `{"type":"user.created","data":{}} {"type":"x","data":{}}`,
			"user event without id":    `{"type":"user.created","data":{"email_addresses":[]}}`,
			"deleted event without id": `{"type":"user.deleted","data":{"deleted":true}}`,
			"empty body":               ``,
		} {
			t.Run(name, func(t *testing.T) {
				wantError(t, deliver(t, []byte(body)), http.StatusBadRequest, "BAD_REQUEST")
			})
		}
	})

	t.Run("no Content-Type required", func(t *testing.T) {
		for name, ct := range map[string][]string{"none": {}, "text/plain": {"text/plain"}} {
			t.Run(name, func(t *testing.T) {
				u := clerktest.User{ID: "user_" + uniq("ct"), Emails: clerktest.Emails("ct@example.com"), UpdatedAt: base}
				r := deliverTo(t, e, path, secret, uniq("msg_ct_"), time.Now(), u.Event("user.created"), func(h http.Header) {
					h["Content-Type"] = ct
				})
				assertStatusBody(t, r, "ok")
				if n := countUsers(t, e, u.ID); n != 1 {
					t.Errorf("rows = %d", n)
				}
			})
		}
	})

	t.Run("GET is 405", func(t *testing.T) {
		// With a token: under /api, authentication runs before routing, so
		// without one /api/webhooks/clerk answers GET with 401.
		r := e.Do(apitest.Request{Method: http.MethodGet, Path: path, Token: e.Token("getter@example.com")})
		wantError(t, r, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
		if got := r.Header.Get("Allow"); got != "POST" {
			t.Errorf("Allow = %q, want POST", got)
		}
	})
}

func TestWebhookSecretNotConfigured(t *testing.T) {
	e := apitest.New(t, apitest.Options{NoWebhookSecret: true})
	for _, path := range webhookPaths {
		t.Run(path, func(t *testing.T) {
			u := clerktest.User{ID: "user_" + uniq("nosecret"), Emails: clerktest.Emails("ns@example.com"), UpdatedAt: time.Now()}
			r := deliverTo(t, e, path, newSecret(), uniq("msg_"), time.Now(), u.Event("user.created"), nil)
			wantError(t, r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
			if n := countUsers(t, e, u.ID); n != 0 {
				t.Errorf("rows = %d", n)
			}
		})
	}
}

// TestWebhookRacesJITProvisioning starts a first request (provisioned from a
// fake Clerk answering the user as of T1) and its user.created delivery (T2
// > T1) together, for fresh users: each time exactly one row remains and it
// holds T2's data, whichever won.
func TestWebhookRacesJITProvisioning(t *testing.T) {
	fake := clerktest.New(t)
	e := apitest.New(t, apitest.Options{ClerkAPIURL: fake.URL()})
	for _, path := range webhookPaths {
		t.Run(path, func(t *testing.T) {
			for i := range 10 {
				t1 := time.Now().Add(-time.Minute).Truncate(time.Millisecond)
				t2 := t1.Add(30 * time.Second)
				id := "user_" + uniq("race")
				fake.AddUser(clerktest.User{ID: id, Emails: clerktest.Emails("t1@example.com"), FirstName: "Tee", LastName: "One", UpdatedAt: t1})
				created := clerktest.User{ID: id, Emails: clerktest.Emails("t2@example.com"), FirstName: "Tee", LastName: "Two",
					ImageURL: "https://img.clerk.com/t2", UpdatedAt: t2}
				tok := e.Mint(devtoken.Options{Subject: id, TTL: time.Minute})
				body := created.Event("user.created")
				hdr := apitest.SignedHeaders(t, e.WebhookSecret, uniq("msg_race_"), time.Now(), body)

				rs := apitest.Race(2, func(i int) *apitest.Response {
					if i == 0 {
						return e.Get("/api/auth/me", tok)
					}
					return e.Do(apitest.Request{Method: http.MethodPost, Path: path, Body: body, Header: hdr})
				})
				me, wh := rs[0], rs[1]

				if me.Status != http.StatusOK {
					t.Errorf("round %d: /me %d %s", i, me.Status, me.Body)
				}
				assertStatusBody(t, wh, "ok")
				if n := countUsers(t, e, id); n != 1 {
					t.Fatalf("round %d: rows = %d, want 1", i, n)
				}
				want := profileOf{Email: "t2@example.com", Name: "Tee Two", Avatar: "https://img.clerk.com/t2", ClerkUpdatedAt: t2.UTC()}
				if got := rowProfile(userRow(t, e, id)); got != want {
					t.Errorf("round %d: row = %+v, want %+v", i, got, want)
				}
				// The user answers with T2's data from now on.
				if got := decodeMe(t, e.Get("/api/auth/me", tok)); got.Email != "t2@example.com" || got.Name != "Tee Two" {
					t.Errorf("round %d: /me = %+v", i, got)
				}
			}
		})
	}
}
