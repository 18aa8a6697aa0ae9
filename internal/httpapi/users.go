package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/store"
)

// userJSON is the user object (api/openapi.yaml, User).
type userJSON struct {
	ID               uuid.UUID  `json:"id"`
	ClerkID          string     `json:"clerk_id"`
	Email            string     `json:"email"`
	Name             string     `json:"name"`
	AvatarURL        *string    `json:"avatar_url"`
	AccessStatus     string     `json:"access_status"`
	HasProductAccess bool       `json:"has_product_access"`
	IsFounder        bool       `json:"is_founder"`
	IsAdmin          bool       `json:"is_admin"`
	ReferralCode     string     `json:"referral_code"`
	ReferralCount    int        `json:"referral_count"`
	ActivatedAt      *time.Time `json:"activated_at"`
	CreatedAt        time.Time  `json:"created_at"`
	UpdatedAt        time.Time  `json:"updated_at"`
	// Impersonator is the admin acting as this user (a session's act.sub);
	// absent when the session is not impersonated.
	Impersonator string `json:"impersonator,omitempty"`
}

func toUserJSON(u store.Account) userJSON {
	return userJSON{
		ID: u.ID, ClerkID: u.ClerkID, Email: u.Email, Name: u.Name, AvatarURL: u.AvatarURL,
		AccessStatus: u.AccessStatus, HasProductAccess: u.HasProductAccess || u.IsFounder,
		IsFounder: u.IsFounder, IsAdmin: u.IsAdmin, ReferralCode: u.ReferralCode, ReferralCount: u.ReferralCount,
		ActivatedAt: utc(u.ActivatedAt), CreatedAt: u.CreatedAt.UTC(), UpdatedAt: u.UpdatedAt.UTC(),
	}
}

// getMe answers GET /api/auth/me: the caller's user object, also to
// suspended users, with the impersonator of an impersonated session.
func (s *Server) getMe(w http.ResponseWriter, r *http.Request) error {
	me := toUserJSON(currentUser(r))
	me.Impersonator = state(r).impersonator()
	writeJSON(w, http.StatusOK, me)
	return nil
}
