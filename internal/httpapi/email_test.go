package httpapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/jobs"
	"github.com/praxiom/praxiom-api/internal/metrics"
	"github.com/praxiom/praxiom-api/internal/smtptest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// Email tests: the API with a River worker sending through a mailer to a
// real SMTP server in the test process (internal/smtptest), on the tuning of
// apitest.TestJobs.

// mailEnv starts the API with email on, sending to srv.
func mailEnv(t *testing.T, srv *smtptest.Server, o apitest.Options) *apitest.Env {
	t.Helper()
	if o.Email == nil {
		o.Email = &apitest.Email{}
	}
	o.Email.SMTPURL = srv.URL
	return apitest.New(t, o)
}

// emailOf returns the id of invitation invID's latest email.
func emailOf(t *testing.T, e *apitest.Env, invID uuid.UUID) uuid.UUID {
	t.Helper()
	return scalar[uuid.UUID](t, e, `SELECT email_id FROM invitations WHERE id = $1`, invID)
}

// waitEmailStatus waits until the invitation lists with email_status want.
func waitEmailStatus(t *testing.T, e *apitest.Env, tok string, ws, invID uuid.UUID, want string, within time.Duration) invitationBody {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		for _, status := range []string{"", "?status=revoked", "?status=accepted", "?status=expired"} {
			for _, inv := range invList(t, e, tok, ws, status).Invitations {
				if inv.ID == invID && inv.EmailStatus == want {
					return inv
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("invitation %s: email_status not %q after %s", invID, want, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestEmailInvitationDelivered: the invitation's email reaches the invited
// address within seconds, with the workspace in the subject, the inviter,
// the role, the expiry and the link in both parts, and the Message-ID of
// its email row; email_status goes queued → sent.
func TestEmailInvitationDelivered(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	e := mailEnv(t, srv, apitest.Options{})
	owner := signUp(t, e, "ada@example.com")
	ws := apitest.InsertWorkspace(t, e.Store, "Acme Rockets", owner.ID)

	began := time.Now()
	inv := invCreate(t, e, owner.Token, ws, "Bob@Example.com", "admin")
	answered := time.Since(began)
	if inv.EmailStatus != "queued" {
		t.Errorf("email_status at creation = %q, want queued", inv.EmailStatus)
	}
	msgs := srv.Wait(1, 10*time.Second)
	delivered := msgs[0].At.Sub(began)
	t.Logf("invitation → delivery: API answered in %s, email delivered %s after the request", answered, delivered)
	if delivered > 5*time.Second {
		t.Errorf("delivered %s after the invitation, want within seconds", delivered)
	}
	m := msgs[0]
	if !slices.Equal(m.To, []string{"bob@example.com"}) {
		t.Errorf("recipients %v, want the invited address only", m.To)
	}
	if m.From != "no-reply@praxiom.test" {
		t.Errorf("envelope from %q", m.From)
	}
	if got := m.Header.Get("To"); !strings.Contains(got, "bob@example.com") {
		t.Errorf("To: %q", got)
	}
	if !strings.Contains(m.Subject, "Acme Rockets") {
		t.Errorf("subject %q does not name the workspace", m.Subject)
	}
	link := apitest.TestAppURL + "/workspace-invite/" + inv.Token
	expires := inv.ExpiresAt.UTC().Format("2 January 2006")
	for name, part := range map[string]string{"text": m.Text, "html": m.HTML} {
		for _, want := range []string{"ada", "Acme Rockets", "an admin", expires, link} {
			if !strings.Contains(part, want) {
				t.Errorf("%s part lacks %q:\n%s", name, want, part)
			}
		}
	}
	if !strings.Contains(m.HTML, `href="`+link+`"`) {
		t.Errorf("html part has no link to %s", link)
	}
	id := emailOf(t, e, inv.ID)
	if want := id.String() + "@praxiom.test"; m.MessageID != want {
		t.Errorf("Message-ID %q, want %q (the email's id)", m.MessageID, want)
	}
	waitEmailStatus(t, e, owner.Token, ws, inv.ID, "sent", 5*time.Second)
	if s := scalar[string](t, e, `SELECT status FROM emails WHERE id = $1`, id); s != "sent" {
		t.Errorf("email row %s", s)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(srv.Messages()); n != 1 {
		t.Errorf("%d messages, want 1", n)
	}
}

// TestEmailEscaping: what users name things reaches the HTML part escaped
// and never breaks a header: a workspace called <script>, one with CR/LF
// and a header after it, an inviter with markup in their name.
func TestEmailEscaping(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	e := mailEnv(t, srv, apitest.Options{})
	owner := signUp(t, e, "ada@example.com")
	execSQL(t, e, `UPDATE users SET name = $2 WHERE id = $1`, owner.ID, `Ada <b>"&'</b>`)
	script := apitest.InsertWorkspace(t, e.Store, `<script>alert(1)</script>`, owner.ID)
	crlf := apitest.InsertWorkspace(t, e.Store, "Acme\r\nBcc: evil@example.com\r\nX-Injected: yes", owner.ID)

	invCreate(t, e, owner.Token, script, "one@example.com", "member")
	invCreate(t, e, owner.Token, crlf, "two@example.com", "member")
	msgs := srv.Wait(2, 10*time.Second)
	byTo := map[string]smtptest.Message{}
	for _, m := range msgs {
		if len(m.To) != 1 {
			t.Fatalf("recipients %v: an injected header added one", m.To)
		}
		byTo[m.To[0]] = m
	}

	m := byTo["one@example.com"]
	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, "<b>") {
		t.Errorf("html part carries raw markup:\n%s", m.HTML)
	}
	for _, want := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "Ada &lt;b&gt;&#34;&amp;&#39;&lt;/b&gt;"} {
		if !strings.Contains(m.HTML, want) {
			t.Errorf("html part lacks %q:\n%s", want, m.HTML)
		}
	}
	if !strings.Contains(m.Text, "<script>alert(1)</script>") || !strings.Contains(m.Subject, "<script>alert(1)</script>") {
		t.Errorf("the plain text and subject keep the name as typed: %q / %q", m.Subject, m.Text)
	}

	m = byTo["two@example.com"]
	if m.Header.Get("Bcc") != "" || m.Header.Get("X-Injected") != "" {
		t.Errorf("a header was injected: %v", m.Header)
	}
	if want := "You're invited to join Acme Bcc: evil@example.com X-Injected: yes on Praxiom"; m.Subject != want {
		t.Errorf("subject %q, want %q", m.Subject, want)
	}
	head, _, _ := strings.Cut(string(m.Raw), "\r\n\r\n")
	for _, line := range strings.Split(head, "\r\n") {
		if strings.HasPrefix(line, "Bcc:") || strings.HasPrefix(line, "X-Injected:") || strings.ContainsRune(line, '\r') {
			t.Errorf("raw header line %q", line)
		}
	}
}

// TestEmailSMTPOutage: with the SMTP server gone the API still answers at
// once; the worker retries with growing delays and the email arrives once
// the server is back. A server that refuses (5xx) is retried the same way.
func TestEmailSMTPOutage(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	m := metrics.New(nil)
	e := mailEnv(t, srv, apitest.Options{Metrics: m})
	owner := signUp(t, e, "ada@example.com")
	ws := apitest.InsertWorkspace(t, e.Store, "Acme", owner.ID)

	t.Run("server gone", func(t *testing.T) {
		srv.Stop()
		began := time.Now()
		inv := invCreate(t, e, owner.Token, ws, "down@example.com", "member")
		answered := time.Since(began)
		if answered > time.Second {
			t.Errorf("the API took %s with SMTP down, want an answer at once", answered)
		}
		// A few attempts fail meanwhile: the email stays queued with the error.
		id := emailOf(t, e, inv.ID)
		apitest.WaitFor(t, 5*time.Second, func() bool {
			return scalar[*string](t, e, `SELECT last_error FROM emails WHERE id = $1`, id) != nil
		})
		time.Sleep(time.Second)
		attempts := scalar[int](t, e, `SELECT attempt FROM river_job WHERE args->>'email_id' = $1`, id.String())
		if attempts < 3 {
			t.Errorf("%d attempts during a second of outage, want several", attempts)
		}
		if got := invList(t, e, owner.Token, ws, "").Invitations[0].EmailStatus; got != "queued" {
			t.Errorf("email_status during the outage %q, want queued", got)
		}
		back := time.Now()
		srv.Restart()
		msgs := srv.Wait(1, 10*time.Second)
		t.Logf("outage: API answered in %s; %d failed attempts in %s; delivered %s after the server came back",
			answered, attempts, back.Sub(began).Round(time.Millisecond), msgs[0].At.Sub(back).Round(time.Millisecond))
		if msgs[0].To[0] != "down@example.com" {
			t.Errorf("delivered to %v", msgs[0].To)
		}
		waitEmailStatus(t, e, owner.Token, ws, inv.ID, "sent", 5*time.Second)
	})

	t.Run("server refuses", func(t *testing.T) {
		srv.Refuse(554)
		began := time.Now()
		inv := invCreate(t, e, owner.Token, ws, "refused@example.com", "member")
		if d := time.Since(began); d > time.Second {
			t.Errorf("the API took %s with SMTP refusing", d)
		}
		id := emailOf(t, e, inv.ID)
		apitest.WaitFor(t, 5*time.Second, func() bool {
			e := scalar[*string](t, e, `SELECT last_error FROM emails WHERE id = $1`, id)
			return e != nil && strings.Contains(*e, "554")
		})
		srv.Accept()
		msgs := srv.Wait(2, 10*time.Second)
		if msgs[1].To[0] != "refused@example.com" {
			t.Errorf("delivered to %v", msgs[1].To)
		}
		waitEmailStatus(t, e, owner.Token, ws, inv.ID, "sent", 5*time.Second)
	})

	fams := metScrape(t, m)
	if v := metValue(fams, "praxiom_emails_total", map[string]string{"kind": "invitation", "outcome": "sent"}); v != 2 {
		t.Errorf("emails sent = %v, want 2", v)
	}
	if v := metValue(fams, "praxiom_emails_total", map[string]string{"kind": "invitation", "outcome": "retry"}); v < 2 {
		t.Errorf("emails retried = %v, want several", v)
	}
	if v := metValue(fams, "praxiom_job_queue_depth", nil); v < 0 {
		t.Error("praxiom_job_queue_depth is not exported")
	}
	if v := metValue(fams, "praxiom_job_queue_oldest_age_seconds", nil); v < 0 {
		t.Error("praxiom_job_queue_oldest_age_seconds is not exported")
	}
}

// TestEmailGivesUp: an email refused until its deadline (RetryFor, a day in
// production) is marked failed, and the job stops.
func TestEmailGivesUp(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	srv.Refuse(550)
	m := metrics.New(nil)
	e := mailEnv(t, srv, apitest.Options{Metrics: m, Email: &apitest.Email{Jobs: jobs.Config{RetryFor: 1500 * time.Millisecond}}})
	owner := signUp(t, e, "ada@example.com")
	ws := apitest.InsertWorkspace(t, e.Store, "Acme", owner.ID)
	inv := invCreate(t, e, owner.Token, ws, "never@example.com", "member")
	began := time.Now()
	waitEmailStatus(t, e, owner.Token, ws, inv.ID, "failed", 10*time.Second)
	t.Logf("marked failed %s after its creation (deadline 1.5s)", time.Since(began).Round(time.Millisecond))
	id := emailOf(t, e, inv.ID)
	apitest.WaitFor(t, 5*time.Second, func() bool { // the job stops: cancelled, not retried
		return scalar[string](t, e, `SELECT state::text FROM river_job WHERE args->>'email_id' = $1`, id.String()) == "cancelled"
	})
	if msg := scalar[string](t, e, `SELECT last_error FROM emails WHERE id = $1`, id); !strings.Contains(msg, "550") {
		t.Errorf("last_error %q", msg)
	}
	fams := metScrape(t, m)
	if v := metValue(fams, "praxiom_emails_total", map[string]string{"kind": "invitation", "outcome": "failed"}); v != 1 {
		t.Errorf("emails failed = %v, want 1", v)
	}
	srv.Accept()
	time.Sleep(500 * time.Millisecond)
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages after giving up", n)
	}
}

// TestEmailTwoInstances: two servers on one database, each with its worker
// (the second only polls, as behind PgBouncer): every email is sent exactly
// once.
func TestEmailTwoInstances(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	a := mailEnv(t, srv, apitest.Options{})
	b := apitest.NewOn(t, a, apitest.Options{Email: &apitest.Email{SMTPURL: srv.URL, Jobs: jobs.Config{PollOnly: true}}})
	owner := signUp(t, a, "ada@example.com")
	ws := apitest.InsertWorkspace(t, a.Store, "Acme", owner.ID)

	const n = 40
	envs := []*apitest.Env{a, b}
	apitest.Race(n, func(i int) *apitest.Response {
		r := envs[i%2].Do(apitest.Request{Method: http.MethodPost, Path: invPath(ws), Token: owner.Token,
			Body: map[string]any{"email": fmt.Sprintf("guest%d@example.com", i), "role": "member"}})
		if r.Status != http.StatusCreated {
			t.Errorf("invitation %d: %d %s", i, r.Status, r.Body)
		}
		return r
	})
	srv.Wait(n, 20*time.Second)
	time.Sleep(time.Second) // room for a duplicate to show up
	msgs := srv.Messages()
	seen := map[string]int{}
	for _, m := range msgs {
		seen[m.To[0]]++
		seen["id:"+m.MessageID]++
	}
	for i := range n {
		if c := seen[fmt.Sprintf("guest%d@example.com", i)]; c != 1 {
			t.Errorf("guest%d got %d emails", i, c)
		}
	}
	if len(msgs) != n {
		t.Errorf("%d messages for %d invitations", len(msgs), n)
	}
	rows, err := a.Store.Pool().Query(context.Background(),
		`SELECT count(*) FROM river_job WHERE kind = 'email' GROUP BY attempted_by[1] ORDER BY 1`)
	if err != nil {
		t.Fatal(err)
	}
	by, err := pgx.CollectRows(rows, pgx.RowTo[int])
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d emails, each once; jobs per instance: %v", n, by)
}

// TestEmailRolledBack: an invitation whose transaction fails after its
// email was enqueued leaves neither invitation nor email nor job, and
// nothing is sent.
func TestEmailRolledBack(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	e := mailEnv(t, srv, apitest.Options{Email: &apitest.Email{WrapOutbox: func(o store.Outbox) store.Outbox {
		return failAfter{o}
	}}})
	owner := signUp(t, e, "ada@example.com")
	ws := apitest.InsertWorkspace(t, e.Store, "Acme", owner.ID)
	r := e.Do(apitest.Request{Method: http.MethodPost, Path: invPath(ws), Token: owner.Token,
		Body: map[string]any{"email": "ghost@example.com", "role": "member"}})
	wantError(t, r, http.StatusServiceUnavailable, "SERVICE_UNAVAILABLE")
	time.Sleep(time.Second)
	for table, q := range map[string]string{
		"invitations": `SELECT count(*) FROM invitations`,
		"emails":      `SELECT count(*) FROM emails`,
		"river_job":   `SELECT count(*) FROM river_job WHERE kind = 'email'`,
	} {
		if n := scalar[int](t, e, q); n != 0 {
			t.Errorf("%d rows in %s after the rollback", n, table)
		}
	}
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages for a rolled-back invitation", n)
	}
}

// failAfter enqueues for real, then fails: the transaction rolls back.
type failAfter struct{ store.Outbox }

func (f failAfter) EnqueueEmails(ctx context.Context, tx pgx.Tx, ids []uuid.UUID) error {
	if err := f.Outbox.EnqueueEmails(ctx, tx, ids); err != nil {
		return err
	}
	var jobs int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = 'email'`).Scan(&jobs); err != nil || jobs != len(ids) {
		return fmt.Errorf("the enqueue did not happen: %d jobs, %v", jobs, err)
	}
	return errors.New("injected failure after the enqueue")
}

// TestEmailDroppedWithItsWorkspace: deleting a workspace while its
// invitation's email waits (SMTP down) deletes the email; nothing is sent
// when the server is back.
func TestEmailDroppedWithItsWorkspace(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	e := mailEnv(t, srv, apitest.Options{})
	owner := signUp(t, e, "ada@example.com")
	ws := apitest.InsertWorkspace(t, e.Store, "Doomed", owner.ID)
	srv.Stop()
	inv := invCreate(t, e, owner.Token, ws, "late@example.com", "member")
	id := emailOf(t, e, inv.ID)
	wantStatus(t, e.Do(apitest.Request{Method: http.MethodDelete, Path: "/api/workspaces/" + ws.String(), Token: owner.Token}),
		http.StatusNoContent)
	if n := scalar[int](t, e, `SELECT count(*) FROM emails WHERE id = $1`, id); n != 0 {
		t.Fatalf("the email outlived its workspace")
	}
	srv.Restart()
	apitest.WaitFor(t, 5*time.Second, func() bool {
		return scalar[string](t, e, `SELECT state::text FROM river_job WHERE args->>'email_id' = $1`, id.String()) == "completed"
	})
	if n := len(srv.Messages()); n != 0 {
		t.Errorf("%d messages for a deleted workspace", n)
	}
}

// TestInvitationResend: 202 with the email queued again; at most one email
// a minute, the first included (429 with Retry-After, decided by the
// database); 410 when not pending; 404 for another workspace's invitation;
// a resend supersedes an email still waiting, so only the latest goes out.
func TestInvitationResend(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	e := mailEnv(t, srv, apitest.Options{})
	owner := signUp(t, e, "ada@example.com")
	ws := apitest.InsertWorkspace(t, e.Store, "Acme", owner.ID)
	resend := func(tok string, ws, id uuid.UUID) *apitest.Response {
		return e.Do(apitest.Request{Method: http.MethodPost, Path: invPath(ws, "/", id.String(), "/resend"), Token: tok})
	}
	// ago moves the invitation's last email back by d.
	ago := func(id uuid.UUID, d time.Duration) {
		execSQL(t, e, `UPDATE invitations SET email_requested_at = now() - $2::interval WHERE id = $1`, id, d.String())
	}

	inv := invCreate(t, e, owner.Token, ws, "bob@example.com", "member")
	srv.Wait(1, 10*time.Second)

	// Within a minute of the first email: 429, with the seconds left.
	r := resend(owner.Token, ws, inv.ID)
	wantError(t, r, http.StatusTooManyRequests, "RATE_LIMITED")
	if ra, err := strconv.Atoi(r.Header.Get("Retry-After")); err != nil || ra < 55 || ra > 60 {
		t.Errorf("Retry-After %q, want about 60", r.Header.Get("Retry-After"))
	}
	ago(inv.ID, 50*time.Second)
	r = resend(owner.Token, ws, inv.ID)
	wantError(t, r, http.StatusTooManyRequests, "RATE_LIMITED")
	if ra, _ := strconv.Atoi(r.Header.Get("Retry-After")); ra < 9 || ra > 10 {
		t.Errorf("Retry-After %q after 50s, want 10", r.Header.Get("Retry-After"))
	}

	// A minute later: 202, queued again; a second email with its own id.
	ago(inv.ID, 61*time.Second)
	first := emailOf(t, e, inv.ID)
	got := wantJSON[invitationBody](t, resend(owner.Token, ws, inv.ID), http.StatusAccepted)
	if got.ID != inv.ID || got.EmailStatus != "queued" || got.Token != inv.Token || got.Status != "pending" {
		t.Errorf("resend answered %+v", got)
	}
	msgs := srv.Wait(2, 10*time.Second)
	if msgs[1].To[0] != "bob@example.com" || msgs[1].MessageID == msgs[0].MessageID {
		t.Errorf("second email: to %v, Message-ID %q (first %q)", msgs[1].To, msgs[1].MessageID, msgs[0].MessageID)
	}
	if second := emailOf(t, e, inv.ID); second == first || msgs[1].MessageID != second.String()+"@praxiom.test" {
		t.Errorf("the resend did not make a new email: %s then %s", first, second)
	}
	// And the clock starts again.
	wantError(t, resend(owner.Token, ws, inv.ID), http.StatusTooManyRequests, "RATE_LIMITED")

	// Superseded: two emails queued while SMTP is down, only the latest
	// goes out once it is back.
	srv.Stop()
	carol := invCreate(t, e, owner.Token, ws, "carol@example.com", "member")
	old := emailOf(t, e, carol.ID)
	ago(carol.ID, 61*time.Second)
	wantStatus(t, resend(owner.Token, ws, carol.ID), http.StatusAccepted)
	srv.Restart()
	msgs = srv.Wait(3, 10*time.Second)
	waitEmailStatus(t, e, owner.Token, ws, carol.ID, "sent", 5*time.Second)
	apitest.WaitFor(t, 5*time.Second, func() bool {
		return scalar[string](t, e, `SELECT status FROM emails WHERE id = $1`, old) == "skipped"
	})
	time.Sleep(300 * time.Millisecond)
	if n := len(srv.Messages()); n != 3 || msgs[2].MessageID != emailOf(t, e, carol.ID).String()+"@praxiom.test" {
		t.Errorf("%d messages; the last %q, want the latest email of carol's", n, msgs[2].MessageID)
	}

	// Not pending: 410 with the reason, nothing queued.
	dan := invCreate(t, e, owner.Token, ws, "dan@example.com", "member")
	ago(dan.ID, 61*time.Second)
	wantStatus(t, invRevoke(e, owner.Token, ws, dan.ID), http.StatusNoContent)
	wantError(t, resend(owner.Token, ws, dan.ID), http.StatusGone, "INVITATION_REVOKED")
	erin := invCreate(t, e, owner.Token, ws, "erin@example.com", "member")
	ago(erin.ID, 61*time.Second)
	execSQL(t, e, `UPDATE invitations SET expires_at = now() - interval '1 second' WHERE id = $1`, erin.ID)
	wantError(t, resend(owner.Token, ws, erin.ID), http.StatusGone, "INVITATION_EXPIRED")
	frank := signUp(t, e, "frank@example.com")
	fi := invCreate(t, e, owner.Token, ws, "frank@example.com", "member")
	wantStatus(t, invAccept(e, frank.Token, fi.Token), http.StatusOK)
	ago(fi.ID, 61*time.Second)
	wantError(t, resend(owner.Token, ws, fi.ID), http.StatusGone, "INVITATION_ALREADY_ACCEPTED")
	for _, id := range []uuid.UUID{dan.ID, erin.ID, fi.ID} {
		if n := scalar[int](t, e, `SELECT count(*) FROM emails WHERE invitation_id = $1`, id); n != 1 {
			t.Errorf("invitation %s has %d emails after a refused resend", id, n)
		}
	}

	// Unknown here: 404; a bad id: 400.
	other := apitest.InsertWorkspace(t, e.Store, "Other", frank.ID)
	foreign := invCreate(t, e, frank.Token, other, "gina@example.com", "member")
	wantError(t, resend(owner.Token, ws, foreign.ID), http.StatusNotFound, "NOT_FOUND")
	wantError(t, resend(owner.Token, ws, uuid.New()), http.StatusNotFound, "NOT_FOUND")
	wantError(t, e.Do(apitest.Request{Method: http.MethodPost, Path: invPath(ws, "/nope/resend"), Token: owner.Token}),
		http.StatusBadRequest, "BAD_REQUEST")
}

// TestInvitationResendPermissions: admins and owners (and admin API keys)
// may resend; members, outsiders, suspended admins, read-only keys and
// nobody may not; an admin demoted after the HTTP layer checked the role is
// refused by the role read again under the workspace lock.
func TestInvitationResendPermissions(t *testing.T) {
	e := apitest.New(t, apitest.Options{}) // email off: email_status disabled
	ctx := context.Background()
	owner, admin, member, outsider, suspended, ws := standings(t, e)
	key := func(role string, readOnly bool) string {
		r := e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/workspaces/" + ws.String() + "/api-keys", Token: owner.Token,
			Body: map[string]any{"name": role, "role": role, "read_only": readOnly}})
		return wantJSON[struct {
			Key string `json:"key"`
		}](t, r, http.StatusCreated).Key
	}
	for _, tc := range []struct {
		who    string
		tok    string
		status int
		code   string
	}{
		{"owner", owner.Token, http.StatusAccepted, ""},
		{"admin", admin.Token, http.StatusAccepted, ""},
		{"admin key", key("admin", false), http.StatusAccepted, ""},
		{"member", member.Token, http.StatusForbidden, "FORBIDDEN"},
		{"member key", key("member", false), http.StatusForbidden, "FORBIDDEN"},
		{"read-only admin key", key("admin", true), http.StatusForbidden, "FORBIDDEN"},
		{"outsider", outsider.Token, http.StatusForbidden, "FORBIDDEN"},
		{"suspended", suspended.Token, http.StatusForbidden, "ACCOUNT_SUSPENDED"},
		{"anonymous", "", http.StatusUnauthorized, "UNAUTHORIZED"},
	} {
		t.Run(tc.who, func(t *testing.T) {
			inv, err := e.Store.CreateInvitation(ctx, store.UserActor(store.User{ID: owner.ID}), ws,
				store.NewInvitation{Email: "target-" + strings.ReplaceAll(tc.who, " ", "-") + "@example.com", Role: store.RoleMember})
			if err != nil {
				t.Fatal(err)
			}
			execSQL(t, e, `UPDATE invitations SET email_requested_at = now() - interval '2 minutes' WHERE id = $1`, inv.ID)
			r := e.Do(apitest.Request{Method: http.MethodPost, Path: invPath(ws, "/", inv.ID.String(), "/resend"), Token: tc.tok})
			wantOutcome(t, r, tc.status, tc.code)
			moved := scalar[bool](t, e, `SELECT email_requested_at > now() - interval '1 minute' FROM invitations WHERE id = $1`, inv.ID)
			if moved != (tc.status == http.StatusAccepted) {
				t.Errorf("resend recorded: %v", moved)
			}
			if tc.status == http.StatusAccepted {
				if got := wantJSON[invitationBody](t, r, http.StatusAccepted); got.EmailStatus != "disabled" {
					t.Errorf("email_status %q without SMTP, want disabled", got.EmailStatus)
				}
			}
		})
	}

	// Demoted between the HTTP layer's check and the change: the store
	// reads the role again under the workspace lock.
	inv, err := e.Store.CreateInvitation(ctx, store.UserActor(store.User{ID: owner.ID}), ws,
		store.NewInvitation{Email: "late@example.com", Role: store.RoleMember})
	if err != nil {
		t.Fatal(err)
	}
	execSQL(t, e, `UPDATE invitations SET email_requested_at = now() - interval '2 minutes' WHERE id = $1`, inv.ID)
	execSQL(t, e, `UPDATE workspace_members SET role = 'member' WHERE workspace_id = $1 AND user_id = $2`, ws, admin.ID)
	_, err = e.Store.ResendInvitation(ctx, store.UserActor(store.User{ID: admin.ID}), ws, inv.ID)
	if !errors.Is(err, store.ErrRoleTooLow) {
		t.Errorf("a demoted admin's resend: %v, want FORBIDDEN", err)
	}
	// Without SMTP the minute still counts (the API behaves the same).
	wantStatus(t, e.Do(apitest.Request{Method: http.MethodPost, Path: invPath(ws, "/", inv.ID.String(), "/resend"), Token: owner.Token}),
		http.StatusAccepted)
	wantError(t, e.Do(apitest.Request{Method: http.MethodPost, Path: invPath(ws, "/", inv.ID.String(), "/resend"), Token: owner.Token}),
		http.StatusTooManyRequests, "RATE_LIMITED")
}

// waitFor polls cond every 20ms until it holds; the test fails after d.
// TestInvitationResendRace: ten resends of one invitation a minute after
// its email, released at a barrier: the database lets exactly one through
// (202); the others get 429, and one more email is queued, not ten.
func TestInvitationResendRace(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	e := mailEnv(t, srv, apitest.Options{})
	owner := signUp(t, e, "ada@example.com")
	ws := apitest.InsertWorkspace(t, e.Store, "Acme", owner.ID)
	inv := invCreate(t, e, owner.Token, ws, "bob@example.com", "member")
	srv.Wait(1, 10*time.Second)
	execSQL(t, e, `UPDATE invitations SET email_requested_at = now() - interval '61 seconds' WHERE id = $1`, inv.ID)

	const n = 10
	statuses := make(chan int, n)
	var ready, start sync.WaitGroup
	ready.Add(n)
	start.Add(1)
	for range n {
		go func() {
			ready.Done()
			start.Wait()
			statuses <- e.Do(apitest.Request{Method: http.MethodPost, Path: invPath(ws, "/", inv.ID.String(), "/resend"), Token: owner.Token}).Status
		}()
	}
	ready.Wait()
	start.Done()
	count := map[int]int{}
	for range n {
		count[<-statuses]++
	}
	if count[http.StatusAccepted] != 1 || count[http.StatusTooManyRequests] != n-1 {
		t.Fatalf("answers %v, want one 202 and %d × 429", count, n-1)
	}
	if got := scalar[int](t, e, `SELECT count(*) FROM emails WHERE invitation_id = $1`, inv.ID); got != 2 {
		t.Fatalf("%d emails for the invitation, want 2 (the first and one resend)", got)
	}
}
