package clerkuser_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/clerk/clerk-sdk-go/v2"

	"github.com/praxiom/praxiom-api/internal/clerkuser"
)

// user decodes a Clerk User object from JSON, as the webhook and the
// Backend API deliver it.
func user(t *testing.T, js string) *clerk.User {
	t.Helper()
	var u clerk.User
	if err := json.Unmarshal([]byte(js), &u); err != nil {
		t.Fatalf("test user: %v", err)
	}
	return &u
}

// addr is one email_addresses entry; status "" leaves verification out.
func addr(id, email, status string) string {
	v := `null`
	if status != "" {
		v = `{"status":"` + status + `","strategy":"email_code"}`
	}
	return `{"id":"` + id + `","object":"email_address","email_address":"` + email + `","verification":` + v + `}`
}

func TestProfileFromUserEmail(t *testing.T) {
	for name, c := range map[string]struct {
		primary      string // JSON: a quoted id or null
		addrs        []string
		wantEmail    string
		wantVerified bool
		wantErr      error
	}{
		"primary verified": {`"idn_1"`, []string{addr("idn_0", "first@example.com", "verified"), addr("idn_1", "Ada@Example.com", "verified")},
			"ada@example.com", true, nil},
		"primary unverified, another verified": {`"idn_0"`, []string{addr("idn_0", "victim@example.com", "unverified"), addr("idn_1", "mine@example.com", "verified")},
			"mine@example.com", true, nil},
		"first verified of several": {`"idn_0"`, []string{addr("idn_0", "p@example.com", "expired"), addr("idn_1", "x@example.com", "unverified"),
			addr("idn_2", "y@example.com", "verified"), addr("idn_3", "z@example.com", "verified")}, "y@example.com", true, nil},
		"none verified: the primary, unverified": {`"idn_1"`, []string{addr("idn_0", "a@example.com", "unverified"), addr("idn_1", "victim@example.com", "unverified")},
			"victim@example.com", false, nil},
		"verification missing counts as unverified": {`"idn_0"`, []string{addr("idn_0", "victim@example.com", "")},
			"victim@example.com", false, nil},
		"status is matched exactly": {`"idn_0"`, []string{addr("idn_0", "victim@example.com", "Verified")},
			"victim@example.com", false, nil},
		"transferable is not verified": {`"idn_0"`, []string{addr("idn_0", "victim@example.com", "transferable")},
			"victim@example.com", false, nil},
		"no primary id, none verified: the first": {`null`, []string{addr("idn_0", "a@example.com", "unverified"), addr("idn_1", "b@example.com", "unverified")},
			"a@example.com", false, nil},
		"no primary id, one verified": {`null`, []string{addr("idn_0", "a@example.com", "unverified"), addr("idn_1", "b@example.com", "verified")},
			"b@example.com", true, nil},
		"dangling primary id, one verified": {`"idn_9"`, []string{addr("idn_0", "a@example.com", "unverified"), addr("idn_1", "b@example.com", "verified")},
			"", false, clerkuser.ErrNoEmail},
		"dangling primary id, none verified": {`"idn_9"`, []string{addr("idn_0", "a@example.com", "unverified")},
			"", false, clerkuser.ErrNoEmail},
		"no addresses": {`null`, nil, "", false, clerkuser.ErrNoEmail},
		"blank addresses skipped": {`"idn_2"`, []string{addr("idn_0", "  ", "verified"), addr("idn_1", "b@example.com", "verified"),
			addr("idn_2", "c@example.com", "unverified")}, "b@example.com", true, nil},
		"blank primary": {`"idn_0"`, []string{addr("idn_0", "  ", "verified"), addr("idn_1", "b@example.com", "verified")},
			"", false, clerkuser.ErrNoEmail},
	} {
		t.Run(name, func(t *testing.T) {
			u := user(t, `{"id":"user_1","primary_email_address_id":`+c.primary+`,"email_addresses":[`+strings.Join(c.addrs, ",")+`]}`)
			p, err := clerkuser.ProfileFromUser(u)
			if c.wantErr != nil {
				if !errors.Is(err, c.wantErr) {
					t.Fatalf("err = %v, want %v", err, c.wantErr)
				}
				return
			}
			if err != nil || p.Email != c.wantEmail || p.EmailVerified != c.wantVerified {
				t.Fatalf("= email %q verified %v (%v), want %q %v", p.Email, p.EmailVerified, err, c.wantEmail, c.wantVerified)
			}
		})
	}
}

func TestProfileFromUserRemovesNUL(t *testing.T) {
	u := user(t, `{"id":"user_1","primary_email_address_id":"idn_0",
		"email_addresses":[`+addr("idn_0", `a\u0000da@exa\u0000mple.com`, "verified")+`],
		"first_name":"A\u0000da","last_name":"\u0000Love\u0000lace\u0000","username":"a\u0000",
		"image_url":"https://img.example/\u0000x","updated_at":1774607400000}`)
	p, err := clerkuser.ProfileFromUser(u)
	if err != nil {
		t.Fatal(err)
	}
	if p.Email != "ada@example.com" || p.Name != "Ada Lovelace" || p.AvatarURL == nil || *p.AvatarURL != "https://img.example/x" {
		t.Fatalf("profile = %+v (avatar %v)", p, p.AvatarURL)
	}

	// The username and the email's local part, when they are the name.
	u = user(t, `{"id":"user_1","primary_email_address_id":"idn_0","email_addresses":[`+addr("idn_0", "ada@example.com", "verified")+`],
		"username":"\u0000ada\u0000"}`)
	if p, _ := clerkuser.ProfileFromUser(u); p.Name != "ada" {
		t.Errorf("name from username = %q", p.Name)
	}
	u = user(t, `{"id":"user_1","primary_email_address_id":"idn_0","email_addresses":[`+addr("idn_0", `\u0000@example.com`, "verified")+`],
		"first_name":"\u0000","username":"\u0000"}`)
	if p, err := clerkuser.ProfileFromUser(u); err != nil || strings.ContainsRune(p.Name+p.Email, 0) {
		t.Errorf("all-NUL strings: %+v %v", p, err)
	}

	// An id is never rewritten: one with U+0000 is refused.
	u = user(t, `{"id":"user_\u00001","primary_email_address_id":"idn_0","email_addresses":[`+addr("idn_0", "ada@example.com", "verified")+`]}`)
	if _, err := clerkuser.ProfileFromUser(u); err == nil || errors.Is(err, clerkuser.ErrNoEmail) {
		t.Errorf("id with NUL: err = %v, want a refusal", err)
	}
}

func TestStripNUL(t *testing.T) {
	for in, want := range map[string]string{"": "", "abc": "abc", "\x00": "", "a\x00b\x00\x00c": "abc", "é\x00ü": "éü"} {
		if got := clerkuser.StripNUL(in); got != want {
			t.Errorf("StripNUL(%q) = %q, want %q", in, got, want)
		}
	}
}
