package auth

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"unicode/utf8"
)

// This file holds the checks Verify makes before any key is looked up: a
// token has one spelling (canonical base64url, no duplicate or case-variant
// member names) and is a Clerk session token. Header and payload are each
// decoded once here; the Clerk SDK decodes them again when it checks the
// signature and the time claims.

// Header "cat" values (Clerk's token categories) that pass: a session token,
// and the value instances that opt out of categories stamp on every kind.
const (
	catSession       = "cl_B7d4PD111AAA"
	catUncategorized = "cl_I7d4PD111III"
)

// maxActorLength bounds act.sub, in characters.
const maxActorLength = 128

// maxSubjectIDLength bounds the part of sub after "user_".
const maxSubjectIDLength = 64

// headerNames are the header members whose names are compared exactly:
// another member that differs from one of them only by case is refused.
var headerNames = []string{"alg", "kid", "typ", "cat"}

// claimNames are the registered claims whose names are compared exactly.
// The SDK decodes claims with encoding/json, which matches names
// case-insensitively and lets the last duplicate win; refusing both makes
// what the SDK reads the same as what we read.
var claimNames = []string{"exp", "nbf", "iat", "iss", "sub", "azp", "sid", "sts", "act"}

// strictB64 decodes base64url without padding and refuses set trailing
// bits, so that each byte string has exactly one encoding.
var strictB64 = base64.RawURLEncoding.Strict()

// jwsHeader is what Verify needs of the protected header.
type jwsHeader struct {
	alg, kid string
}

// sessionClaims are the payload claims read by our own strict decode.
type sessionClaims struct {
	sub, sid, sts, iss, azp string
	email, name             string
	actor                   string // act.sub; "" without act
}

// splitCompact returns the three segments of a token that passed
// isCompactJWS.
func splitCompact(token string) (header, payload, sig string) {
	header, rest, _ := strings.Cut(token, ".")
	payload, sig, _ = strings.Cut(rest, ".")
	return header, payload, sig
}

// canonicalSegment reports whether seg (base64url characters only, no
// padding) is the one encoding of the bytes it decodes to: its length is
// not 1 modulo 4 and the unused low bits of its last character are zero.
// It decodes nothing, so it is cheap enough for the signature segment.
func canonicalSegment(seg string) bool {
	var unused uint
	switch len(seg) % 4 {
	case 0:
		return true
	case 1:
		return false
	case 2:
		unused = 4
	case 3:
		unused = 2
	}
	return b64Value(seg[len(seg)-1])&(1<<unused-1) == 0
}

// b64Value is the 6-bit value of a base64url character.
func b64Value(c byte) byte {
	switch {
	case c >= 'A' && c <= 'Z':
		return c - 'A'
	case c >= 'a' && c <= 'z':
		return c - 'a' + 26
	case c >= '0' && c <= '9':
		return c - '0' + 52
	case c == '-':
		return 62
	default: // '_'
		return 63
	}
}

// parseHeader decodes the protected header and applies the header rules:
// one spelling; alg and kid strings; typ, when present, exactly "JWT"; cat,
// when present, a session category. It does not check alg's value.
func parseHeader(seg string) (jwsHeader, error) {
	var h jwsHeader
	raw, err := strictB64.DecodeString(seg)
	if err != nil {
		return h, invalid("header is not canonical base64url")
	}
	err = scanObject(raw, headerNames, func(name string, value []byte) error {
		var ok bool
		switch name {
		case "alg":
			h.alg, ok = jsonString(value)
			if !ok {
				return invalid("alg is not a string")
			}
		case "kid":
			h.kid, ok = jsonString(value)
			if !ok {
				return invalid("kid is not a string")
			}
		case "typ":
			if typ, ok := jsonString(value); !ok || typ != "JWT" {
				return invalid("typ is not JWT (not a session token)")
			}
		case "cat":
			if cat, ok := jsonString(value); !ok || (cat != catSession && cat != catUncategorized) {
				return invalid("cat is not a session token's")
			}
		}
		return nil
	})
	if err != nil {
		return h, headerErr(err)
	}
	return h, nil
}

// parsePayload decodes the payload and applies the claim rules: one
// spelling; sub of the form user_<1..64 letters or digits>; a non-empty
// sid; string iss, azp and sts; act, when present, an object with a
// non-empty sub of at most 128 characters; email and name strings (or
// null); no U+0000 in sub, email, name or act.sub.
func parsePayload(seg string) (sessionClaims, error) {
	var c sessionClaims
	raw, err := strictB64.DecodeString(seg)
	if err != nil {
		return c, invalid("payload is not canonical base64url")
	}
	var hasSub, hasSID, hasAct bool
	err = scanObject(raw, claimNames, func(name string, value []byte) error {
		var ok bool
		switch name {
		case "sub":
			hasSub = true
			if c.sub, ok = jsonString(value); !ok || !validSubject(c.sub) {
				return invalid("sub is not user_ followed by 1 to 64 letters or digits")
			}
		case "sid":
			hasSID = true
			if c.sid, ok = jsonString(value); !ok || c.sid == "" {
				return invalid("sid is not a non-empty string")
			}
		case "sts":
			if c.sts, ok = jsonString(value); !ok {
				return invalid("sts is not a string")
			}
		case "iss":
			if c.iss, ok = jsonString(value); !ok {
				return invalid("iss is not a string")
			}
		case "azp":
			if c.azp, ok = jsonString(value); !ok {
				return invalid("azp is not a string")
			}
		case "act":
			hasAct = true
			actor, err := parseActor(value)
			if err != nil {
				return err
			}
			c.actor = actor
		case "email":
			if c.email, ok = jsonStringOrNull(value); !ok || strings.IndexByte(c.email, 0) >= 0 {
				return invalid("email is not a string without U+0000")
			}
		case "name":
			if c.name, ok = jsonStringOrNull(value); !ok || strings.IndexByte(c.name, 0) >= 0 {
				return invalid("name is not a string without U+0000")
			}
		}
		return nil
	})
	switch {
	case err != nil:
		return c, payloadErr(err)
	case !hasSub:
		return c, invalid("missing sub")
	case !hasSID:
		return c, invalid("missing sid (not a session token)")
	case hasAct && c.actor == "":
		return c, invalid("act without sub")
	}
	return c, nil
}

// parseActor reads act.sub from the act claim's raw JSON value.
func parseActor(value []byte) (string, error) {
	if len(value) == 0 || value[0] != '{' {
		return "", invalid("act is not an object")
	}
	var actor string
	err := scanObject(value, []string{"sub"}, func(name string, v []byte) error {
		if name != "sub" {
			return nil
		}
		s, ok := jsonString(v)
		if !ok || s == "" || strings.IndexByte(s, 0) >= 0 || utf8.RuneCountInString(s) > maxActorLength {
			return invalid("act.sub is not a non-empty string of at most 128 characters without U+0000")
		}
		actor = s
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrInvalidToken) {
			return "", err
		}
		return "", invalid("act: " + err.Error())
	}
	return actor, nil
}

// validSubject reports whether sub matches ^user_[A-Za-z0-9]{1,64}$.
func validSubject(sub string) bool {
	id, ok := strings.CutPrefix(sub, "user_")
	if !ok || len(id) == 0 || len(id) > maxSubjectIDLength {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// Errors of scanObject; Verify words them for the header or the payload.
var (
	errNotObject  = errors.New("not a JSON object")
	errDuplicate  = errors.New("duplicate member name")
	errCaseFolded = errors.New("member name differs from a registered one only by case")
)

func headerErr(err error) error {
	if errors.Is(err, ErrInvalidToken) {
		return err
	}
	return invalid("header: " + err.Error())
}

func payloadErr(err error) error {
	if errors.Is(err, ErrInvalidToken) {
		return err
	}
	return invalid("payload: " + err.Error())
}

// scanObject calls fn with the name (unescaped) and raw value of every
// member of the JSON object data, in order. It fails when data is not
// exactly one JSON object, when a name appears twice, or when a name
// differs from one of exact only by case (as encoding/json folds case,
// Unicode simple folding included: "ſub" folds to "sub"). Nested objects
// are not scanned. Its error messages never quote the input.
//
// json.Valid checks the whole input first, without allocating; the walk
// below relies on that and only finds where members start and end.
func scanObject(data []byte, exact []string, fn func(name string, value []byte) error) error {
	if !json.Valid(data) {
		return errNotObject
	}
	i := skipSpace(data, 0)
	if data[i] != '{' {
		return errNotObject
	}
	seen := make(map[string]struct{}, 16)
	i++
	for {
		i = skipSpace(data, i)
		switch data[i] {
		case '}':
			return nil
		case ',':
			i = skipSpace(data, i+1)
		}
		end := stringEnd(data, i)
		name, ok := jsonString(data[i:end])
		if !ok {
			return errNotObject
		}
		if _, dup := seen[name]; dup {
			return errDuplicate
		}
		seen[name] = struct{}{}
		for _, e := range exact {
			if name != e && strings.EqualFold(name, e) {
				return errCaseFolded
			}
		}
		i = skipSpace(data, end) // at the colon
		i = skipSpace(data, i+1)
		end = valueEnd(data, i)
		if err := fn(name, data[i:end]); err != nil {
			return err
		}
		i = end
	}
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(data []byte, i int) int {
	for i < len(data) {
		switch data[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// stringEnd returns the index just after the valid JSON string that starts
// at data[i] (a quote).
func stringEnd(data []byte, i int) int {
	for j := i + 1; ; j++ {
		switch data[j] {
		case '\\':
			j++ // skip the escaped character; \uXXXX's digits are plain
		case '"':
			return j + 1
		}
	}
}

// valueEnd returns the index just after the valid JSON value that starts at
// data[i].
func valueEnd(data []byte, i int) int {
	switch data[i] {
	case '"':
		return stringEnd(data, i)
	case '{', '[':
		depth := 0
		for j := i; ; j++ {
			switch data[j] {
			case '"':
				j = stringEnd(data, j) - 1
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return j + 1
				}
			}
		}
	default: // number, true, false, null
		j := i
		for j < len(data) {
			switch data[j] {
			case ',', '}', ']', ' ', '\t', '\n', '\r':
				return j
			}
			j++
		}
		return j
	}
}

// jsonString returns the value of a JSON string; ok is false for any other
// JSON value, null included. A string without escapes that is valid UTF-8
// is taken as it is; any other goes through encoding/json, so the result
// is always what encoding/json reads.
func jsonString(value []byte) (string, bool) {
	if len(value) < 2 || value[0] != '"' || value[len(value)-1] != '"' {
		return "", false
	}
	if inner := value[1 : len(value)-1]; bytes.IndexByte(inner, '\\') < 0 && utf8.Valid(inner) {
		return string(inner), true
	}
	var s string
	if err := json.Unmarshal(value, &s); err != nil {
		return "", false
	}
	return s, true
}

// jsonStringOrNull is jsonString that also takes null (as "").
func jsonStringOrNull(value []byte) (string, bool) {
	if string(value) == "null" {
		return "", true
	}
	return jsonString(value)
}
