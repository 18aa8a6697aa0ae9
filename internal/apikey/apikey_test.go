package apikey

import (
	"hash/crc32"
	"math/big"
	"strings"
	"testing"
)

func TestNewIsValid(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		k := New()
		if len(k) != Len || !strings.HasPrefix(k, "pxm_") {
			t.Fatalf("New() = %q: want pxm_ and %d characters", k, Len)
		}
		if !Valid(k) {
			t.Fatalf("New() = %q is not Valid", k)
		}
		if seen[k] {
			t.Fatalf("New() repeated %q", k)
		}
		seen[k] = true
		if p := Prefix(k); p != k[:12] || len(p) != 12 {
			t.Fatalf("Prefix(%q) = %q", k, p)
		}
	}
}

// The checksum is the CRC-32 (IEEE) of the 40 random characters in base 62
// (0-9A-Za-z), most significant digit first, left-padded with 0: computed
// here independently with math/big.
func TestChecksumIsBase62CRC32(t *testing.T) {
	for _, body := range []string{
		strings.Repeat("0", 40), strings.Repeat("z", 40),
		"abcdefghijABCDEFGHIJ0123456789klmnopqrst",
	} {
		n := new(big.Int).SetUint64(uint64(crc32.ChecksumIEEE([]byte(body))))
		want := n.Text(62)
		// big.Int's base 62 digits are 0-9a-zA-Z; the key's are 0-9A-Za-z.
		swap := func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z':
				return r - 'a' + 'A'
			case r >= 'A' && r <= 'Z':
				return r - 'A' + 'a'
			}
			return r
		}
		want = strings.Map(swap, want)
		want = strings.Repeat("0", 6-len(want)) + want
		if sum := checksum(body); string(sum[:]) != want {
			t.Fatalf("checksum(%q) = %q, want %q", body, sum[:], want)
		}
		if !Valid("pxm_" + body + want) {
			t.Fatalf("Valid refuses a key with the right checksum")
		}
	}
}

func TestValidRefuses(t *testing.T) {
	k := New()
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'a' {
			b[i] = 'b'
		} else {
			b[i] = 'a'
		}
		return string(b)
	}
	for name, s := range map[string]string{
		"empty":             "",
		"truncated":         k[:len(k)-1],
		"one too many":      k + "0",
		"a body typo":       flip(k, 10),
		"a checksum typo":   flip(k, len(k)-1),
		"another scheme":    "pxk_" + k[4:],
		"upper-case scheme": "PXM_" + k[4:],
		"a dash":            k[:20] + "-" + k[21:],
		"a JWT":             "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1c2VyXzEifQ.c2ln",
	} {
		if Valid(s) {
			t.Errorf("%s: Valid(%q) = true", name, s)
		}
	}
	if !Looks(flip(k, 10)) || Looks("pxm_short") {
		t.Fatal("Looks must accept the shape whatever the checksum, and refuse other shapes")
	}
}
