package httpapi

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
)

// jsonAppender is a response object that writes its own JSON, so that the
// objects of the busiest routes (a user, a workspace) skip reflection.
// appendJSON appends exactly what encoding/json's Encoder (HTML not
// escaped) writes for the value, without the trailing newline: the
// appenders' tests hold them to it.
type jsonAppender interface {
	appendJSON(b []byte) []byte
}

func (w workspaceJSON) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendUUID(b, w.ID)
	b = append(b, `,"name":`...)
	b = appendString(b, w.Name)
	b = append(b, `,"product_name":`...)
	b = appendStringPtr(b, w.ProductName)
	b = append(b, `,"product_description":`...)
	b = appendStringPtr(b, w.ProductDescription)
	b = append(b, `,"target_users":`...)
	b = appendStringPtr(b, w.TargetUsers)
	b = append(b, `,"current_stage":`...)
	b = appendStringPtr(b, w.CurrentStage)
	b = append(b, `,"role":`...)
	b = appendString(b, w.Role)
	b = append(b, `,"subscription":{"plan":`...)
	b = appendString(b, w.Subscription.Plan)
	b = append(b, `,"status":`...)
	b = appendString(b, w.Subscription.Status)
	b = append(b, `,"trial_ends_at":`...)
	b = appendTimePtr(b, w.Subscription.TrialEndsAt)
	b = append(b, `},"created_at":`...)
	b = appendTime(b, w.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendTime(b, w.UpdatedAt)
	return append(b, '}')
}

func (u userJSON) appendJSON(b []byte) []byte {
	b = append(b, `{"id":`...)
	b = appendUUID(b, u.ID)
	b = append(b, `,"clerk_id":`...)
	b = appendString(b, u.ClerkID)
	b = append(b, `,"email":`...)
	b = appendString(b, u.Email)
	b = append(b, `,"name":`...)
	b = appendString(b, u.Name)
	b = append(b, `,"avatar_url":`...)
	b = appendStringPtr(b, u.AvatarURL)
	b = append(b, `,"access_status":`...)
	b = appendString(b, u.AccessStatus)
	b = append(b, `,"has_product_access":`...)
	b = strconv.AppendBool(b, u.HasProductAccess)
	b = append(b, `,"is_founder":`...)
	b = strconv.AppendBool(b, u.IsFounder)
	b = append(b, `,"is_admin":`...)
	b = strconv.AppendBool(b, u.IsAdmin)
	b = append(b, `,"referral_code":`...)
	b = appendString(b, u.ReferralCode)
	b = append(b, `,"referral_count":`...)
	b = strconv.AppendInt(b, int64(u.ReferralCount), 10)
	b = append(b, `,"activated_at":`...)
	b = appendTimePtr(b, u.ActivatedAt)
	b = append(b, `,"created_at":`...)
	b = appendTime(b, u.CreatedAt)
	b = append(b, `,"updated_at":`...)
	b = appendTime(b, u.UpdatedAt)
	if u.Impersonator != "" {
		b = append(b, `,"impersonator":`...)
		b = appendString(b, u.Impersonator)
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as encoding/json quotes it without HTML
// escaping: `"` and `\` escaped, control characters as \b \f \n \r \t or
// \u00XX, U+2028 and U+2029 as \u2028 and \u2029, each byte of invalid
// UTF-8 replaced by U+FFFD.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, s[start:i]...)
			b = append(b, "\ufffd"...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += size
			continue
		}
		i += size
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

func appendStringPtr(b []byte, s *string) []byte {
	if s == nil {
		return append(b, "null"...)
	}
	return appendString(b, *s)
}

// appendTime appends t as time.Time's MarshalJSON does (RFC 3339 with
// nanoseconds, trailing zeros dropped).
func appendTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

func appendTimePtr(b []byte, t *time.Time) []byte {
	if t == nil {
		return append(b, "null"...)
	}
	return appendTime(b, *t)
}

// appendUUID appends id in its canonical quoted form.
func appendUUID(b []byte, id uuid.UUID) []byte {
	return append(appendUUIDText(append(b, '"'), id), '"')
}

// appendUUIDText appends id in its canonical form (id.String()'s).
func appendUUIDText(b []byte, id uuid.UUID) []byte {
	for i, x := range id {
		if i == 4 || i == 6 || i == 8 || i == 10 {
			b = append(b, '-')
		}
		b = append(b, hexDigits[x>>4], hexDigits[x&0xf])
	}
	return b
}
