package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/store"
)

// accessCodeJSON is the access code object (api/openapi.yaml, AccessCode).
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
// ACCESS_CODE_EXHAUSTED; 429 RATE_LIMITED once the caller (or its client
// address) failed too often this hour.
func (s *Server) redeemAccessCode(w http.ResponseWriter, r *http.Request) error {
	budgets := s.failureBudgets(r)
	if err := s.checkFailures(w, r, budgets); err != nil {
		return err
	}
	var req struct {
		Code string `json:"code"`
	}
	if err := decode(w, r, &req); err != nil {
		return err
	}
	u, err := s.store.RedeemAccessCode(r.Context(), s.actor(r), req.Code)
	if code := apperr.CodeOf(err); code == apperr.AccessCodeInvalid || code == apperr.AccessCodeExhausted {
		s.spendFailure(r, budgets)
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toUserJSON(u.Account))
	return nil
}

// createAccessCodesRequest is the body of POST /api/admin/access-codes.
type createAccessCodesRequest struct {
	Count          int                             `json:"count"`
	MaxRedemptions store.Optional[int]             `json:"max_redemptions"`
	ExpiresAt      *time.Time                      `json:"expires_at"`
	Metadata       store.Optional[json.RawMessage] `json:"metadata"`
}

// createAccessCodes answers POST /api/admin/access-codes (admins): 201
// {"codes": [...], "count": N}; 422 naming every bad field: count missing or
// outside 1..1000, max_redemptions outside 1..10000 (default 1), expires_at
// not a future RFC 3339 time, metadata not an object or over 4 KiB, unknown
// fields.
func (s *Server) createAccessCodes(w http.ResponseWriter, r *http.Request) error {
	var req createAccessCodesRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	n := store.NewAccessCodes{Count: req.Count, MaxRedemptions: 1, ExpiresAt: req.ExpiresAt}
	if req.MaxRedemptions.Set {
		n.MaxRedemptions = req.MaxRedemptions.Value // 0 for null: refused
	}
	if req.Metadata.Set {
		n.Metadata = json.RawMessage("null")
		if !req.Metadata.Null {
			n.Metadata = req.Metadata.Value
		}
	}
	codes, err := s.store.CreateAccessCodes(r.Context(), s.actor(r), n)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, map[string]any{"codes": toAccessCodesJSON(codes), "count": len(codes)})
	return nil
}

// listAccessCodes answers GET /api/admin/access-codes (admins): every code,
// newest first, with the total; 400 for a bad limit/offset.
func (s *Server) listAccessCodes(w http.ResponseWriter, r *http.Request) error {
	p, err := listParams(r)
	if err != nil {
		return err
	}
	codes, total, err := s.store.ListAccessCodes(r.Context(), p.Limit, p.Offset)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]any{"codes": toAccessCodesJSON(codes), "total": total})
	return nil
}

// revokeAccessCode answers DELETE /api/admin/access-codes/{access_code_id}
// (admins): 204 (a revoked code keeps its first revoked_at); 400 for an id
// that is not a UUID; 404 NOT_FOUND for an unknown one.
func (s *Server) revokeAccessCode(w http.ResponseWriter, r *http.Request) error {
	id, err := pathUUID(r, "access_code_id")
	if err != nil {
		return err
	}
	if err := s.store.RevokeAccessCode(r.Context(), s.actor(r), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
