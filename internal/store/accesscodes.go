package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/jsontext"
	"github.com/praxiom/praxiom-api/internal/randcode"
)

// Limits of a batch of new access codes (api/openapi.yaml,
// CreateAccessCodesRequest).
const (
	MaxAccessCodeBatch       = 1000
	MaxAccessCodeRedemptions = 10000
	MaxAccessCodeMetadata    = 4 << 10 // bytes of compact JSON
	// AccessCodePrefix starts every code; six characters of randcode's
	// alphabet follow.
	AccessCodePrefix = "PRAXIOM-"
)

// AccessCode is a row of access_codes.
type AccessCode struct {
	ID              uuid.UUID
	Code            string
	MaxRedemptions  int
	RedemptionCount int
	ExpiresAt       *time.Time
	RevokedAt       *time.Time
	// Metadata is a JSON object.
	Metadata  json.RawMessage
	CreatedAt time.Time
}

const accessCodeColumns = `c.id, c.code, c.max_redemptions, c.redemption_count, c.expires_at,
	c.revoked_at, c.metadata, c.created_at`

// readAccessCode reads accessCodeColumns.
func readAccessCode(r *row) AccessCode {
	return AccessCode{ID: r.uuid(), Code: r.text(), MaxRedemptions: r.int(), RedemptionCount: r.int(),
		ExpiresAt: r.timePtr(), RevokedAt: r.timePtr(), Metadata: r.json(), CreatedAt: r.time()}
}

// NewAccessCodes describes a batch of codes to create.
type NewAccessCodes struct {
	// Count is how many codes to create: 1..1000.
	Count int
	// MaxRedemptions is how often each code may be redeemed: 1..10000.
	MaxRedemptions int
	// ExpiresAt, when set, must be in the future; nil never expires.
	ExpiresAt *time.Time
	// Metadata must be a JSON object of at most 4 KiB once compacted,
	// whose strings PostgreSQL can store and whose numbers are finite
	// doubles; empty means {}.
	Metadata json.RawMessage
}

// Problems returns what is wrong with n, by field name (the request's JSON
// names), as of now; nil when n is valid.
func (n NewAccessCodes) Problems(now time.Time) map[string]string {
	p := map[string]string{}
	if n.Count < 1 || n.Count > MaxAccessCodeBatch {
		p["count"] = "must be from 1 to 1000"
	}
	if n.MaxRedemptions < 1 || n.MaxRedemptions > MaxAccessCodeRedemptions {
		p["max_redemptions"] = "must be from 1 to 10000"
	}
	if n.ExpiresAt != nil && !n.ExpiresAt.After(now) {
		p["expires_at"] = "must be in the future"
	}
	if len(n.Metadata) > 0 {
		if _, err := compactObject(n.Metadata); err != nil {
			p["metadata"] = err.Error()
		}
	}
	if len(p) == 0 {
		return nil
	}
	return p
}

// compactObject returns raw compacted, or an error (a client-safe phrase)
// when it is not a JSON object, holds what jsonb cannot store (U+0000,
// unpaired surrogates, numbers beyond a double) or is too large.
func compactObject(raw json.RawMessage) ([]byte, error) {
	trimmed := bytes.TrimSpace(raw)
	var buf bytes.Buffer
	if len(trimmed) == 0 || trimmed[0] != '{' || json.Compact(&buf, trimmed) != nil {
		return nil, errors.New("must be an object")
	}
	if p := jsontext.Check(trimmed); p != "" {
		return nil, errors.New(string(p))
	}
	var obj map[string]any
	if err := json.Unmarshal(trimmed, &obj); err != nil {
		return nil, errors.New("must hold only numbers that fit a double")
	}
	if buf.Len() > MaxAccessCodeMetadata {
		return nil, errors.New("must be at most 4 KiB")
	}
	return buf.Bytes(), nil
}

// NewAccessCode returns a fresh code: the prefix and six random characters
// of the code alphabet, from crypto/rand.
func NewAccessCode() string { return AccessCodePrefix + randcode.String(6) }

// CreateAccessCodes creates n.Count codes for a (a platform admin, or the
// command line) in one transaction; a code that collides with an existing
// one is replaced by a fresh one. Returns the new codes, VALIDATION_ERROR
// naming every bad field of n, SERVICE_UNAVAILABLE.
func (s *Store) CreateAccessCodes(ctx context.Context, a Actor, n NewAccessCodes) ([]AccessCode, error) {
	var createdBy *uuid.UUID
	if a.Type == ActorUser {
		createdBy = &a.ID
	}
	if p := n.Problems(time.Now()); p != nil {
		return nil, apperr.Validation(p)
	}
	meta := []byte(`{}`)
	if len(n.Metadata) > 0 {
		meta, _ = compactObject(n.Metadata) // checked by Problems
	}
	var created []AccessCode
	err := s.change(ctx, a, "create access codes", func(tx *changeTx) error {
		created = make([]AccessCode, 0, n.Count)
		// Collisions (31^6 codes) are rare: each round inserts what is
		// still missing and skips codes that already exist.
		for round := 0; len(created) < n.Count; round++ {
			if round == 10 {
				return apperr.Wrap(apperr.Internal, "Internal server error.",
					errors.New("store: create access codes: too many collisions"))
			}
			want := n.Count - len(created)
			seen := make(map[string]bool, want)
			codes := make([]string, 0, want)
			for len(codes) < want {
				c := NewAccessCode()
				if !seen[c] {
					seen[c] = true
					codes = append(codes, c)
				}
			}
			got, err := queryRows(ctx, tx, `INSERT INTO access_codes AS c (code, max_redemptions, expires_at, metadata, created_by)
				SELECT code, $2, $3, $4, $5 FROM unnest($1::text[]) AS code
				ON CONFLICT (code) DO NOTHING
				RETURNING `+accessCodeColumns, []any{codes, n.MaxRedemptions, n.ExpiresAt, string(meta), createdBy}, readAccessCode)
			if err != nil {
				return dbErr("create access codes", err)
			}
			created = append(created, got...)
		}
		// One event for the batch, about its first code.
		tx.record(ActionAccessCodesCreated, nil, TargetAccessCode, created[0].ID.String(),
			map[string]any{"count": len(created), "max_redemptions": n.MaxRedemptions})
		return nil
	})
	if err != nil {
		return nil, err
	}
	return created, nil
}

// ListAccessCodes returns a page of every access code (revoked and expired
// ones included), newest first, and how many there are in all. Returns
// SERVICE_UNAVAILABLE.
func (s *Store) ListAccessCodes(ctx context.Context, limit, offset int) ([]AccessCode, int, error) {
	return listPage(ctx, s.pool, "list access codes", readAccessCode, offset,
		`SELECT `+accessCodeColumns+`, count(*) OVER () FROM access_codes c
		ORDER BY c.created_at DESC, c.id LIMIT $1 OFFSET $2`, []any{limit, offset},
		`SELECT count(*) FROM access_codes`)
}

// RevokeAccessCode sets the revoked_at of code id on behalf of a (a
// platform admin); revoking a revoked code keeps the first revoked_at.
// Returns NOT_FOUND, SERVICE_UNAVAILABLE.
func (s *Store) RevokeAccessCode(ctx context.Context, a Actor, id uuid.UUID) error {
	return s.change(ctx, a, "revoke access code", func(tx *changeTx) error {
		var code string
		var already bool
		err := tx.QueryRow(ctx, `UPDATE access_codes c SET revoked_at = coalesce(c.revoked_at, now())
			FROM access_codes old WHERE c.id = $1 AND old.id = c.id
			RETURNING c.code, old.revoked_at IS NOT NULL`, id).Scan(&code, &already)
		if errors.Is(err, pgx.ErrNoRows) {
			return apperr.New(apperr.NotFound, "No such access code.")
		}
		if err != nil {
			return dbErr("revoke access code", err)
		}
		if !already {
			tx.record(ActionAccessCodeRevoked, nil, TargetAccessCode, id.String(), map[string]any{"code": code})
		}
		return nil
	})
}

// NormalizeAccessCode trims and upper-cases a code as typed: codes match
// case-insensitively after trimming.
func NormalizeAccessCode(code string) string { return strings.ToUpper(strings.TrimSpace(code)) }

// RedeemAccessCode grants the actor (a user, not impersonated: FORBIDDEN
// otherwise) product access with code, matched case-insensitively after
// trimming; a blank code is a VALIDATION_ERROR. A user who already has
// access (or is a founder) is returned unchanged and the code is not
// consumed.
// Otherwise one redemption is taken atomically, so when several users race
// for the last one exactly one wins; the user becomes active (unless
// suspended) with activated_at set. Returns the user as it stands after the
// call, ACCESS_CODE_INVALID for an unknown, revoked or expired code,
// ACCESS_CODE_EXHAUSTED when no redemption is left, SERVICE_UNAVAILABLE.
func (s *Store) RedeemAccessCode(ctx context.Context, a Actor, code string) (User, error) {
	if a.Type != ActorUser {
		return User{}, ErrRoleTooLow
	}
	if a.Impersonator != "" {
		return User{}, ErrImpersonating
	}
	code = NormalizeAccessCode(code)
	if code == "" {
		return User{}, apperr.Validation(map[string]string{"code": "is required"})
	}
	userID := a.ID
	var u User
	err := s.change(ctx, a, "redeem access code", func(tx *changeTx) error {
		// The user's row lock serializes one user's concurrent redemptions,
		// so a user never consumes two codes.
		var err error
		u, err = queryUser(ctx, tx, `SELECT `+userColumns+` FROM users u
			WHERE u.id = $1 AND u.deleted_at IS NULL FOR UPDATE`, userID)
		if errors.Is(err, pgx.ErrNoRows) {
			return apperr.New(apperr.Unauthorized, "The user is unknown or deleted.")
		}
		if err != nil {
			return dbErr("redeem access code: user", err)
		}
		if u.HasProductAccess || u.IsFounder {
			return nil
		}
		var codeID uuid.UUID
		err = tx.QueryRow(ctx, `UPDATE access_codes SET redemption_count = redemption_count + 1
			WHERE code = $1 AND revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now())
				AND redemption_count < max_redemptions
			RETURNING id`, code).Scan(&codeID)
		if errors.Is(err, pgx.ErrNoRows) {
			return whyNotRedeemable(ctx, tx, code)
		}
		if err != nil {
			return dbErr("redeem access code: take", err)
		}
		tag, err := tx.Exec(ctx, `INSERT INTO access_code_redemptions (access_code_id, user_id) VALUES ($1, $2)
			ON CONFLICT DO NOTHING`, codeID, userID)
		if err != nil {
			return dbErr("redeem access code: record", err)
		}
		if tag.RowsAffected() == 0 {
			// The user redeemed this code before (and has since lost
			// access): a second use does not consume another redemption.
			if _, err := tx.Exec(ctx, `UPDATE access_codes SET redemption_count = redemption_count - 1 WHERE id = $1`,
				codeID); err != nil {
				return dbErr("redeem access code: give back", err)
			}
		}
		u, err = queryUser(ctx, tx, `UPDATE users u SET has_product_access = true,
			access_status = CASE WHEN u.access_status = 'suspended' THEN 'suspended' ELSE 'active' END,
			activated_at = coalesce(u.activated_at, now()), updated_at = now()
			WHERE u.id = $1 RETURNING `+userColumns, userID)
		if err != nil {
			return dbErr("redeem access code: grant", err)
		}
		tx.record(ActionAccessCodeRedeemed, nil, TargetAccessCode, codeID.String(), map[string]any{"code": code})
		return nil
	})
	if err != nil {
		return User{}, err
	}
	return u, nil
}

// whyNotRedeemable tells ACCESS_CODE_INVALID from ACCESS_CODE_EXHAUSTED
// after the atomic take found nothing.
func whyNotRedeemable(ctx context.Context, tx pgx.Tx, code string) error {
	var usable, exhausted bool
	err := tx.QueryRow(ctx, `SELECT revoked_at IS NULL AND (expires_at IS NULL OR expires_at > now()),
		redemption_count >= max_redemptions FROM access_codes WHERE code = $1`, code).Scan(&usable, &exhausted)
	if errors.Is(err, pgx.ErrNoRows) || (err == nil && !usable) {
		return apperr.New(apperr.AccessCodeInvalid, "This access code is not valid.")
	}
	if err != nil {
		return dbErr("redeem access code: reason", err)
	}
	if exhausted {
		return apperr.New(apperr.AccessCodeExhausted, "This access code has no redemptions left.")
	}
	// Usable and not exhausted now: the code changed between the two
	// statements (e.g. an expiry passed); treat it as not valid.
	return apperr.New(apperr.AccessCodeInvalid, "This access code is not valid.")
}
