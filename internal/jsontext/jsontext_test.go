package jsontext

import (
	"encoding/json"
	"testing"
)

func TestCheck(t *testing.T) {
	for _, c := range []struct {
		raw  string
		want Problem
	}{
		{`{"a":"plain","b":[1,2,{"c":"é 😀"}]}`, ""},
		{`{"a":"\u00e9\ud83d\ude00\n\"\\"}`, ""},
		{`{"a":"x\\u0000"}`, ""}, // an escaped backslash, then the text u0000
		{`"\\\\"`, ""},
		{`{"a":"\u0000"}`, NULCharacter},
		{`{"\u0000":1}`, NULCharacter},
		{"{\"a\":\"\x00\"}", NULCharacter},
		{`{"a":"\ud800"}`, UnpairedSurrogate},
		{`{"a":"\uD800x"}`, UnpairedSurrogate},
		{`{"a":"\udc00\ud800"}`, UnpairedSurrogate},
		{`{"a":"\ud800\u0041"}`, UnpairedSurrogate},
		{`{"a":"\ud83d\ude00\ud800"}`, UnpairedSurrogate},
		{`{"a":["ok","\udfff"]}`, UnpairedSurrogate},
		{"{\"a\":\"\xff\"}", InvalidUTF8},
		{"{\"a\":\"\xed\xa0\x80\"}", InvalidUTF8}, // a surrogate encoded raw
		{`{"a":"\u12"}`, ""},                      // malformed escapes are the JSON parser's to refuse
		{`"\`, ""},
	} {
		if got := Check([]byte(c.raw)); got != c.want {
			t.Errorf("Check(%q) = %q, want %q", c.raw, got, c.want)
		}
	}
}

// FuzzCheck holds Check to encoding/json: a valid document Check accepts
// decodes to strings without NUL and without U+FFFD that the text did not
// spell.
func FuzzCheck(f *testing.F) {
	for _, s := range []string{`{"a":"b"}`, `"\ud800"`, `"\u0000"`, `["\ud83d\ude00"]`, "\"\xff\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		if Check(raw) != "" || !json.Valid(raw) {
			return
		}
		var v any
		if err := json.Unmarshal(raw, &v); err != nil {
			return
		}
		var walk func(any)
		walk = func(v any) {
			switch x := v.(type) {
			case string:
				for _, r := range x {
					if r == 0 {
						t.Fatalf("Check accepted %q, which decodes to a NUL", raw)
					}
				}
			case []any:
				for _, e := range x {
					walk(e)
				}
			case map[string]any:
				for k, e := range x {
					walk(k)
					walk(e)
				}
			}
		}
		walk(v)
	})
}
