// Package randcode makes short human-friendly codes from crypto/rand.
package randcode

import (
	"crypto/rand"
	"encoding/base64"
)

// Alphabet is the alphabet of referral and access codes: no 0/O, 1/I/L
// (api/openapi.yaml, User.referral_code and createAccessCodes).
const Alphabet = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"

// String returns n characters drawn uniformly from Alphabet. It panics only
// if the operating system's random source fails, which crypto/rand treats
// as fatal too.
func String(n int) string {
	out := make([]byte, n)
	buf := make([]byte, 1)
	// Rejection sampling keeps the distribution uniform: 248 = 8*31.
	for i := 0; i < n; {
		if _, err := rand.Read(buf); err != nil {
			panic("randcode: crypto/rand failed: " + err.Error())
		}
		if buf[0] >= 248 {
			continue
		}
		out[i] = Alphabet[int(buf[0])%len(Alphabet)]
		i++
	}
	return string(out)
}

// Token returns a URL-safe string carrying nBytes random bytes.
func Token(nBytes int) string {
	b := make([]byte, nBytes)
	if _, err := rand.Read(b); err != nil {
		panic("randcode: crypto/rand failed: " + err.Error())
	}
	return base64.RawURLEncoding.EncodeToString(b)
}
