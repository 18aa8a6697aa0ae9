package httpapi_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apitest"
	"github.com/praxiom/praxiom-api/internal/store"
)

// idemPost sends a POST with an Idempotency-Key.
func idemPost(e *apitest.Env, path, tok, key string, body any) *apitest.Response {
	return e.Do(apitest.Request{Method: http.MethodPost, Path: path, Token: tok, Body: body,
		Header: http.Header{"Idempotency-Key": {key}}})
}

func wantReplay(t *testing.T, first, again *apitest.Response) {
	t.Helper()
	if again.Status != first.Status || string(again.Body) != string(first.Body) {
		t.Fatalf("replay: %d %s; want the first answer %d %s", again.Status, again.Body, first.Status, first.Body)
	}
	if again.Header.Get("Idempotent-Replayed") != "true" {
		t.Fatalf("replay without Idempotent-Replayed: true: %v", again.Header)
	}
	if first.Header.Get("Idempotent-Replayed") != "" {
		t.Fatal("the first answer says it is a replay")
	}
	if again.Header.Get("X-Request-ID") == first.Header.Get("X-Request-ID") {
		t.Fatal("the replay's X-Request-ID is the first request's; want its own")
	}
}

func TestIdempotencyReplayAndReuse(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	ada := signUp(t, e, "idem-ada")
	bob := signUp(t, e, "idem-bob")
	body := map[string]any{"name": "Once"}

	first := idemPost(e, "/api/workspaces", ada.Token, "create-1", body)
	wantStatus(t, first, http.StatusCreated)
	again := idemPost(e, "/api/workspaces", ada.Token, "create-1", body)
	wantReplay(t, first, again)
	if n := scalar[int](t, e, `SELECT count(*) FROM workspace_members WHERE user_id = $1`, ada.ID); n != 1 {
		t.Fatalf("%d workspaces made, want 1", n)
	}
	if n := auditCount(t, e, "workspace.created"); n != 1 {
		t.Fatalf("%d workspace.created events, want 1", n)
	}

	// The same key with another body, or on another path, is refused.
	wantError(t, idemPost(e, "/api/workspaces", ada.Token, "create-1", map[string]any{"name": "Twice"}),
		http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED")
	wantError(t, idemPost(e, "/api/access-codes/redeem", ada.Token, "create-1", body),
		http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED")
	// The same bytes with a different spelling are another body.
	wantError(t, e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/workspaces", Token: ada.Token,
		Body: `{"name":  "Once"}`, Header: http.Header{"Idempotency-Key": {"create-1"}}}),
		http.StatusUnprocessableEntity, "IDEMPOTENCY_KEY_REUSED")

	// Another caller's key of the same name is its own.
	if r := idemPost(e, "/api/workspaces", bob.Token, "create-1", body); r.Status != http.StatusCreated ||
		r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("bob's create-1: %d, replayed %q; want a 201 of his own", r.Status, r.Header.Get("Idempotent-Replayed"))
	}

	// Errors are kept too, with the first request's request_id.
	ws := wsCreate(t, e, ada.Token, map[string]any{"name": "Invites"})
	inv := map[string]any{"email": "guest@example.com", "role": "member"}
	wantStatus(t, idemPost(e, invPath(ws.ID), ada.Token, "inv-1", inv), http.StatusCreated)
	conflict := idemPost(e, invPath(ws.ID), ada.Token, "inv-2", inv)
	env := wantError(t, conflict, http.StatusConflict, "INVITATION_PENDING")
	replayed := idemPost(e, invPath(ws.ID), ada.Token, "inv-2", inv)
	wantReplay(t, conflict, replayed)
	var got errEnvelope
	replayed.JSON(t, &got)
	if got.Error.RequestID != env.Error.RequestID {
		t.Fatalf("replayed error's request_id %q, want the first request's %q", got.Error.RequestID, env.Error.RequestID)
	}

	// Malformed keys.
	for name, h := range map[string]http.Header{
		"empty":         {"Idempotency-Key": {""}},
		"too long":      {"Idempotency-Key": {strings.Repeat("k", 256)}},
		"not printable": {"Idempotency-Key": {"tab\tkey"}},
		"not ASCII":     {"Idempotency-Key": {"clé"}},
		"given twice":   {"Idempotency-Key": {"a", "b"}},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/workspaces", Token: ada.Token, Body: body, Header: h})
			wantError(t, r, http.StatusBadRequest, "BAD_REQUEST")
		})
	}
	// 255 printable characters, spaces included, are a key.
	wantStatus(t, idemPost(e, "/api/workspaces", ada.Token, " "+strings.Repeat("~", 254), body), http.StatusCreated)
}

// TestIdempotencyEveryAuthenticatedPost: every authenticated POST route
// takes an Idempotency-Key (a malformed one is refused there).
func TestIdempotencyEveryAuthenticatedPost(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	admin := signUp(t, e, "idem-every")
	if _, err := e.Store.AdministerUser(context.Background(), store.GrantAdmin, store.ByEmail(admin.Email)); err != nil {
		t.Fatal(err)
	}
	ws := wsCreate(t, e, admin.Token, map[string]any{"name": "Every"})
	seen := map[string]bool{}
	for _, path := range []string{"/api/workspaces", "/api/access-codes/redeem", "/api/admin/access-codes",
		"/api/invitations/" + strings.Repeat("t", 43) + "/accept", wsPath(ws.ID, "/invitations"), wsPath(ws.ID, "/api-keys"),
		wsPath(ws.ID, "/invitations/"+uuid.NewString()+"/resend"), "/api/admin/waitlist/approve"} {
		r := e.Do(apitest.Request{Method: http.MethodPost, Path: path, Token: admin.Token, Body: map[string]any{},
			Header: http.Header{"Idempotency-Key": {"\x7f"}}})
		wantError(t, r, http.StatusBadRequest, "BAD_REQUEST")
		seen[path] = true
	}
	// Every POST operation of the spec but the public ones is above.
	doc := apitest.Spec(t).Doc()
	n := 0
	for path, item := range doc.Paths.Map() {
		if op := item.Post; op != nil && (op.Security == nil || len(*op.Security) > 0) {
			n++
			if op.Parameters.GetByInAndName("header", "Idempotency-Key") == nil {
				t.Errorf("POST %s does not document Idempotency-Key", path)
			}
		}
	}
	if n != len(seen) {
		t.Errorf("the spec has %d authenticated POSTs; this test tries %d", n, len(seen))
	}
}

// TestIdempotencyNotKept: 5xx answers are not kept (the retry runs), nor
// are requests the auth chain refuses.
func TestIdempotencyNotKept(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	ada := signUp(t, e, "idem-fail")
	// A sequence survives the rollback of the failing transaction.
	execSQL(t, e, `CREATE SEQUENCE failures`)
	execSQL(t, e, `CREATE FUNCTION fail_once() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF nextval('failures') = 1 THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$`)
	execSQL(t, e, `CREATE TRIGGER fail_first BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION fail_once()`)
	body := map[string]any{"name": "Retry"}
	wantError(t, idemPost(e, "/api/workspaces", ada.Token, "k", body), http.StatusInternalServerError, "INTERNAL")
	r := idemPost(e, "/api/workspaces", ada.Token, "k", body)
	wantStatus(t, r, http.StatusCreated)
	if r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatal("the retry after a 500 was a replay")
	}

	// Refused by the chain (403 ACCESS_REQUIRED, no product access yet):
	// not recorded, so the same key works once access is granted.
	e2 := apitest.New(t, apitest.Options{})
	pending := signUp(t, e2, "idem-pending")
	wantError(t, idemPost(e2, "/api/workspaces", pending.Token, "k", body), http.StatusForbidden, "ACCESS_REQUIRED")
	if _, err := e2.Store.AdministerUser(context.Background(), store.GrantAccess, store.ByEmail(pending.Email)); err != nil {
		t.Fatal(err)
	}
	wantStatus(t, idemPost(e2, "/api/workspaces", pending.Token, "k", body), http.StatusCreated)
	if n := scalar[int](t, e2, `SELECT count(*) FROM idempotency_keys`); n != 1 {
		t.Fatalf("%d keys kept, want 1", n)
	}
}

// TestIdempotencyExpiryAndAbandonedClaims: a key older than 24 hours runs
// anew; a claim whose request died runs anew after its lease.
func TestIdempotencyExpiryAndAbandonedClaims(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	ada := signUp(t, e, "idem-old")
	body := map[string]any{"name": "Old"}
	wantStatus(t, idemPost(e, "/api/workspaces", ada.Token, "old", body), http.StatusCreated)
	execSQL(t, e, `UPDATE idempotency_keys SET created_at = now() - interval '24 hours 1 second'`)
	r := idemPost(e, "/api/workspaces", ada.Token, "old", body)
	if r.Status != http.StatusCreated || r.Header.Get("Idempotent-Replayed") != "" {
		t.Fatalf("an expired key replayed: %d %v", r.Status, r.Header)
	}
	// An in-flight claim: 409 while its lease runs, claimed afresh after.
	execSQL(t, e, `INSERT INTO idempotency_keys (principal, key, method, path, body_sha256, locked_until, claim)
		VALUES ($1, 'stuck', 'POST', '/api/workspaces', sha256('{"name":"Old"}'::bytea), now() + interval '1 minute', gen_random_uuid())`,
		"user:"+ada.ID.String())
	r = idemPost(e, "/api/workspaces", ada.Token, "stuck", body)
	wantError(t, r, http.StatusConflict, "IDEMPOTENCY_KEY_IN_USE")
	if r.Header.Get("Retry-After") != "1" {
		t.Fatalf("Retry-After = %q, want 1", r.Header.Get("Retry-After"))
	}
	execSQL(t, e, `UPDATE idempotency_keys SET locked_until = now() - interval '1 second' WHERE key = 'stuck'`)
	wantStatus(t, idemPost(e, "/api/workspaces", ada.Token, "stuck", body), http.StatusCreated)

	// Pruning removes what is older than a day.
	execSQL(t, e, `UPDATE idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old'`)
	n, err := e.Store.PruneIdempotencyKeys(context.Background())
	if err != nil || n != 1 {
		t.Fatalf("pruned %d, %v; want 1", n, err)
	}
}

// idemRace sends n identical POSTs with one key at a barrier, through the
// servers in turn, and checks one effect and that every answer is the
// first one or 409 IDEMPOTENCY_KEY_IN_USE.
func idemRace(t *testing.T, envs []*apitest.Env, tok string, n int) {
	t.Helper()
	key := uuid.NewString()
	body := map[string]any{"name": "Raced " + key}
	rs := apitest.Race(n, func(i int) *apitest.Response {
		return idemPost(envs[i%len(envs)], "/api/workspaces", tok, key, body)
	})
	var created []*apitest.Response
	inUse := 0
	for _, r := range rs {
		switch {
		case r.Status == http.StatusCreated:
			created = append(created, r)
		case r.Status == http.StatusConflict && r.Code() == "IDEMPOTENCY_KEY_IN_USE":
			inUse++
			if r.Header.Get("Retry-After") != "1" {
				t.Errorf("409 without Retry-After: 1")
			}
		default:
			t.Fatalf("answer %d %s", r.Status, r.Body)
		}
	}
	fresh := 0
	for _, r := range created {
		if r.Header.Get("Idempotent-Replayed") == "" {
			fresh++
		}
		if string(r.Body) != string(created[0].Body) {
			t.Fatalf("two different 201 bodies: %s / %s", created[0].Body, r.Body)
		}
	}
	if fresh != 1 {
		t.Fatalf("%d requests ran, want 1 (%d replays, %d in use)", fresh, len(created)-fresh, inUse)
	}
	if got := scalar[int](t, envs[0], `SELECT count(*) FROM workspaces WHERE name = $1`, body["name"]); got != 1 {
		t.Fatalf("%d workspaces made, want 1", got)
	}
	t.Logf("%d requests: 1 ran, %d replays, %d in use", n, len(created)-1, inUse)
}

func TestIdempotencyRace(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	ada := signUp(t, e, "idem-race")
	for range 5 {
		idemRace(t, []*apitest.Env{e}, ada.Token, 20)
	}
}

func TestIdempotencyRaceAcrossInstances(t *testing.T) {
	a := apitest.New(t, apitest.Options{PLGGatingOff: true})
	b := apitest.NewOn(t, a, apitest.Options{PLGGatingOff: true})
	ada := signUp(t, a, "idem-race2")
	for range 5 {
		idemRace(t, []*apitest.Env{a, b}, ada.Token, 20)
	}
}

// TestIdempotencyKeepsTheBodyChecksOrder: with an Idempotency-Key, a body
// that is both too large and not JSON still answers 415 before 413, as
// without one; nothing is recorded.
func TestIdempotencyKeepsTheBodyChecksOrder(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	ada := signUp(t, e, "idem-order")
	big := strings.Repeat("x", maxBodyForTests+1)
	for _, key := range []string{"", "k-order"} {
		h := http.Header{"Content-Type": {"text/plain"}}
		if key != "" {
			h.Set("Idempotency-Key", key)
		}
		r := e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/workspaces", Token: ada.Token, Body: big, Header: h})
		wantError(t, r, http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
		h.Set("Content-Type", "application/json")
		r = e.Do(apitest.Request{Method: http.MethodPost, Path: "/api/workspaces", Token: ada.Token, Body: big, Header: h})
		wantError(t, r, http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
	}
	// Routes that take no body read it too when a key is given, since it
	// is hashed: the same answers (and api/openapi.yaml lists them).
	ws := wsCreate(t, e, ada.Token, map[string]any{"name": "Order"})
	for _, path := range []string{wsPath(ws.ID, "/invitations/"+uuid.NewString()+"/resend"), "/api/invitations/" + strings.Repeat("t", 43) + "/accept"} {
		h := http.Header{"Idempotency-Key": {"k-bodyless"}, "Content-Type": {"text/plain"}}
		wantError(t, e.Do(apitest.Request{Method: http.MethodPost, Path: path, Token: ada.Token, Body: big, Header: h}),
			http.StatusUnsupportedMediaType, "UNSUPPORTED_MEDIA_TYPE")
		h.Set("Content-Type", "application/json")
		wantError(t, e.Do(apitest.Request{Method: http.MethodPost, Path: path, Token: ada.Token, Body: big, Header: h}),
			http.StatusRequestEntityTooLarge, "PAYLOAD_TOO_LARGE")
	}
	if n := scalar[int](t, e, `SELECT count(*) FROM idempotency_keys`); n != 0 {
		t.Fatalf("%d keys recorded for refused bodies", n)
	}
}

// maxBodyForTests is the body limit of every route (1 MiB).
const maxBodyForTests = 1 << 20

// TestIdempotencyCommittedChangeIsNeverRepeated: the change commits, then
// keeping its answer fails (an injected failure). The claim was marked
// committed in the change's transaction, so neither an immediate retry nor
// one after the lease makes the change again: they get 409 until the key
// expires.
func TestIdempotencyCommittedChangeIsNeverRepeated(t *testing.T) {
	e := apitest.New(t, apitest.Options{PLGGatingOff: true})
	ada := signUp(t, e, "idem-keepfail")
	execSQL(t, e, `CREATE FUNCTION refuse_answer() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.status IS NOT NULL THEN RAISE EXCEPTION 'injected failure'; END IF; RETURN NEW; END $$`)
	execSQL(t, e, `CREATE TRIGGER refuse_answer BEFORE UPDATE ON idempotency_keys FOR EACH ROW EXECUTE FUNCTION refuse_answer()`)
	body := map[string]any{"name": "Exactly once"}
	wantStatus(t, idemPost(e, "/api/workspaces", ada.Token, "once", body), http.StatusCreated)
	wantError(t, idemPost(e, "/api/workspaces", ada.Token, "once", body), http.StatusConflict, "IDEMPOTENCY_KEY_IN_USE")
	execSQL(t, e, `UPDATE idempotency_keys SET locked_until = now() - interval '1 second'`)
	wantError(t, idemPost(e, "/api/workspaces", ada.Token, "once", body), http.StatusConflict, "IDEMPOTENCY_KEY_IN_USE")
	if n := scalar[int](t, e, `SELECT count(*) FROM workspace_members WHERE user_id = $1`, ada.ID); n != 1 {
		t.Fatalf("%d workspaces made under one key, want 1", n)
	}
	// Once the key expires, it is a new request.
	execSQL(t, e, `DROP TRIGGER refuse_answer ON idempotency_keys`)
	execSQL(t, e, `UPDATE idempotency_keys SET created_at = now() - interval '24 hours 1 second'`)
	wantStatus(t, idemPost(e, "/api/workspaces", ada.Token, "once", body), http.StatusCreated)
}
