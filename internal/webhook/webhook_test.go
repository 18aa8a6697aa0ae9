package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/devtoken"
	"github.com/praxiom/praxiom-api/internal/store"
	"github.com/praxiom/praxiom-api/internal/webhook"
)

// email is one of a Clerk user's addresses; status "" leaves verification
// out, as Clerk's older payloads may.
type email struct{ addr, status string }

// userEvent is a Clerk user.created/user.updated body for clerkID whose
// addresses are emails (ids idn_0, idn_1, …), the primary being emails[primary].
func userEvent(typ, clerkID string, emails []email, primary int, first string, at time.Time) []byte {
	addrs := make([]map[string]any, len(emails))
	for i, e := range emails {
		addrs[i] = map[string]any{"id": fmt.Sprintf("idn_%d", i), "object": "email_address", "email_address": e.addr}
		if e.status != "" {
			addrs[i]["verification"] = map[string]any{"status": e.status, "strategy": "email_code"}
		}
	}
	b, _ := json.Marshal(map[string]any{"type": typ, "object": "event", "timestamp": at.UnixMilli(),
		"data": map[string]any{"id": clerkID, "object": "user", "email_addresses": addrs,
			"primary_email_address_id": fmt.Sprintf("idn_%d", primary), "first_name": first, "last_name": nil,
			"username": nil, "image_url": "https://img.clerk.com/" + clerkID, "updated_at": at.UnixMilli()}})
	return b
}

func wantStatus(t *testing.T, r *apitest.Response, status int, result string) {
	t.Helper()
	var body struct {
		Status string `json:"status"`
	}
	_ = json.Unmarshal(r.Body, &body)
	if r.Status != status || (result != "" && body.Status != result) {
		t.Fatalf("answer %d %s, want %d %q", r.Status, r.Body, status, result)
	}
}

// TestWebhookRemovesNUL: a signed delivery whose strings carry U+0000 is
// stored without it and answers 200, never 500 (Svix would retry a 500 for
// days); an id with U+0000 is not a Clerk user (400).
func TestWebhookRemovesNUL(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	ctx := context.Background()
	at := time.Now().Add(-time.Minute)
	body := []byte(fmt.Sprintf(`{"type":"user.created","object":"event","timestamp":%d,"data":{
		"id":"user_nul1","object":"user","primary_email_address_id":"idn_0",
		"email_addresses":[{"id":"idn_0","email_address":"a\u0000da@example.com","verification":{"status":"verified"}}],
		"first_name":"A\u0000da","last_name":"Love\u0000lace","username":"ada\u0000",
		"image_url":"https://img.clerk.com/\u0000ada","updated_at":%d}}`, at.UnixMilli(), at.UnixMilli()))

	wantStatus(t, e.Deliver("msg_nul_1", body), http.StatusOK, "ok")
	var name, mail, avatar string
	if err := e.Store.Pool().QueryRow(ctx, `SELECT name, email, avatar_url FROM users WHERE clerk_id = 'user_nul1'`).
		Scan(&name, &mail, &avatar); err != nil {
		t.Fatal(err)
	}
	if name != "Ada Lovelace" || mail != "ada@example.com" || avatar != "https://img.clerk.com/ada" {
		t.Fatalf("stored name %q email %q avatar %q", name, mail, avatar)
	}
	wantStatus(t, e.Deliver("msg_nul_1", body), http.StatusOK, "already_processed")

	// The same through the package's own steps: verify, decode, apply.
	v, err := webhook.NewVerifier(e.WebhookSecret)
	if err != nil {
		t.Fatal(err)
	}
	body2 := []byte(strings.ReplaceAll(string(body), "user_nul1", "user_nul2"))
	if err := v.Verify(body2, apitest.SignedHeaders(t, e.WebhookSecret, "msg_nul_2", time.Now(), body2)); err != nil {
		t.Fatal(err)
	}
	ev, err := webhook.Decode(body2)
	if err != nil {
		t.Fatal(err)
	}
	res, err := (&webhook.Applier{Store: e.Store}).Apply(ctx, store.SystemActor, "msg_nul_2", ev)
	if err != nil || res != store.WebhookOK {
		t.Fatalf("Apply = %q, %v", res, err)
	}

	// An event type with U+0000 is recorded (ignored), not a 500.
	wantStatus(t, e.Deliver("msg_nul_3", []byte(`{"type":"session.created\u0000","object":"event","data":{"id":"sess_1"}}`)),
		http.StatusOK, "ignored")
	// A user id with U+0000 is not rewritten into another id: 400.
	for i, b := range []string{
		`{"type":"user.updated","data":{"id":"user_nul1\u0000","email_addresses":[{"id":"idn_0","email_address":"x@example.com"}],"primary_email_address_id":"idn_0","updated_at":1}}`,
		`{"type":"user.deleted","data":{"id":"user_nul1\u0000","deleted":true}}`,
	} {
		if r := e.Deliver(fmt.Sprintf("msg_nul_id_%d", i), []byte(b)); r.Status != http.StatusBadRequest {
			t.Errorf("delivery %d: %d %s, want 400", i, r.Status, r.Body)
		}
	}
}

// TestWebhookUnverifiedEmailIsNotIdentity: a Clerk user whose primary
// address is unverified is stored, but with PLG gating off it still gets no
// product access and cannot accept an invitation sent to that address,
// until a user.updated brings it verified. A verified secondary address is
// used instead of an unverified primary one.
func TestWebhookUnverifiedEmailIsNotIdentity(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	ctx := context.Background()
	owner := apitest.NewUser(t, e.Store, "owner@example.com", store.NewUserPolicy{Active: true})
	ws := apitest.InsertWorkspace(t, e.Store, "Acme", owner.ID)
	inv, err := e.Store.CreateInvitation(ctx, store.Actor{Type: store.ActorUser, ID: owner.ID}, ws, store.NewInvitation{Email: "victim@example.com", Role: store.RoleAdmin})
	if err != nil {
		t.Fatal(err)
	}
	tok := e.Mint(devtoken.Options{Subject: "user_claimant", TTL: time.Hour})
	me := func() (access bool, status, mail string) {
		t.Helper()
		r := e.Get("/api/auth/me", tok)
		var u struct {
			HasProductAccess bool   `json:"has_product_access"`
			AccessStatus     string `json:"access_status"`
			Email            string `json:"email"`
		}
		r.JSON(t, &u)
		if r.Status != http.StatusOK {
			t.Fatalf("GET /api/auth/me = %d %s", r.Status, r.Body)
		}
		return u.HasProductAccess, u.AccessStatus, u.Email
	}
	accept := func() *apitest.Response {
		return e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/invitations/" + inv.Token + "/accept", Token: tok})
	}

	t0 := time.Now().Add(-time.Hour)
	wantStatus(t, e.Deliver("msg_unv_1", userEvent("user.created", "user_claimant",
		[]email{{"victim@example.com", "unverified"}}, 0, "Mallory", t0)), http.StatusOK, "ok")
	if access, status, mail := me(); access || status != "pending" || mail != "victim@example.com" {
		t.Fatalf("unverified user: access %v status %s email %s; want no access, pending, the shown email", access, status, mail)
	}
	if r := accept(); r.Status != http.StatusForbidden || r.Code() != "INVITATION_EMAIL_MISMATCH" {
		t.Fatalf("accept with an unverified email: %d %s", r.Status, r.Body)
	}

	// A verified secondary address is the email while the primary is not.
	wantStatus(t, e.Deliver("msg_unv_2", userEvent("user.updated", "user_claimant",
		[]email{{"victim@example.com", "unverified"}, {"mallory@example.com", "verified"}}, 0, "Mallory", t0.Add(time.Second))),
		http.StatusOK, "ok")
	if access, status, mail := me(); !access || status != "active" || mail != "mallory@example.com" {
		t.Fatalf("verified secondary: access %v status %s email %s", access, status, mail)
	}
	if r := accept(); r.Status != http.StatusForbidden || r.Code() != "INVITATION_EMAIL_MISMATCH" {
		t.Fatalf("accept as mallory@: %d %s", r.Status, r.Body)
	}

	// Clerk verifies the primary: now it is identity.
	wantStatus(t, e.Deliver("msg_unv_3", userEvent("user.updated", "user_claimant",
		[]email{{"victim@example.com", "verified"}, {"mallory@example.com", "verified"}}, 0, "Mallory", t0.Add(2*time.Second))),
		http.StatusOK, "ok")
	if r := accept(); r.Status != http.StatusOK {
		t.Fatalf("accept with the verified email: %d %s", r.Status, r.Body)
	}
}

// TestWebhookUnverifiedGetsAccessOnVerification: with PLG gating off, the
// access a verified newcomer gets at once is granted to an unverified one
// when Clerk verifies the address (and not before).
func TestWebhookUnverifiedGetsAccessOnVerification(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	ctx := context.Background()
	t0 := time.Now().Add(-time.Hour)
	access := func(clerkID string) (bool, string) {
		t.Helper()
		var ok bool
		var status string
		if err := e.Store.Pool().QueryRow(ctx, `SELECT has_product_access, access_status FROM users WHERE clerk_id = $1`,
			clerkID).Scan(&ok, &status); err != nil {
			t.Fatal(err)
		}
		return ok, status
	}
	wantStatus(t, e.Deliver("msg_v_1", userEvent("user.created", "user_verified", []email{{"v@example.com", "verified"}}, 0, "V", t0)),
		http.StatusOK, "ok")
	if ok, status := access("user_verified"); !ok || status != "active" {
		t.Fatalf("verified newcomer: access %v status %s", ok, status)
	}
	wantStatus(t, e.Deliver("msg_v_2", userEvent("user.created", "user_later", []email{{"l@example.com", ""}}, 0, "L", t0)),
		http.StatusOK, "ok")
	if ok, status := access("user_later"); ok || status != "pending" {
		t.Fatalf("unverified newcomer: access %v status %s", ok, status)
	}
	wantStatus(t, e.Deliver("msg_v_3", userEvent("user.updated", "user_later", []email{{"l@example.com", "verified"}}, 0, "L", t0.Add(time.Second))),
		http.StatusOK, "ok")
	if ok, status := access("user_later"); !ok || status != "active" {
		t.Fatalf("after verification: access %v status %s", ok, status)
	}
}
