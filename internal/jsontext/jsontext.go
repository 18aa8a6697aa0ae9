// Package jsontext checks that JSON text holds only what PostgreSQL can
// store (api/openapi.yaml, "Conventions": JSON in UTF-8, a field that does
// not fit is 422 VALIDATION_ERROR naming it): text columns and jsonb refuse
// U+0000, jsonb refuses unpaired surrogate escapes, and encoding/json would
// silently turn invalid UTF-8 and lone surrogates into U+FFFD. Refusing
// them up front answers 422 instead of a database error.
package jsontext

import "unicode/utf8"

// Problem describes why text cannot be stored: one of the phrases below,
// fit for a VALIDATION_ERROR field message.
type Problem string

// The problems Check finds.
const (
	InvalidUTF8       Problem = "must be valid UTF-8"
	NULCharacter      Problem = "must not contain NUL (U+0000) characters"
	UnpairedSurrogate Problem = "must not contain unpaired UTF-16 surrogates"
)

// Check scans JSON text (a whole document or one value; it need not be
// valid JSON otherwise) and returns the first problem of its strings, or ""
// when there is none: raw bytes that are not UTF-8, a \u0000 escape, or a
// \uD800–\uDFFF escape that is not a high surrogate followed by a low one.
func Check(raw []byte) Problem {
	if !utf8.Valid(raw) {
		return InvalidUTF8
	}
	in := false
	for i := 0; i < len(raw); i++ {
		c := raw[i]
		if !in {
			if c == '"' {
				in = true
			}
			continue
		}
		switch c {
		case '"':
			in = false
		case 0:
			return NULCharacter
		case '\\':
			if i+1 >= len(raw) {
				return ""
			}
			if raw[i+1] != 'u' {
				i++ // \" \\ \/ \b \f \n \r \t
				continue
			}
			r, ok := hex4(raw, i+2)
			if !ok {
				i++
				continue
			}
			switch {
			case r == 0:
				return NULCharacter
			case r >= 0xDC00 && r <= 0xDFFF:
				return UnpairedSurrogate
			case r >= 0xD800 && r <= 0xDBFF:
				// A high surrogate must be followed by \u and a low one.
				lo, ok := rune(0), false
				if i+7 < len(raw) && raw[i+6] == '\\' && raw[i+7] == 'u' {
					lo, ok = hex4(raw, i+8)
				}
				if !ok || lo < 0xDC00 || lo > 0xDFFF {
					return UnpairedSurrogate
				}
				i += 11
			default:
				i += 5
			}
		}
	}
	return ""
}

// hex4 reads four hex digits at raw[at:].
func hex4(raw []byte, at int) (rune, bool) {
	if at+4 > len(raw) {
		return 0, false
	}
	var r rune
	for _, c := range raw[at : at+4] {
		r <<= 4
		switch {
		case c >= '0' && c <= '9':
			r |= rune(c - '0')
		case c >= 'a' && c <= 'f':
			r |= rune(c-'a') + 10
		case c >= 'A' && c <= 'F':
			r |= rune(c-'A') + 10
		default:
			return 0, false
		}
	}
	return r, true
}
