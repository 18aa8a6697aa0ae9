package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/store"
)

// workspaceJSON is the workspace object (api/openapi.yaml, Workspace).
type workspaceJSON struct {
	ID                 uuid.UUID        `json:"id"`
	Name               string           `json:"name"`
	ProductName        *string          `json:"product_name"`
	ProductDescription *string          `json:"product_description"`
	TargetUsers        *string          `json:"target_users"`
	CurrentStage       *string          `json:"current_stage"`
	Role               string           `json:"role"`
	Subscription       subscriptionJSON `json:"subscription"`
	CreatedAt          time.Time        `json:"created_at"`
	UpdatedAt          time.Time        `json:"updated_at"`
}

type subscriptionJSON struct {
	Plan        string     `json:"plan"`
	Status      string     `json:"status"`
	TrialEndsAt *time.Time `json:"trial_ends_at"`
}

func toWorkspaceJSON(w store.Workspace) workspaceJSON {
	return workspaceJSON{
		ID: w.ID, Name: w.Name, ProductName: w.ProductName, ProductDescription: w.ProductDescription,
		TargetUsers: w.TargetUsers, CurrentStage: w.CurrentStage, Role: w.Role,
		Subscription: subscriptionJSON{Plan: w.Plan, Status: w.SubscriptionStatus, TrialEndsAt: utc(w.TrialEndsAt)},
		CreatedAt:    w.CreatedAt.UTC(), UpdatedAt: w.UpdatedAt.UTC(),
	}
}

// createWorkspaceRequest is the body of POST /api/workspaces. Any other
// field (role, id, owner_id, subscription, …) is refused by decode.
type createWorkspaceRequest struct {
	Name               string  `json:"name"`
	ProductName        *string `json:"product_name"`
	ProductDescription *string `json:"product_description"`
	TargetUsers        *string `json:"target_users"`
	CurrentStage       *string `json:"current_stage"`
}

// createWorkspace answers POST /api/workspaces: 201 with the new workspace,
// the caller as owner; 415/413/400/422 for the body.
func (s *Server) createWorkspace(w http.ResponseWriter, r *http.Request) error {
	var req createWorkspaceRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	ws, err := s.store.CreateWorkspace(r.Context(), s.actor(r), store.NewWorkspace(req), s.trialDays)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, toWorkspaceJSON(ws))
	return nil
}

type workspaceListJSON struct {
	Workspaces []workspaceJSON `json:"workspaces"`
	Total      int             `json:"total"`
}

// listWorkspaces answers GET /api/workspaces: the caller's workspaces,
// newest first; for an API key, just its own workspace (no query). 400 for
// a bad limit or offset.
func (s *Server) listWorkspaces(w http.ResponseWriter, r *http.Request) error {
	p, err := listParams(r)
	if err != nil {
		return err
	}
	var list []store.Workspace
	total := 0
	if ws := state(r).keyWS; ws != nil {
		total = 1
		if p.Offset == 0 {
			list = []store.Workspace{*ws}
		}
	} else if list, total, err = s.store.ListWorkspaces(r.Context(), currentUser(r).ID, p.Limit, p.Offset); err != nil {
		return err
	}
	out := workspaceListJSON{Workspaces: make([]workspaceJSON, 0, len(list)), Total: total}
	for _, ws := range list {
		out.Workspaces = append(out.Workspaces, toWorkspaceJSON(ws))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// getWorkspace answers GET /api/workspaces/{workspace_id} (members) from
// what loadWorkspace read: no second round trip.
func (s *Server) getWorkspace(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, toWorkspaceJSON(currentWorkspace(r)))
	return nil
}

// updateWorkspaceRequest is the body of PATCH /api/workspaces/{id}: absent
// fields are left alone, null clears a product field.
type updateWorkspaceRequest struct {
	Name               store.Optional[string] `json:"name"`
	ProductName        store.Optional[string] `json:"product_name"`
	ProductDescription store.Optional[string] `json:"product_description"`
	TargetUsers        store.Optional[string] `json:"target_users"`
	CurrentStage       store.Optional[string] `json:"current_stage"`
}

// updateWorkspace answers PATCH /api/workspaces/{workspace_id} (admins,
// owners): a partial update; 415/413/400/422 for the body.
func (s *Server) updateWorkspace(w http.ResponseWriter, r *http.Request) error {
	var req updateWorkspaceRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	ws, err := s.store.UpdateWorkspace(r.Context(), s.actor(r), currentWorkspace(r).ID, store.WorkspacePatch(req))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toWorkspaceJSON(ws))
	return nil
}

// deleteWorkspace answers DELETE /api/workspaces/{workspace_id} (owners):
// 204, and its members, invitations, API keys, subscription and settings
// are gone.
func (s *Server) deleteWorkspace(w http.ResponseWriter, r *http.Request) error {
	if err := s.store.DeleteWorkspace(r.Context(), s.actor(r), currentWorkspace(r).ID); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// settingsJSON is the settings object (api/openapi.yaml, WorkspaceSettings).
type settingsJSON struct {
	OvernightResearchEnabled bool   `json:"overnight_research_enabled"`
	MorningDigestEnabled     bool   `json:"morning_digest_enabled"`
	DigestTimezone           string `json:"digest_timezone"`
}

// getSettings answers GET /api/workspaces/{workspace_id}/settings (members).
func (s *Server) getSettings(w http.ResponseWriter, r *http.Request) error {
	st, err := s.store.GetSettings(r.Context(), currentWorkspace(r).ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, settingsJSON(st))
	return nil
}

// updateSettingsRequest is the body of PATCH …/settings: absent fields are
// left alone; none may be null.
type updateSettingsRequest struct {
	OvernightResearchEnabled store.Optional[bool]   `json:"overnight_research_enabled"`
	MorningDigestEnabled     store.Optional[bool]   `json:"morning_digest_enabled"`
	DigestTimezone           store.Optional[string] `json:"digest_timezone"`
}

// updateSettings answers PATCH /api/workspaces/{workspace_id}/settings
// (admins, owners): a partial update; 422 for a null field or a
// digest_timezone that is not an IANA zone.
func (s *Server) updateSettings(w http.ResponseWriter, r *http.Request) error {
	var req updateSettingsRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	st, err := s.store.UpdateSettings(r.Context(), s.actor(r), currentWorkspace(r).ID, store.SettingsPatch(req))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, settingsJSON(st))
	return nil
}

// utc returns *t in UTC, nil for nil.
func utc(t *time.Time) *time.Time {
	if t == nil || t.Location() == time.UTC {
		return t // the store reads times in UTC: no copy
	}
	v := t.UTC()
	return &v
}
