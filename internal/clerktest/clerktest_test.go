package clerktest_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/jwks"
	clerkuserapi "github.com/clerk/clerk-sdk-go/v2/user"

	"github.com/praxiom/praxiom-api/internal/clerktest"
	"github.com/praxiom/praxiom-api/internal/devtoken"
)

var (
	keyA = sync.OnceValue(mustKey)
	keyB = sync.OnceValue(mustKey)
)

func mustKey() *devtoken.Key {
	k, err := devtoken.Generate()
	if err != nil {
		panic(err)
	}
	return k
}

// config is an SDK client configuration for the fake with secret.
func config(s *clerktest.Server, secret string) *clerk.ClientConfig {
	return &clerk.ClientConfig{BackendConfig: clerk.BackendConfig{
		URL: clerk.String(s.URL()), Key: clerk.String(secret),
		HTTPClient: &http.Client{Timeout: 5 * time.Second},
	}}
}

func kids(t *testing.T, s *clerktest.Server) []string {
	t.Helper()
	set, err := jwks.NewClient(config(s, clerktest.SecretKey)).Get(context.Background(), &jwks.GetParams{})
	if err != nil {
		t.Fatalf("JWKS: %v", err)
	}
	var out []string
	for _, k := range set.Keys {
		if k.Algorithm != "RS256" {
			t.Errorf("key %s has alg %q", k.KeyID, k.Algorithm)
		}
		out = append(out, k.KeyID)
	}
	return out
}

// get sends a GET with the secret key and returns status and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+clerktest.SecretKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestJWKS(t *testing.T) {
	s := clerktest.New(t, keyA())
	if got := kids(t, s); len(got) != 1 || got[0] != keyA().KID {
		t.Fatalf("kids = %v, want [%s]", got, keyA().KID)
	}

	s.SetKeys(keyA(), keyB())
	if got := kids(t, s); len(got) != 2 || got[1] != keyB().KID {
		t.Fatalf("kids after SetKeys = %v", got)
	}

	s.SetJWKSStatus(http.StatusInternalServerError)
	if _, err := jwks.NewClient(config(s, clerktest.SecretKey)).Get(context.Background(), &jwks.GetParams{}); err == nil {
		t.Fatal("JWKS answered despite status 500")
	}
	if status, body := get(t, s.URL()+"/jwks"); status != 500 || !strings.Contains(body, `"internal_clerk_error"`) {
		t.Fatalf("failing JWKS = %d %s", status, body)
	}
	s.SetJWKSStatus(http.StatusOK)
	if got := kids(t, s); len(got) != 2 {
		t.Fatalf("kids after recovery = %v", got)
	}

	s.SetJWKSStatus(http.StatusServiceUnavailable)
	s.SetJWKSBody([]byte(`{"keys":[]}`)) // a new body serves 200 again
	if status, body := get(t, s.URL()+"/jwks"); status != 200 || body != `{"keys":[]}` {
		t.Fatalf("raw JWKS = %d %s", status, body)
	}

	if got, want := s.JWKSFetches(), int64(6); got != want {
		t.Errorf("JWKSFetches = %d, want %d", got, want)
	}
	for i, h := range s.AuthHeaders() {
		if h != "Bearer "+clerktest.SecretKey {
			t.Errorf("Authorization header %d = %q", i, h)
		}
	}
	if s.BadAuth() != 0 {
		t.Errorf("BadAuth = %d", s.BadAuth())
	}
}

func TestSecretRequired(t *testing.T) {
	s := clerktest.New(t, keyA())
	_, err := jwks.NewClient(config(s, "sk_test_wrong")).Get(context.Background(), &jwks.GetParams{})
	var apiErr *clerk.APIErrorResponse
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != http.StatusUnauthorized {
		t.Fatalf("JWKS with the wrong secret: %v, want a Clerk 401", err)
	}
	s.AddUser(clerktest.User{ID: "user_1", Emails: clerktest.Emails("a@example.com")})
	_, err = clerkuserapi.NewClient(config(s, "sk_test_wrong")).Get(context.Background(), "user_1")
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != http.StatusUnauthorized {
		t.Fatalf("user with the wrong secret: %v, want a Clerk 401", err)
	}
	if s.BadAuth() != 2 || s.JWKSFetches() != 1 || s.UserCalls("user_1") != 1 {
		t.Errorf("BadAuth = %d, JWKSFetches = %d, UserCalls = %d; want 2, 1, 1",
			s.BadAuth(), s.JWKSFetches(), s.UserCalls("user_1"))
	}
	if got := s.AuthHeaders(); len(got) != 2 || got[0] != "Bearer sk_test_wrong" {
		t.Errorf("AuthHeaders = %q", got)
	}
}

func TestHoldJWKS(t *testing.T) {
	s := clerktest.New(t, keyA())
	s.HoldJWKS()
	done := make(chan []string, 1)
	go func() { done <- kids(t, s) }()
	deadline := time.Now().Add(5 * time.Second)
	for s.JWKSFetches() == 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	select {
	case <-done:
		t.Fatal("a held JWKS request was answered")
	case <-time.After(50 * time.Millisecond):
	}
	s.OpenJWKS()
	select {
	case got := <-done:
		if len(got) != 1 {
			t.Fatalf("kids = %v", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("OpenJWKS did not release the request")
	}
	s.OpenJWKS() // nothing held: no panic
}

func TestUsers(t *testing.T) {
	s := clerktest.New(t)
	client := clerkuserapi.NewClient(config(s, clerktest.SecretKey))
	ctx := context.Background()
	upd := time.Date(2026, 3, 27, 10, 30, 0, 0, time.UTC)
	s.AddUser(clerktest.User{
		ID: "user_ada", Primary: 1, FirstName: "Ada", LastName: "Lovelace", ImageURL: "https://img.example/ada.png",
		Emails: []clerktest.Email{
			{Address: "old@example.com", Status: clerktest.Unverified},
			{Address: "ada@example.com"},
			{Address: "none@example.com", Status: clerktest.NullVerification},
		},
		UpdatedAt: upd,
	})
	u, err := client.Get(ctx, "user_ada")
	if err != nil {
		t.Fatalf("Get: %v", err)
	}
	if u.ID != "user_ada" || *u.FirstName != "Ada" || *u.LastName != "Lovelace" || u.Username != nil ||
		*u.PrimaryEmailAddressID != "idn_1" || u.UpdatedAt != upd.UnixMilli() || *u.ImageURL != "https://img.example/ada.png" {
		t.Errorf("user = %+v", u)
	}
	if len(u.EmailAddresses) != 3 {
		t.Fatalf("email addresses = %+v", u.EmailAddresses)
	}
	for i, want := range []string{"unverified", "verified", ""} {
		e := u.EmailAddresses[i]
		got := ""
		if e.Verification != nil {
			got = e.Verification.Status
		}
		if got != want {
			t.Errorf("address %d (%s): verification %q, want %q", i, e.EmailAddress, got, want)
		}
	}

	// Failures, raw bodies, removal; AddUser replaces a failure.
	status := func(id string) int {
		_, err := client.Get(ctx, id)
		if err == nil {
			return 200
		}
		var apiErr *clerk.APIErrorResponse
		if errors.As(err, &apiErr) {
			return apiErr.HTTPStatusCode
		}
		return -1 // not Clerk's JSON envelope
	}
	if got := status("user_unknown"); got != 404 {
		t.Errorf("unknown user: %d, want 404", got)
	}
	s.FailUser("user_ada", 429)
	if got := status("user_ada"); got != 429 {
		t.Errorf("failed user: %d, want 429", got)
	}
	s.SetUserRaw("user_ada", 502, "<html>bad gateway</html>")
	if code, body := get(t, s.URL()+"/users/user_ada"); code != 502 || body != "<html>bad gateway</html>" {
		t.Errorf("raw user = %d %q", code, body)
	}
	s.SetUserRaw("user_ada", 200, `{"id":"user_ada","object":"user","primary_email_address_id":"idn_gone","email_addresses":[]}`)
	if u, err := client.Get(ctx, "user_ada"); err != nil || *u.PrimaryEmailAddressID != "idn_gone" {
		t.Errorf("raw JSON user = %+v, %v", u, err)
	}
	s.AddUser(clerktest.User{ID: "user_ada", Emails: clerktest.Emails("back@example.com")})
	if got := status("user_ada"); got != 200 {
		t.Errorf("re-added user: %d, want 200", got)
	}
	s.RemoveUser("user_ada")
	if got := status("user_ada"); got != 404 {
		t.Errorf("removed user: %d, want 404", got)
	}

	if got := s.UserCalls("user_ada"); got != 6 {
		t.Errorf("UserCalls(user_ada) = %d, want 6", got)
	}
	if got := s.TotalUserCalls(); got != 7 {
		t.Errorf("TotalUserCalls = %d, want 7", got)
	}
	if s.JWKSFetches() != 0 {
		t.Errorf("JWKSFetches = %d", s.JWKSFetches())
	}
}

func TestUserObjectDefaults(t *testing.T) {
	obj := clerktest.User{ID: "user_x"}.Object()
	if obj["primary_email_address_id"] != nil || obj["first_name"] != nil || obj["has_image"] != false {
		t.Errorf("object = %v", obj)
	}
	obj = clerktest.User{ID: "user_x", Emails: clerktest.Emails("a@example.com"), Primary: 4}.Object()
	if obj["primary_email_address_id"] != "idn_4" {
		t.Errorf("dangling primary = %v, want idn_4", obj["primary_email_address_id"])
	}
	obj = clerktest.User{ID: "user_x", Emails: clerktest.Emails("a@example.com"), Primary: -1}.Object()
	if obj["primary_email_address_id"] != nil {
		t.Errorf("primary -1 = %v, want null", obj["primary_email_address_id"])
	}
}

func TestUserDelay(t *testing.T) {
	s := clerktest.New(t)
	s.AddUser(clerktest.User{ID: "user_slow", Emails: clerktest.Emails("s@example.com")})
	s.SetUserDelay(100 * time.Millisecond)
	start := time.Now()
	if code, _ := get(t, s.URL()+"/users/user_slow"); code != 200 {
		t.Fatalf("status %d", code)
	}
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("answered after %s, want at least the delay", d)
	}
}

func TestClose(t *testing.T) {
	s := clerktest.New(t, keyA())
	s.HoldJWKS()
	s.Close()
	s.Close()
	if _, err := jwks.NewClient(config(s, clerktest.SecretKey)).Get(context.Background(), &jwks.GetParams{}); err == nil {
		t.Fatal("a closed fake answered")
	}
	if code, _ := getNoFail(s.URL() + "/jwks"); code != 0 {
		t.Fatalf("closed fake answered %d", code)
	}
}

func getNoFail(url string) (int, error) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

func TestUnknownPath(t *testing.T) {
	s := clerktest.New(t)
	if code, body := get(t, s.URL()+"/sessions"); code != 404 || !strings.Contains(body, "resource_not_found") {
		t.Fatalf("unknown path = %d %s", code, body)
	}
}

func TestStartWithoutTB(t *testing.T) {
	s := clerktest.Start(keyA())
	if got := kids(t, s); len(got) != 1 || got[0] != keyA().KID {
		t.Fatalf("kids = %v, want [%s]", got, keyA().KID)
	}
	s.Close()
	if code, _ := getNoFail(s.URL() + "/jwks"); code != 0 {
		t.Fatalf("closed fake answered %d", code)
	}
}

func TestJWKSFetchTimes(t *testing.T) {
	s := clerktest.New(t, keyA())
	before := time.Now()
	kids(t, s)
	get(t, s.URL()+"/users/user_none") // not a JWKS request
	kids(t, s)
	after := time.Now()
	times := s.JWKSFetchTimes()
	if len(times) != 2 || int64(len(times)) != s.JWKSFetches() {
		t.Fatalf("JWKSFetchTimes = %v, JWKSFetches = %d; want 2 of each", times, s.JWKSFetches())
	}
	if times[0].Before(before) || times[1].Before(times[0]) || times[1].After(after) {
		t.Errorf("times %v not in order within [%v, %v]", times, before, after)
	}
}

func TestUserEvent(t *testing.T) {
	at := time.Date(2026, 3, 27, 10, 30, 0, 0, time.UTC)
	u := clerktest.User{ID: "user_ev", Emails: clerktest.Emails("ev@example.com"), FirstName: "Eve", UpdatedAt: at}
	var ev struct {
		Type      string         `json:"type"`
		Object    string         `json:"object"`
		Timestamp int64          `json:"timestamp"`
		Data      map[string]any `json:"data"`
	}
	if err := json.Unmarshal(u.Event("user.updated"), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Type != "user.updated" || ev.Object != "event" || ev.Timestamp != at.UnixMilli() {
		t.Errorf("envelope = %+v", ev)
	}
	want, _ := json.Marshal(u.Object())
	if got, _ := json.Marshal(ev.Data); string(got) != string(want) {
		t.Errorf("data = %s, want the user object %s", got, want)
	}
	// Without UpdatedAt the event is stamped now.
	before := time.Now().UnixMilli()
	if err := json.Unmarshal(clerktest.User{ID: "user_now"}.Event("user.created"), &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Timestamp < before || ev.Data["updated_at"] != float64(ev.Timestamp) {
		t.Errorf("timestamp %d, updated_at %v; want both now", ev.Timestamp, ev.Data["updated_at"])
	}
}
