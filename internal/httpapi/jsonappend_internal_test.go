package httpapi

import (
	"bytes"
	"encoding/json"
	"math/rand/v2"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// encoded is what writeJSON wrote before the appenders: encoding/json's
// Encoder without HTML escaping, its newline dropped.
func encoded(t testing.TB, v any) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// hostileStrings are strings every escaping rule applies to.
var hostileStrings = []string{"", "plain", `q"uote\back`, "\b\f\n\r\t\x00\x01\x1f\x7f", "<b>&amp;</b>",
	"\u2028\u2029", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "bad \xff\xfe utf8 \xc3", "\xed\xa0\x80 surrogate",
	"\ufffd", strings.Repeat("é", 300)}

func randomString(r *rand.Rand) string {
	var b strings.Builder
	for range r.IntN(40) {
		switch r.IntN(4) {
		case 0:
			b.WriteByte(byte(r.IntN(256))) // any byte, invalid UTF-8 included
		case 1:
			b.WriteByte(byte(r.IntN(0x80)))
		default:
			b.WriteRune(rune(r.IntN(0x30000)))
		}
	}
	return b.String()
}

func randomTime(r *rand.Rand) time.Time {
	t := time.Unix(r.Int64N(1<<34), r.Int64N(1e9)).UTC()
	if r.IntN(3) == 0 {
		t = t.Truncate(time.Second)
	}
	if r.IntN(3) == 0 {
		t = t.In(time.FixedZone("", 3600*(r.IntN(27)-12)))
	}
	return t
}

// TestAppendersMatchEncodingJSON: for hostile and random values, the
// workspace's and user's appendJSON write the bytes encoding/json writes.
func TestAppendersMatchEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	str := func(i int) string {
		if i < len(hostileStrings) {
			return hostileStrings[i]
		}
		return randomString(r)
	}
	ptr := func(i int) *string {
		if r.IntN(3) == 0 {
			return nil
		}
		s := str(i)
		return &s
	}
	tptr := func() *time.Time {
		if r.IntN(3) == 0 {
			return nil
		}
		tm := randomTime(r)
		return &tm
	}
	for i := range 3000 {
		ws := workspaceJSON{ID: uuid.New(), Name: str(i), ProductName: ptr(i), ProductDescription: ptr(i + 1),
			TargetUsers: ptr(i + 2), CurrentStage: ptr(i + 3), Role: str(i + 4),
			Subscription: subscriptionJSON{Plan: str(i + 5), Status: str(i + 6), TrialEndsAt: tptr()},
			CreatedAt:    randomTime(r), UpdatedAt: randomTime(r)}
		if got, want := ws.appendJSON(nil), encoded(t, ws); !bytes.Equal(got, want) {
			t.Fatalf("workspace:\n got %s\nwant %s", got, want)
		}
		u := userJSON{ID: uuid.New(), ClerkID: str(i), Email: str(i + 1), Name: str(i + 2), AvatarURL: ptr(i + 3),
			AccessStatus: str(i + 4), HasProductAccess: r.IntN(2) == 0, IsFounder: r.IntN(2) == 0, IsAdmin: r.IntN(2) == 0,
			ReferralCode: str(i + 5), ReferralCount: r.IntN(1 << 20), ActivatedAt: tptr(),
			CreatedAt: randomTime(r), UpdatedAt: randomTime(r)}
		if r.IntN(2) == 0 {
			u.Impersonator = str(i + 6)
		}
		if got, want := u.appendJSON(nil), encoded(t, u); !bytes.Equal(got, want) {
			t.Fatalf("user:\n got %s\nwant %s", got, want)
		}
	}
}

// FuzzAppendString holds appendString to encoding/json's quoting.
func FuzzAppendString(f *testing.F) {
	for _, s := range hostileStrings {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := appendString(nil, s), encoded(t, s); !bytes.Equal(got, want) {
			t.Fatalf("%q: got %s, want %s (valid UTF-8: %v)", s, got, want, utf8.ValidString(s))
		}
	})
}
