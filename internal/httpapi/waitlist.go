package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/store"
)

// joinWaitlistRequest is the body of POST /api/waitlist.
type joinWaitlistRequest struct {
	Email        string `json:"email"`
	Name         string `json:"name"`
	ReferralCode string `json:"referral_code"`
	Source       string `json:"source"`
}

// waitlistStatusJSON is what joining answers (api/openapi.yaml,
// WaitlistStatus).
type waitlistStatusJSON struct {
	Status   string `json:"status"`
	Position *int   `json:"position"`
}

// joinWaitlist answers POST /api/waitlist (no credential, limited per
// client IP): 201 {"status": "waiting", "position": N} for a new email; 200
// with the current status and position (null once approved) for an email
// already on the list, which changes nothing; 422 naming every bad field
// (email missing or not an address, name over 100 characters, source over
// 50, unknown fields). An unknown referral code is ignored.
func (s *Server) joinWaitlist(w http.ResponseWriter, r *http.Request) error {
	var req joinWaitlistRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	e, created, err := s.store.JoinWaitlist(r.Context(), store.JoinWaitlist(req))
	if err != nil {
		return err
	}
	status := http.StatusOK
	if created {
		status = http.StatusCreated
	}
	writeJSON(w, status, waitlistStatusJSON{Status: e.Status, Position: e.Position})
	return nil
}

// waitlistEntryJSON is an entry as admins see it (api/openapi.yaml,
// WaitlistEntry).
type waitlistEntryJSON struct {
	ID         uuid.UUID  `json:"id"`
	Email      string     `json:"email"`
	Name       *string    `json:"name"`
	Position   *int       `json:"position"`
	Status     string     `json:"status"`
	Source     *string    `json:"source"`
	ReferredBy *uuid.UUID `json:"referred_by"`
	CreatedAt  time.Time  `json:"created_at"`
	ApprovedAt *time.Time `json:"approved_at"`
}

type waitlistListJSON struct {
	Entries []waitlistEntryJSON `json:"entries"`
	Total   int                 `json:"total"`
}

// listWaitlist answers GET /api/admin/waitlist (platform admins): the
// entries of ?status= (waiting by default, or approved), oldest first, with
// the total; 400 for another status or a bad limit/offset.
func (s *Server) listWaitlist(w http.ResponseWriter, r *http.Request) error {
	p, err := listParams(r)
	if err != nil {
		return err
	}
	status, err := statusParam(r, store.WaitlistWaiting, store.ValidWaitlistStatus, "waiting or approved")
	if err != nil {
		return err
	}
	entries, total, err := s.store.ListWaitlist(r.Context(), status, p.Limit, p.Offset)
	if err != nil {
		return err
	}
	out := waitlistListJSON{Entries: make([]waitlistEntryJSON, len(entries)), Total: total}
	for i, e := range entries {
		out.Entries[i] = waitlistEntryJSON{ID: e.ID, Email: e.Email, Name: e.Name, Position: e.Position,
			Status: e.Status, Source: e.Source, ReferredBy: e.ReferredBy, CreatedAt: e.CreatedAt.UTC(),
			ApprovedAt: utc(e.ApprovedAt)}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// approveWaitlistRequest is the body of POST /api/admin/waitlist/approve.
type approveWaitlistRequest struct {
	WaitlistEntryIDs []uuid.UUID `json:"waitlist_entry_ids"`
}

// approveWaitlist answers POST /api/admin/waitlist/approve (platform
// admins): 200 {"approved_count", "codes_generated", "emails_queued"}; the
// waiting entries among the ids are approved, each with a fresh single-use
// access code and an email, in one transaction; approved or unknown ids are
// skipped and not counted. 422 when waitlist_entry_ids is missing, empty,
// longer than 500 or not a list of UUIDs.
func (s *Server) approveWaitlist(w http.ResponseWriter, r *http.Request) error {
	var req approveWaitlistRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	res, err := s.store.ApproveWaitlist(r.Context(), s.actor(r), req.WaitlistEntryIDs)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]int{"approved_count": res.Approved, "codes_generated": res.CodesGenerated,
		"emails_queued": res.EmailsQueued})
	return nil
}
