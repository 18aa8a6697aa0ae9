package httpapi_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/httpapi"
	"github.com/praxiom/praxiom-api/internal/ratelimit"
	"github.com/praxiom/praxiom-api/internal/smtptest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// wlStatus is what joining answers.
type wlStatus struct {
	Status   string `json:"status"`
	Position *int   `json:"position"`
}

// wlEntry is a waitlist entry as admins see it.
type wlEntry struct {
	ID         uuid.UUID  `json:"id"`
	Email      string     `json:"email"`
	Name       *string    `json:"name"`
	Position   *int       `json:"position"`
	Status     string     `json:"status"`
	Source     *string    `json:"source"`
	ReferredBy *uuid.UUID `json:"referred_by"`
	CreatedAt  time.Time  `json:"created_at"`
	ApprovedAt *time.Time `json:"approved_at"`
}

type wlList struct {
	Entries []wlEntry `json:"entries"`
	Total   int       `json:"total"`
}

type wlApproval struct {
	Approved int `json:"approved_count"`
	Codes    int `json:"codes_generated"`
	Emails   int `json:"emails_queued"`
}

func wlJoin(e *apitest.Env, body any) *apitest.Response {
	return e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/waitlist", Body: body})
}

// wlJoined joins with email and wants status and position.
func wlJoined(t *testing.T, e *apitest.Env, body map[string]any, code int, status string, position int) {
	t.Helper()
	got := wantJSON[wlStatus](t, wlJoin(e, body), code)
	if got.Status != status || (position == 0) != (got.Position == nil) || (got.Position != nil && *got.Position != position) {
		t.Fatalf("join %v: %+v, want %s at %d", body, got, status, position)
	}
}

func wlListed(t *testing.T, e *apitest.Env, tok, query string) wlList {
	t.Helper()
	return wantJSON[wlList](t, e.Get("/api/admin/waitlist"+query, tok), http.StatusOK)
}

func wlApprove(e *apitest.Env, tok string, ids any) *apitest.Response {
	return e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/admin/waitlist/approve", Token: tok,
		Body: map[string]any{"waitlist_entry_ids": ids}})
}

func wlIDs(l wlList) []uuid.UUID {
	out := make([]uuid.UUID, len(l.Entries))
	for i, e := range l.Entries {
		out[i] = e.ID
	}
	return out
}

// TestWaitlistPositions: a new email joins at 1 + the waiting entries
// before it (201); a known one, in any case, answers its current status
// and position (200) and changes nothing; approving an entry moves the
// ones after it up, and it answers approved with no position.
func TestWaitlistPositions(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	wlJoined(t, e, map[string]any{"email": "first@example.com", "name": "First", "source": "newsletter"}, http.StatusCreated, "waiting", 1)
	wlJoined(t, e, map[string]any{"email": "second@example.com"}, http.StatusCreated, "waiting", 2)
	wlJoined(t, e, map[string]any{"email": " THIRD@Example.com ", "name": nil, "referral_code": nil, "source": nil}, http.StatusCreated, "waiting", 3)
	wlJoined(t, e, map[string]any{"email": "Second@EXAMPLE.com", "name": "Changed", "source": "other"}, http.StatusOK, "waiting", 2)
	if n := scalar[int](t, e, `SELECT count(*) FROM waitlist_entries`); n != 3 {
		t.Fatalf("%d entries, want 3", n)
	}
	if name := scalar[*string](t, e, `SELECT name FROM waitlist_entries WHERE email = 'second@example.com'`); name != nil {
		t.Errorf("joining again changed the name to %q", *name)
	}
	if email := scalar[string](t, e, `SELECT email FROM waitlist_entries ORDER BY seq DESC LIMIT 1`); email != "third@example.com" {
		t.Errorf("stored %q, want lower-case and trimmed", email)
	}

	admin := acAdmin(t, e, "admin@example.com")
	l := wlListed(t, e, admin, "")
	if l.Total != 3 || len(l.Entries) != 3 || l.Entries[0].Email != "first@example.com" || l.Entries[2].Email != "third@example.com" {
		t.Fatalf("list = %+v", l)
	}
	f := l.Entries[0]
	if *f.Position != 1 || *f.Name != "First" || *f.Source != "newsletter" || f.Status != "waiting" || f.ReferredBy != nil || f.ApprovedAt != nil {
		t.Errorf("first entry %+v", f)
	}
	if l.Entries[1].Name != nil || l.Entries[1].Source != nil || *l.Entries[2].Position != 3 {
		t.Errorf("entries %+v", l.Entries)
	}

	got := wantJSON[wlApproval](t, wlApprove(e, admin, []uuid.UUID{f.ID}), http.StatusOK)
	if got != (wlApproval{1, 1, 0}) {
		t.Errorf("approval %+v, want 1 approved, 1 code, no email (email off)", got)
	}
	wlJoined(t, e, map[string]any{"email": "first@example.com"}, http.StatusOK, "approved", 0)
	wlJoined(t, e, map[string]any{"email": "second@example.com"}, http.StatusOK, "waiting", 1)
	wlJoined(t, e, map[string]any{"email": "fourth@example.com"}, http.StatusCreated, "waiting", 3)

	l = wlListed(t, e, admin, "")
	if l.Total != 3 || l.Entries[0].Email != "second@example.com" || *l.Entries[0].Position != 1 || *l.Entries[2].Position != 3 {
		t.Errorf("waiting after approval = %+v", l)
	}
	a := wlListed(t, e, admin, "?status=approved")
	if a.Total != 1 || a.Entries[0].ID != f.ID || a.Entries[0].Position != nil || a.Entries[0].Status != "approved" ||
		a.Entries[0].ApprovedAt == nil {
		t.Errorf("approved list = %+v", a)
	}
	// Pages keep the positions of the whole list.
	page := wlListed(t, e, admin, "?limit=1&offset=1")
	if page.Total != 3 || len(page.Entries) != 1 || *page.Entries[0].Position != 2 {
		t.Errorf("page = %+v", page)
	}
	if past := wlListed(t, e, admin, "?offset=10"); past.Total != 3 || len(past.Entries) != 0 {
		t.Errorf("past the end = %+v", past)
	}
	for _, q := range []string{"?status=bogus", "?status=", "?status=waiting&status=approved", "?limit=0", "?offset=-1"} {
		wantError(t, e.Get("/api/admin/waitlist"+q, admin), http.StatusBadRequest, "BAD_REQUEST")
	}
}

// TestWaitlistReferrals: a referral code (any case) records its user as the
// referrer and counts in the user's referral_count on /api/auth/me; an
// unknown code, a deleted user's and one's own are ignored; joining again
// counts nothing. referral_count comes with the one query that
// authenticates the request.
func TestWaitlistReferrals(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	ada := signUp(t, e, "ada@example.com")
	me := decodeMe(t, e.Get("/api/auth/me", ada.Token))
	if me.ReferralCount != 0 {
		t.Fatalf("referral_count %d before any referral", me.ReferralCount)
	}
	code := me.ReferralCode
	wlJoined(t, e, map[string]any{"email": "b@example.com", "referral_code": strings.ToLower(code)}, http.StatusCreated, "waiting", 1)
	wlJoined(t, e, map[string]any{"email": "c@example.com", "referral_code": "  " + code + " "}, http.StatusCreated, "waiting", 2)
	wlJoined(t, e, map[string]any{"email": "c@example.com", "referral_code": code}, http.StatusOK, "waiting", 2)
	wlJoined(t, e, map[string]any{"email": "d@example.com", "referral_code": "NOSUCHCD"}, http.StatusCreated, "waiting", 3)
	wlJoined(t, e, map[string]any{"email": "e@example.com", "referral_code": strings.Repeat("X", 10000)}, http.StatusCreated, "waiting", 4)
	wlJoined(t, e, map[string]any{"email": "ada@example.com", "referral_code": code}, http.StatusCreated, "waiting", 5)

	if got := decodeMe(t, e.Get("/api/auth/me", ada.Token)).ReferralCount; got != 2 {
		t.Errorf("referral_count %d, want 2", got)
	}
	refs := map[string]*uuid.UUID{}
	admin := acAdmin(t, e, "admin@example.com")
	for _, en := range wlListed(t, e, admin, "").Entries {
		refs[en.Email] = en.ReferredBy
	}
	for email, want := range map[string]bool{"b@example.com": true, "c@example.com": true, "d@example.com": false,
		"e@example.com": false, "ada@example.com": false} {
		got := refs[email]
		if (got != nil) != want || (got != nil && *got != ada.ID) {
			t.Errorf("%s referred_by %v, want referred: %v", email, got, want)
		}
	}

	// A deleted user's code refers no one.
	zed := signUp(t, e, "zed@example.com")
	zcode := decodeMe(t, e.Get("/api/auth/me", zed.Token)).ReferralCode
	execSQL(t, e, `UPDATE users SET deleted_at = now() WHERE id = $1`, zed.ID)
	wlJoined(t, e, map[string]any{"email": "f@example.com", "referral_code": zcode}, http.StatusCreated, "waiting", 6)
	if n := scalar[int](t, e, `SELECT count(*) FROM waitlist_entries WHERE referred_by = $1`, zed.ID); n != 0 {
		t.Errorf("a deleted user referred %d", n)
	}

	// The count survives approval, and comes from the user row.
	wantStatus(t, wlApprove(e, admin, []uuid.UUID{scalar[uuid.UUID](t, e, `SELECT id FROM waitlist_entries WHERE email = 'b@example.com'`)}),
		http.StatusOK)
	if got := scalar[int](t, e, `SELECT referral_count FROM users WHERE id = $1`, ada.ID); got != 2 {
		t.Errorf("users.referral_count %d, want 2", got)
	}
}

// TestWaitlistValidation: 422 names every bad field; bodies that are not
// JSON objects are 400; the wrong media type is 415; nothing is stored.
func TestWaitlistValidation(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	for _, tc := range []struct {
		name string
		body any
		want []string
	}{
		{"empty object", map[string]any{}, []string{"email"}},
		{"blank email", map[string]any{"email": "  "}, []string{"email"}},
		{"not an email", map[string]any{"email": "nope"}, []string{"email"}},
		{"display name", map[string]any{"email": "Ada <a@example.com>"}, []string{"email"}},
		{"long name", map[string]any{"email": "a@example.com", "name": strings.Repeat("é", 101)}, []string{"name"}},
		{"long source", map[string]any{"email": "a@example.com", "source": strings.Repeat("s", 51)}, []string{"source"}},
		{"everything", map[string]any{"email": "nope", "name": strings.Repeat("n", 101), "source": strings.Repeat("s", 51)}, []string{"email", "name", "source"}},
		{"wrong types", map[string]any{"email": "a@example.com", "name": 5, "referral_code": true, "source": []string{}}, []string{"name", "referral_code", "source"}},
		{"NUL", map[string]any{"email": "a@example.com", "name": "A\u0000B"}, []string{"name"}},
		{"unknown field", map[string]any{"email": "a@example.com", "position": 1}, []string{"position"}},
	} {
		t.Run(tc.name, func(t *testing.T) { wantFields(t, wlJoin(e, tc.body), tc.want...) })
	}
	// 100 characters (not bytes) and 50 are fine.
	wlJoined(t, e, map[string]any{"email": "max@example.com", "name": strings.Repeat("é", 100), "source": strings.Repeat("s", 50)},
		http.StatusCreated, "waiting", 1)
	wantError(t, wlJoin(e, `{"email":`), http.StatusBadRequest, "BAD_REQUEST")
	wantError(t, wlJoin(e, `[]`), http.StatusBadRequest, "BAD_REQUEST")
	wantError(t, e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/waitlist", Body: `{"email":"x@example.com"}`,
		Header: http.Header{"Content-Type": {"text/plain"}}}), http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
	wantError(t, e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/waitlist",
		Body: `{"email":"` + strings.Repeat("a", 2<<20) + `"}`}), http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
	// A body of 50,000 unknown keys: the answer names the first 20 and
	// stays small.
	var many strings.Builder
	many.WriteString(`{"email":"many@example.com"`)
	for i := range 50_000 {
		fmt.Fprintf(&many, `,"k%d":0`, i)
	}
	many.WriteString(`}`)
	r := wlJoin(e, many.String())
	env := wantError(t, r, http.StatusUnprocessableEntity, "VALIDATION_ERROR")
	if len(env.Error.Fields) != 20 || env.Error.Fields["k0"] == "" || env.Error.Fields["k19"] == "" || len(r.Body) > 4096 {
		t.Fatalf("%d fields named, %d bytes: %.300s", len(env.Error.Fields), len(r.Body), r.Body)
	}
	if !strings.Contains(env.Error.Message, "50000 unknown fields") {
		t.Fatalf("message %q", env.Error.Message)
	}
	r = e.Get("/api/waitlist", "")
	wantError(t, r, http.StatusMethodNotAllowed, "METHOD_NOT_ALLOWED")
	if n := scalar[int](t, e, `SELECT count(*) FROM waitlist_entries`); n != 1 {
		t.Errorf("%d entries after refused joins, want 1", n)
	}
}

// TestWaitlistPerIPLimit: joining is limited per client IP with the
// invitation look-up's budget (one per IP for the public routes).
func TestWaitlistPerIPLimit(t *testing.T) {
	e := apitest.New(t, apitest.Options{RateLimits: httpapi.RateLimits{Limiter: ratelimit.NewLocal(nil), PerIP: 3}})
	join := func(i int, remote string) *apitest.Response {
		return e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/waitlist", RemoteAddr: remote,
			Body: map[string]any{"email": fmt.Sprintf("ip%d@example.com", i)}})
	}
	for i := range 2 {
		r := join(i, "203.0.113.5:1000")
		wantStatus(t, r, http.StatusCreated)
		if r.Header.Get("X-RateLimit-Limit") != "3" {
			t.Errorf("X-RateLimit-Limit %q", r.Header.Get("X-RateLimit-Limit"))
		}
	}
	wantError(t, e.Do(apitest.Request{Method: http.MethodGet, Path: "/api/invitations/unknown-token", RemoteAddr: "203.0.113.5:3000"}),
		http.StatusNotFound, "NOT_FOUND") // the third, shared with the look-up
	r := join(9, "203.0.113.5:2000")
	wantError(t, r, http.StatusTooManyRequests, "RATE_LIMITED")
	if r.Header.Get("Retry-After") == "" {
		t.Error("429 without Retry-After")
	}
	wantStatus(t, join(10, "203.0.113.6:1000"), http.StatusCreated) // another client
	if n := scalar[int](t, e, `SELECT count(*) FROM waitlist_entries WHERE email = 'ip9@example.com'`); n != 0 {
		t.Error("a limited join was stored")
	}
}

// TestWaitlistAdminRoutesForbidden: only platform admins with a session
// reach the admin waitlist routes (they sit behind the /api/admin chain,
// which also refuses impersonated sessions).
func TestWaitlistAdminRoutesForbidden(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	wlJoined(t, e, map[string]any{"email": "w@example.com"}, http.StatusCreated, "waiting", 1)
	id := scalar[uuid.UUID](t, e, `SELECT id FROM waitlist_entries`)
	user := signUp(t, e, "user@example.com")
	root := signUp(t, e, "root@example.com")
	execSQL(t, e, `UPDATE users SET is_admin = true WHERE id = $1`, root.ID)
	ws := apitest.InsertWorkspace(t, e.Store, "Keys", root.ID)
	r := e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/workspaces/" + ws.String() + "/api-keys", Token: root.Token,
		Body: map[string]any{"name": "k", "role": "admin"}})
	key := wantJSON[struct {
		Key string `json:"key"`
	}](t, r, http.StatusCreated).Key
	for _, tc := range []struct {
		who, tok string
		status   int
		code     string
	}{
		{"user", user.Token, http.StatusForbidden, "FORBIDDEN"},
		{"an admin's API key", key, http.StatusForbidden, "FORBIDDEN"},
		{"anonymous", "", http.StatusUnauthorized, "UNAUTHORIZED"},
	} {
		t.Run(tc.who, func(t *testing.T) {
			wantError(t, e.Get("/api/admin/waitlist", tc.tok), tc.status, tc.code)
			wantError(t, wlApprove(e, tc.tok, []uuid.UUID{id}), tc.status, tc.code)
		})
	}
	if s := scalar[string](t, e, `SELECT status FROM waitlist_entries WHERE id = $1`, id); s != "waiting" {
		t.Errorf("a refused approval approved: %s", s)
	}
}

// TestWaitlistApprove: each waiting entry gets a fresh single-use code with
// its id in the metadata, and an email with the code and the redeem link;
// unknown and approved ids are skipped and not counted; approving again
// sends nothing; the emailed code works.
func TestWaitlistApprove(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	e := mailEnv(t, srv, apitest.Options{})
	admin := acAdmin(t, e, "admin@example.com")
	wlJoined(t, e, map[string]any{"email": "ann@example.com", "name": "Ann <i>&</i>"}, http.StatusCreated, "waiting", 1)
	wlJoined(t, e, map[string]any{"email": "ben@example.com"}, http.StatusCreated, "waiting", 2)
	wlJoined(t, e, map[string]any{"email": "cat@example.com"}, http.StatusCreated, "waiting", 3)
	ids := wlIDs(wlListed(t, e, admin, ""))

	got := wantJSON[wlApproval](t, wlApprove(e, admin, []uuid.UUID{ids[0], uuid.New(), ids[1], ids[0]}), http.StatusOK)
	if got != (wlApproval{2, 2, 2}) {
		t.Fatalf("approval %+v, want 2/2/2", got)
	}
	got = wantJSON[wlApproval](t, wlApprove(e, admin, []uuid.UUID{ids[0], ids[1]}), http.StatusOK)
	if got != (wlApproval{0, 0, 0}) {
		t.Fatalf("second approval %+v, want nothing", got)
	}
	msgs := srv.Wait(2, 10*time.Second)
	byTo := map[string]string{}
	for _, m := range msgs {
		byTo[m.To[0]] = m.MessageID
		var code string
		var meta json.RawMessage
		if err := e.Store.Pool().QueryRow(context.Background(), `SELECT c.code, c.metadata FROM waitlist_entries w
			JOIN access_codes c ON c.id = w.access_code_id WHERE w.email = $1`, m.To[0]).Scan(&code, &meta); err != nil {
			t.Fatal(err)
		}
		link := apitest.TestAppURL + "/redeem?code=" + code
		if !strings.Contains(m.Text, code) || !strings.Contains(m.Text, link) || !strings.Contains(m.HTML, `href="`+link+`"`) {
			t.Errorf("email to %s lacks the code %s or the link:\n%s\n%s", m.To[0], code, m.Text, m.HTML)
		}
		if m.Subject != "Your Praxiom access code" {
			t.Errorf("subject %q", m.Subject)
		}
		var md map[string]string
		if err := json.Unmarshal(meta, &md); err != nil || len(md) != 1 || md["waitlist_entry_id"] == "" {
			t.Errorf("code metadata %s", meta)
		}
		if m.To[0] == "ann@example.com" {
			if !strings.Contains(m.HTML, "Ann &lt;i&gt;&amp;&lt;/i&gt;") || strings.Contains(m.HTML, "<i>") {
				t.Errorf("the name is not escaped in HTML:\n%s", m.HTML)
			}
			// The emailed code works, once.
			ann := signUp(t, e, "ann@example.com")
			wantStatus(t, acRedeem(e, ann.Token, code), http.StatusOK)
			other := signUp(t, e, "other@example.com")
			wantError(t, acRedeem(e, other.Token, code), http.StatusConflict, "ACCESS_CODE_EXHAUSTED")
		}
	}
	if len(byTo) != 2 || byTo["ann@example.com"] == "" || byTo["ben@example.com"] == "" {
		t.Errorf("emails went to %v", byTo)
	}
	for _, row := range []struct {
		q    string
		want int
	}{
		{`SELECT count(*) FROM access_codes WHERE max_redemptions = 1 AND metadata ? 'waitlist_entry_id'`, 2},
		{`SELECT count(*) FROM emails WHERE kind = 'waitlist_approval'`, 2},
		{`SELECT count(*) FROM waitlist_entries WHERE status = 'approved'`, 2},
	} {
		if n := scalar[int](t, e, row.q); n != row.want {
			t.Errorf("%s: %d, want %d", row.q, n, row.want)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if n := len(srv.Messages()); n != 2 {
		t.Errorf("%d messages, want 2", n)
	}
}

// TestWaitlistApproveConcurrently: two admins approving the same entries at
// once approve, code and email each entry once.
func TestWaitlistApproveConcurrently(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	e := mailEnv(t, srv, apitest.Options{Store: store.Options{MaxConns: 8}})
	admins := []string{acAdmin(t, e, "a1@example.com"), acAdmin(t, e, "a2@example.com")}
	total := 0
	for round := range 5 {
		var ids []uuid.UUID
		for i := range 6 {
			email := fmt.Sprintf("r%d-%d@example.com", round, i)
			wantStatus(t, wlJoin(e, map[string]any{"email": email}), http.StatusCreated)
			ids = append(ids, scalar[uuid.UUID](t, e, `SELECT id FROM waitlist_entries WHERE email = $1`, email))
		}
		// Overlapping lists in different orders.
		lists := [][]uuid.UUID{ids, slices.Concat(ids[3:], ids[:4])}
		rs := apitest.Race(2, func(i int) *apitest.Response { return wlApprove(e, admins[i], lists[i]) })
		sum := wlApproval{}
		for _, r := range rs {
			a := wantJSON[wlApproval](t, r, http.StatusOK)
			sum.Approved += a.Approved
			sum.Codes += a.Codes
			sum.Emails += a.Emails
		}
		if sum != (wlApproval{6, 6, 6}) {
			t.Fatalf("round %d: together %+v, want 6 each", round, sum)
		}
		total += 6
	}
	if n := scalar[int](t, e, `SELECT count(*) FROM access_codes`); n != total {
		t.Errorf("%d codes for %d entries", n, total)
	}
	if n := scalar[int](t, e, `SELECT count(DISTINCT access_code_id) FROM waitlist_entries WHERE status = 'approved'`); n != total {
		t.Errorf("%d distinct codes on %d entries", n, total)
	}
	srv.Wait(total, 20*time.Second)
	time.Sleep(500 * time.Millisecond)
	seen := map[string]int{}
	for _, m := range srv.Messages() {
		seen[m.To[0]]++
	}
	if len(seen) != total {
		t.Errorf("%d recipients, want %d", len(seen), total)
	}
	for to, n := range seen {
		if n != 1 {
			t.Errorf("%s got %d emails", to, n)
		}
	}
}

// TestWaitlistApproveValidation: 422 for a missing, empty, too long or
// malformed list; nothing changes.
func TestWaitlistApproveValidation(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	admin := acAdmin(t, e, "admin@example.com")
	many := make([]uuid.UUID, 501)
	for i := range many {
		many[i] = uuid.New()
	}
	for _, tc := range []struct {
		name string
		body any
		want []string
	}{
		{"missing", map[string]any{}, []string{"waitlist_entry_ids"}},
		{"null", map[string]any{"waitlist_entry_ids": nil}, []string{"waitlist_entry_ids"}},
		{"empty", map[string]any{"waitlist_entry_ids": []string{}}, []string{"waitlist_entry_ids"}},
		{"501 ids", map[string]any{"waitlist_entry_ids": many}, []string{"waitlist_entry_ids"}},
		{"not UUIDs", map[string]any{"waitlist_entry_ids": []any{"nope", 1}}, []string{"waitlist_entry_ids"}},
		{"not a list", map[string]any{"waitlist_entry_ids": uuid.NewString()}, []string{"waitlist_entry_ids"}},
		{"unknown field", map[string]any{"waitlist_entry_ids": []string{uuid.NewString()}, "all": true}, []string{"all"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantFields(t, e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/admin/waitlist/approve", Token: admin,
				Body: tc.body}), tc.want...)
		})
	}
	// 500 is the most: all unknown, nothing approved.
	got := wantJSON[wlApproval](t, wlApprove(e, admin, many[:500]), http.StatusOK)
	if got != (wlApproval{}) {
		t.Errorf("500 unknown ids: %+v", got)
	}
	wantError(t, e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/admin/waitlist/approve", Token: admin, Body: `{`}),
		http.StatusBadRequest, "BAD_REQUEST")
	wantError(t, e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/admin/waitlist/approve", Token: admin,
		Body: `{"waitlist_entry_ids": ["` + strings.Repeat("a", 2<<20) + `"]}`}), http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
	wantError(t, e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/admin/waitlist/approve", Token: admin, Body: `{}`,
		Header: http.Header{"Content-Type": {"text/plain"}}}), http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
}

// TestWaitlistApproveRolledBack: a failure injected after the approval's
// emails are enqueued, before its commit, leaves nothing behind: the
// entries still wait, and there are no codes, emails, jobs or events.
func TestWaitlistApproveRolledBack(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	e := mailEnv(t, srv, apitest.Options{Email: &apitest.Email{WrapOutbox: func(o store.Outbox) store.Outbox {
		return failAfter{o}
	}}})
	admin := acAdmin(t, e, "admin@example.com")
	wlJoined(t, e, map[string]any{"email": "ann@example.com"}, http.StatusCreated, "waiting", 1)
	wlJoined(t, e, map[string]any{"email": "ben@example.com"}, http.StatusCreated, "waiting", 2)
	ids := wlIDs(wlListed(t, e, admin, ""))
	wantError(t, wlApprove(e, admin, ids), http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	for what, q := range map[string]string{
		"approved entries":         `SELECT count(*) FROM waitlist_entries WHERE status <> 'waiting' OR access_code_id IS NOT NULL`,
		"access codes":             `SELECT count(*) FROM access_codes`,
		"emails":                   `SELECT count(*) FROM emails`,
		"email jobs":               `SELECT count(*) FROM river_job WHERE kind = 'email'`,
		"waitlist.approved events": `SELECT count(*) FROM audit_events WHERE action = 'waitlist.approved'`,
	} {
		if n := scalar[int](t, e, q); n != 0 {
			t.Errorf("%d %s after the rollback", n, what)
		}
	}
	time.Sleep(500 * time.Millisecond)
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages for a rolled-back approval", n)
	}
}

// TestWaitlistJoinRace: ten joins with one email (spelled in two cases)
// released at a barrier make one entry: one 201, the others 200 with the
// same position.
func TestWaitlistJoinRace(t *testing.T) {
	e := apitest.New(t, apitest.Options{})
	const n = 10
	type answer struct {
		status   int
		position int
	}
	answers := make(chan answer, n)
	var ready, start sync.WaitGroup
	ready.Add(n)
	start.Add(1)
	for i := range n {
		email := "race@example.com"
		if i%2 == 1 {
			email = "Race@Example.com"
		}
		go func() {
			ready.Done()
			start.Wait()
			r := wlJoin(e, map[string]any{"email": email})
			var got wlStatus
			_ = json.Unmarshal(r.Body, &got)
			a := answer{status: r.Status}
			if got.Position != nil {
				a.position = *got.Position
			}
			answers <- a
		}()
	}
	ready.Wait()
	start.Done()
	count := map[int]int{}
	for range n {
		a := <-answers
		count[a.status]++
		if a.position != 1 {
			t.Errorf("answer %+v, want position 1", a)
		}
	}
	if count[http.StatusCreated] != 1 || count[http.StatusOK] != n-1 {
		t.Fatalf("answers %v, want one 201 and %d × 200", count, n-1)
	}
	if got := scalar[int](t, e, `SELECT count(*) FROM waitlist_entries`); got != 1 {
		t.Fatalf("%d entries, want 1", got)
	}
}
