package httpapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/store"
)

// accessCodeJSON is the access code object of contract §4.
type accessCodeJSON struct {
	ID              uuid.UUID       `json:"id"`
	Code            string          `json:"code"`
	MaxRedemptions  int             `json:"max_redemptions"`
	RedemptionCount int             `json:"redemption_count"`
	ExpiresAt       *time.Time      `json:"expires_at"`
	RevokedAt       *time.Time      `json:"revoked_at"`
	Metadata        json.RawMessage `json:"metadata"`
	CreatedAt       time.Time       `json:"created_at"`
}

func toAccessCodesJSON(codes []store.AccessCode) []accessCodeJSON {
	out := make([]accessCodeJSON, len(codes))
	for i, c := range codes {
		meta := c.Metadata
		if len(meta) == 0 {
			meta = json.RawMessage(`{}`)
		}
		out[i] = accessCodeJSON{
			ID: c.ID, Code: c.Code, MaxRedemptions: c.MaxRedemptions, RedemptionCount: c.RedemptionCount,
			ExpiresAt: utc(c.ExpiresAt), RevokedAt: utc(c.RevokedAt), Metadata: meta, CreatedAt: c.CreatedAt.UTC(),
		}
	}
	return out
}

// redeemAccessCode answers POST /api/access-codes/redeem {"code"}: 200 user
// object with product access (a user who already has it is answered as is
// and the code is not consumed); 422 when code is missing or blank; 404
// ACCESS_CODE_INVALID for an unknown, revoked or expired code; 409
// ACCESS_CODE_EXHAUSTED.
func (s *Server) redeemAccessCode(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Code *string `json:"code"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	if in.Code == nil || strings.TrimSpace(*in.Code) == "" {
		writeError(w, r, apperr.Validation(map[string]string{"code": "is required"}))
		return
	}
	code := strings.ToUpper(strings.TrimSpace(*in.Code))
	u, err := s.store.RedeemAccessCode(r.Context(), currentUser(r).ID, code)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toUserJSON(u))
}

// createAccessCodes answers POST /api/admin/access-codes (admins): 201
// {"codes": [...], "count": N}; 422 naming every bad field: count missing or
// outside 1..1000, max_redemptions outside 1..10000, expires_at not a future
// RFC 3339 time, metadata not an object or over 4 KiB, unknown fields.
func (s *Server) createAccessCodes(w http.ResponseWriter, r *http.Request) {
	// Every field is read raw so that a value of the wrong type is named
	// together with the other bad fields.
	var in struct {
		Count          optional[json.RawMessage] `json:"count"`
		MaxRedemptions optional[json.RawMessage] `json:"max_redemptions"`
		ExpiresAt      optional[json.RawMessage] `json:"expires_at"`
		Metadata       optional[json.RawMessage] `json:"metadata"`
	}
	if err := decodeJSON(w, r, &in); err != nil {
		writeError(w, r, err)
		return
	}
	fields := map[string]string{}
	n := store.NewAccessCodes{Count: 1, MaxRedemptions: 1, CreatedBy: new(currentUser(r).ID)}
	switch {
	case !in.Count.Set || in.Count.Null:
		fields["count"] = "is required"
	case json.Unmarshal(in.Count.Value, &n.Count) != nil:
		fields["count"] = "must be a whole number from 1 to 1000"
	}
	if in.MaxRedemptions.Set && (in.MaxRedemptions.Null || json.Unmarshal(in.MaxRedemptions.Value, &n.MaxRedemptions) != nil) {
		fields["max_redemptions"] = "must be a whole number from 1 to 10000"
	}
	if in.ExpiresAt.Set && !in.ExpiresAt.Null {
		var raw string
		var t time.Time
		err := json.Unmarshal(in.ExpiresAt.Value, &raw)
		if err == nil {
			t, err = time.Parse(time.RFC3339Nano, raw)
		}
		if err != nil {
			fields["expires_at"] = "must be an RFC 3339 time or null"
		} else {
			n.ExpiresAt = &t
		}
	}
	if in.Metadata.Set {
		if in.Metadata.Null {
			fields["metadata"] = "must be an object"
		} else {
			n.Metadata = in.Metadata.Value
		}
	}
	for k, v := range n.Problems(time.Now()) {
		if _, named := fields[k]; !named {
			fields[k] = v
		}
	}
	if len(fields) > 0 {
		writeError(w, r, apperr.Validation(fields))
		return
	}
	codes, err := s.store.CreateAccessCodes(r.Context(), n)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, map[string]any{"codes": toAccessCodesJSON(codes), "count": len(codes)})
}

// listAccessCodes answers GET /api/admin/access-codes (admins): every code,
// newest first, with the total; 400 for a bad limit/offset.
func (s *Server) listAccessCodes(w http.ResponseWriter, r *http.Request) {
	p, err := listParams(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	codes, total, err := s.store.ListAccessCodes(r.Context(), p.Limit, p.Offset)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"codes": toAccessCodesJSON(codes), "total": total})
}

// revokeAccessCode answers DELETE /api/admin/access-codes/{access_code_id}
// (admins): 204 (a revoked code keeps its first revoked_at); 400 for an id
// that is not a UUID; 404 NOT_FOUND for an unknown one.
func (s *Server) revokeAccessCode(w http.ResponseWriter, r *http.Request) {
	id, err := pathUUID(r, "access_code_id")
	if err != nil {
		writeError(w, r, err)
		return
	}
	if err := s.store.RevokeAccessCode(r.Context(), id); err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
