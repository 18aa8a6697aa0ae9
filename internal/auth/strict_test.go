package auth

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
)

// BenchmarkStrictChecks measures the checks made before the key lookup on
// a Clerk-sized session token: the header and payload decodes.
func BenchmarkStrictChecks(b *testing.B) {
	const token = "eyJhbGciOiJSUzI1NiIsImNhdCI6ImNsX0I3ZDRQRDExMUFBQSIsImtpZCI6Imluc18yYWJjIiwidHlwIjoiSldUIn0." +
		"eyJhenAiOiJodHRwOi8vbG9jYWxob3N0OjMwMDAiLCJlbWFpbCI6ImFkYUBleGFtcGxlLmNvbSIsImV4cCI6MTc3NDYwNzQ2MCwiZnZhIjpbMCwtMV0sImlhdCI6MTc3NDYwNzQwMCwiaXNzIjoiaHR0cDovL2xvY2FsaG9zdDo4MDAwL2RldiIsIm5hbWUiOiJBZGEgTG92ZWxhY2UiLCJuYmYiOjE3NzQ2MDczOTUsInNpZCI6InNlc3NfMDEyMzQ1Njc4OWFiY2RlZjAxMjM0NTY3Iiwic3ViIjoidXNlcl8yYWJjIiwidiI6Mn0." +
		"AAAA"
	h, p, sig := splitCompact(token)
	b.ReportAllocs()
	for b.Loop() {
		if !canonicalSegment(sig) {
			b.Fatal("signature")
		}
		if _, err := parseHeader(h); err != nil {
			b.Fatal(err)
		}
		if _, err := parsePayload(p); err != nil {
			b.Fatal(err)
		}
	}
}

func TestCanonicalSegment(t *testing.T) {
	for _, tc := range []struct {
		seg  string
		want bool
	}{
		{"", true}, {"AAAA", true}, {"A", false}, {"AAAAA", false},
		{"AA", true}, {"AB", false}, {"AQ", true}, {"AP", false}, {"A_", false},
		{"AAA", true}, {"AAB", false}, {"AAE", true}, {"AAD", false}, {"AA-", false}, {"AA8", true},
	} {
		if got := canonicalSegment(tc.seg); got != tc.want {
			t.Errorf("canonicalSegment(%q) = %v, want %v", tc.seg, got, tc.want)
		}
		// The oracle: the strict decoder of the standard library.
		_, err := strictB64.DecodeString(tc.seg)
		if (err == nil) != tc.want {
			t.Errorf("%q: strict decode error %v disagrees with %v", tc.seg, err, tc.want)
		}
	}
	// Every one- and two-character tail, against the oracle.
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	for _, prefix := range []string{"", "AA", "AAA"} {
		for _, c := range alphabet {
			seg := "AAAA" + prefix + string(c)
			_, err := strictB64.DecodeString(seg)
			if canonicalSegment(seg) != (err == nil) {
				t.Errorf("canonicalSegment(%q) = %v, strict decode error %v", seg, canonicalSegment(seg), err)
			}
		}
	}
}

// FuzzScanObject compares scanObject with encoding/json's own tokenizer:
// for any input, both must agree on whether it is one JSON object and on
// its members' names and raw values, in order; and scanObject must refuse
// exactly the inputs with a repeated name or a case-folded twin of "sub".
func FuzzScanObject(f *testing.F) {
	for _, s := range []string{
		`{}`, ` { } `, `{"a":1}`, `{"sub":"user_1","exp":1e3,"act":{"sub":"x"},"arr":[1,"]}",{"}":"{"}]}`,
		`{"a":"\"}"}`, `{"a\u0062":true,"c":null,"d":false}`, `{"sub":1,"sub":2}`, `{"sub":1,"SUB":2}`,
		`{"ſub":1}`, `{"s\u0075b":1,"sub":2}`, `{"a":1}{}`, `{"a":1,}`, `[]`, `"x"`, `{"a" : [ ] , "b" : { } }`,
		"{\"\xff\":1,\"\xfe\":2}", `{"a":-0.5e-3}`, `{"a":"\\"}`, `{"a":"\\\""}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		type member struct{ name, value string }
		var got []member
		err := scanObject(data, []string{"sub"}, func(name string, value []byte) error {
			got = append(got, member{name, string(value)})
			return nil
		})

		// The oracle.
		var want []member
		oracleErr := func() error {
			dec := json.NewDecoder(bytes.NewReader(data))
			if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
				return errNotObject
			}
			seen := map[string]bool{}
			var dupErr error
			for dec.More() {
				tok, err := dec.Token()
				if err != nil {
					return errNotObject
				}
				name := tok.(string)
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return errNotObject
				}
				if dupErr == nil && seen[name] {
					dupErr = errDuplicate
				}
				if dupErr == nil && name != "sub" && strings.EqualFold(name, "sub") {
					dupErr = errCaseFolded
				}
				seen[name] = true
				if dupErr == nil {
					want = append(want, member{name, string(raw)})
				}
			}
			if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
				return errNotObject
			}
			if _, err := dec.Token(); err != io.EOF {
				return errNotObject
			}
			return dupErr
		}()
		if !errors.Is(err, oracleErr) && !(err == nil && oracleErr == nil) {
			t.Fatalf("scanObject(%q) = %v, encoding/json says %v", data, err, oracleErr)
		}
		if err != nil {
			return
		}
		if len(got) != len(want) {
			t.Fatalf("scanObject(%q) members %q, encoding/json %q", data, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("scanObject(%q) member %d = %q, encoding/json %q", data, i, got[i], want[i])
			}
		}
	})
}
