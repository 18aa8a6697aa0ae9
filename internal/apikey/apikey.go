// Package apikey makes and checks workspace API keys (api/openapi.yaml,
// "API keys"): "pxm_", 40 characters of [0-9A-Za-z] from crypto/rand, then
// the CRC-32 (IEEE) of those 40 characters in base 62, most significant
// digit first, left-padded with "0" to 6 characters. The checksum lets a
// mistyped or truncated key be refused without a database query and lets
// secret scanners recognise our keys. Only a SHA-256 of a key is stored.
package apikey

import (
	"crypto/rand"
	"crypto/sha256"
	"hash/crc32"
	"strings"
	"unsafe"
)

const (
	// Scheme starts every key.
	Scheme = "pxm_"
	// bodyLen is the number of random characters.
	bodyLen = 40
	// sumLen is the number of checksum characters.
	sumLen = 6
	// Len is the length of a whole key.
	Len = len(Scheme) + bodyLen + sumLen
	// PrefixLen is how much of a key is shown again after creation.
	PrefixLen = 12
)

// alphabet is base 62 in the order the checksum's digits use.
const alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// New returns a fresh key. It panics only if the operating system's random
// source fails, which crypto/rand treats as fatal too.
func New() string {
	var b strings.Builder
	b.Grow(Len)
	b.WriteString(Scheme)
	buf := make([]byte, 64)
	for n := 0; n < bodyLen; {
		if _, err := rand.Read(buf); err != nil {
			panic("apikey: crypto/rand failed: " + err.Error())
		}
		for _, c := range buf {
			// Rejection sampling keeps the distribution uniform: 248 = 4*62.
			if c >= 248 || n == bodyLen {
				continue
			}
			b.WriteByte(alphabet[int(c)%len(alphabet)])
			n++
		}
	}
	body := b.String()[len(Scheme):]
	sum := checksum(body)
	b.Write(sum[:])
	return b.String()
}

// checksum is the CRC-32 of body in base 62, padded to sumLen digits.
func checksum(body string) [sumLen]byte {
	sum := crc32.ChecksumIEEE(bytesOf(body))
	var out [sumLen]byte
	for i := sumLen - 1; i >= 0; i-- {
		out[i] = alphabet[sum%62]
		sum /= 62
	}
	return out
}

// bytesOf returns s's bytes without a copy, for functions that only read
// them (a key is checked and hashed on every request that carries one).
func bytesOf(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// Looks reports whether s has the shape of a key ("pxm_" and 46 characters
// of [0-9A-Za-z]), whatever its checksum: a bearer credential that looks
// like a key is never tried as a session token.
func Looks(s string) bool {
	if len(s) != Len || !strings.HasPrefix(s, Scheme) {
		return false
	}
	for i := len(Scheme); i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}

// Valid reports whether s is a well-formed key whose checksum matches. It
// needs no database and no secret.
func Valid(s string) bool {
	if !Looks(s) {
		return false
	}
	body := s[len(Scheme) : len(Scheme)+bodyLen]
	sum := checksum(body)
	return s[len(Scheme)+bodyLen:] == string(sum[:])
}

// Hash is what is stored of a key: its SHA-256.
func Hash(key string) [32]byte { return sha256.Sum256(bytesOf(key)) }

// Prefix is the part of a key shown after creation: its first 12
// characters ("pxm_" and 8 random ones).
func Prefix(key string) string {
	if len(key) < PrefixLen {
		return key
	}
	return key[:PrefixLen]
}
