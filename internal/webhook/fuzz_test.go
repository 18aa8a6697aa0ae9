package webhook_test

// Fuzz targets for the webhook endpoint's input path: the Svix signature
// check and the event envelope decoder. Their committed seed corpora live in
// testdata/fuzz/<FuzzName>/ and run as ordinary tests under `make test`;
// `make fuzz` mutates them for a bounded time.

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/webhook"
)

// fzSecretKey is the raw signing key of the fuzz targets; fzSecret is its
// whsec_ form as configured in CLERK_WEBHOOK_SIGNING_SECRET.
var (
	fzSecretKey = []byte("praxiom-fuzz-webhook-signing-key")
	fzSecret    = "whsec_" + base64.StdEncoding.EncodeToString(fzSecretKey)
)

// fzSign returns the v1 signature of a delivery, computed independently of
// the Svix library: HMAC-SHA256 over "id.unix-seconds.body", base64.
func fzSign(id string, unix int64, body []byte) string {
	mac := hmac.New(sha256.New, fzSecretKey)
	mac.Write([]byte(id + "." + strconv.FormatInt(unix, 10) + "."))
	mac.Write(body)
	return base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// fzCorrectlySigned reports whether the headers carry a correct, fresh
// signature of body under the Svix rules: the svix-* headers, or else the
// webhook-* ones, all three non-empty; a decimal timestamp within five
// minutes of now; one space-separated "v1,<signature>" entry that matches.
func fzCorrectlySigned(body []byte, h http.Header, now time.Time) bool {
	id, ts, sigs := h.Get("svix-id"), h.Get("svix-timestamp"), h.Get("svix-signature")
	if id == "" || ts == "" || sigs == "" {
		id, ts, sigs = h.Get("webhook-id"), h.Get("webhook-timestamp"), h.Get("webhook-signature")
		if id == "" || ts == "" || sigs == "" {
			return false
		}
	}
	unix, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return false
	}
	// One second of slack on each side: Verify read the clock a moment ago.
	if d := now.Unix() - unix; d > int64(5*time.Minute/time.Second)+1 || d < -int64(5*time.Minute/time.Second)-1 {
		return false
	}
	want := fzSign(id, unix, body)
	for _, entry := range strings.Split(sigs, " ") {
		parts := strings.Split(entry, ",")
		if len(parts) >= 2 && parts[0] == "v1" && parts[1] == want {
			return true
		}
	}
	return false
}

func FuzzWebhookVerify(f *testing.F) {
	body := []byte(`{"type":"user.created","object":"event","timestamp":1774607400000,"data":{"id":"user_2abc"}}`)
	now := time.Now().Unix()
	good := fzSign("msg_1", now, body)
	old := time.Date(2026, 3, 27, 10, 30, 0, 0, time.UTC).Unix()

	// header selects the header names: bit 0 sets svix-*, bit 1 webhook-*.
	for _, s := range []struct {
		body        []byte
		id, ts, sig string
		header      uint8
	}{
		{body, "msg_1", strconv.FormatInt(now, 10), "v1," + good, 1},                       // valid now
		{body, "msg_1", strconv.FormatInt(now, 10), "v1," + good, 2},                       // valid, Standard Webhooks names
		{body, "msg_1", strconv.FormatInt(now, 10), "v1,bad v1," + good, 1},                // several signatures
		{body, "msg_1", "0" + strconv.FormatInt(now, 10), "v1," + good, 1},                 // non-canonical timestamp
		{body, "msg_1", strconv.FormatInt(now, 10), "v2," + good, 1},                       // wrong version
		{body, "msg_2", strconv.FormatInt(now, 10), "v1," + good, 1},                       // other id
		{append(body, ' '), "msg_1", strconv.FormatInt(now, 10), "v1," + good, 1},          // other body
		{body, "msg_1", strconv.FormatInt(now+1, 10), "v1," + good, 1},                     // other timestamp
		{body, "msg_1", strconv.FormatInt(old, 10), "v1," + fzSign("msg_1", old, body), 1}, // stale
		{body, "msg_1", strconv.FormatInt(now, 10), "v1," + good, 0},                       // no headers
		{body, "", strconv.FormatInt(now, 10), "v1," + good, 3},                            // missing id
		{body, "msg_1", "", "v1," + good, 3},                                               // missing timestamp
		{body, "msg_1", "1e9", "v1,AAAA", 1},
		{nil, "", "", "", 1},
		{[]byte("{}"), "msg_1", "-9223372036854775808", "v1,", 3},
	} {
		f.Add(s.body, s.id, s.ts, s.sig, s.header)
	}

	v, err := webhook.NewVerifier(fzSecret)
	if err != nil {
		f.Fatalf("NewVerifier: %v", err)
	}
	// The property below only means something if good deliveries do pass.
	h := http.Header{}
	h.Set("svix-id", "msg_1")
	h.Set("svix-timestamp", strconv.FormatInt(now, 10))
	h.Set("svix-signature", "v1,"+good)
	if err := v.Verify(body, h); err != nil {
		f.Fatalf("Verify(valid seed): %v", err)
	}

	f.Fuzz(func(t *testing.T, body []byte, id, ts, sig string, header uint8) {
		h := http.Header{}
		if header&1 != 0 {
			h["Svix-Id"] = []string{id}
			h["Svix-Timestamp"] = []string{ts}
			h["Svix-Signature"] = []string{sig}
		}
		if header&2 != 0 {
			h["Webhook-Id"] = []string{id}
			h["Webhook-Timestamp"] = []string{ts}
			h["Webhook-Signature"] = []string{sig}
		}
		orig := bytes.Clone(body)
		err := v.Verify(body, h)
		if !bytes.Equal(body, orig) {
			t.Fatalf("Verify modified the body")
		}
		if err != nil {
			if e, ok := err.(*apperr.Error); !ok || e.Code != apperr.InvalidSignature {
				t.Fatalf("Verify: error %v (%T) is not an INVALID_SIGNATURE *apperr.Error", err, err)
			}
			return
		}
		if !fzCorrectlySigned(body, h, time.Now()) {
			t.Fatalf("Verify accepted a delivery without a correct signature: body %q, headers %q", body, h)
		}
	})
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		`{"type":"user.created","object":"event","timestamp":1774607400000,"data":{"id":"user_2abc"}}`,
		`{"type":"user.deleted","data":{"id":"user_2abc","deleted":true}}`,
		`{"type":"session.created","data":{}}`,
		`{"type":"","data":{}}`, `{"type":"  ","data":{}}`, `{"type":"user.created"}`,
		`{"type":"user.created","data":null}`, `{"type":"user.created","data":[]}`,
		`{"type":"user.created","data":"x"}`, `{"type":1,"data":{}}`,
		`{"type":"user.created","data":{},"timestamp":"soon"}`,
		`{"type":"user.created","data":{},"timestamp":1e400}`,
		`{"type":"user.created","data":{}} {}`, `{"type":"user.created","data":{}} x`,
		`{"type":"user.created","data":{`, `[]`, `null`, `""`, ``, ` `, `{`, "\xff",
		`{"type":"a","data":{},"type":"b"}`, `{"TYPE":"user.created","Data":{}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		ev, err := webhook.Decode(body)
		if err != nil {
			if e, ok := err.(*apperr.Error); !ok || e.Code != apperr.BadRequest {
				t.Fatalf("Decode(%q): error %v (%T) is not a BAD_REQUEST *apperr.Error", body, err, err)
			}
			return
		}
		if strings.TrimSpace(ev.Type) == "" {
			t.Fatalf("Decode(%q): accepted an event without a type", body)
		}
		if len(ev.Data) == 0 || ev.Data[0] != '{' {
			t.Fatalf("Decode(%q): accepted an event whose data %q is not an object", body, ev.Data)
		}
	})
}
