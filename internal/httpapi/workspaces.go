package httpapi

import (
	"encoding/json"
	"net/http"
	"reflect"
	"strings"
	"time"
	"unicode/utf8"

	// Embedded zone data, so which digest_timezone values are accepted does
	// not depend on the host's /usr/share/zoneinfo.
	_ "time/tzdata"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/store"
)

// Limits of the workspace fields (contract §5).
const (
	maxNameLen    = 100
	maxProductLen = 2000
)

// createWorkspaceRequest is the body of POST /api/workspaces. Any other
// field (role, id, owner_id, subscription, …) is refused by decodeJSON.
type createWorkspaceRequest struct {
	Name               *string `json:"name"`
	ProductName        *string `json:"product_name"`
	ProductDescription *string `json:"product_description"`
	TargetUsers        *string `json:"target_users"`
	CurrentStage       *string `json:"current_stage"`
}

// updateWorkspaceRequest is the body of PATCH /api/workspaces/{id}: absent
// fields are left alone, null clears a product field. The fields are read
// raw and decoded one by one (patchField) so that a value of the wrong type
// is a 422 naming its field: decoding straight into optional[T] loses the
// field name (encoding/json adds no context to an Unmarshaler's error).
type updateWorkspaceRequest struct {
	Name               json.RawMessage `json:"name"`
	ProductName        json.RawMessage `json:"product_name"`
	ProductDescription json.RawMessage `json:"product_description"`
	TargetUsers        json.RawMessage `json:"target_users"`
	CurrentStage       json.RawMessage `json:"current_stage"`
}

// patchField decodes one PATCH field from its raw JSON (nil when the key was
// absent). A value of the wrong type is recorded in fields.
func patchField[T any](name string, raw json.RawMessage, fields map[string]string) optional[T] {
	var o optional[T]
	if raw == nil {
		return o
	}
	if err := o.UnmarshalJSON(raw); err != nil {
		fields[name] = "must be a " + jsonType(reflect.TypeFor[T]().Kind().String())
		o.Set = false
	}
	return o
}

// checkName validates a workspace name and returns it trimmed.
func checkName(name string, fields map[string]string) string {
	name = strings.TrimSpace(name)
	switch n := utf8.RuneCountInString(name); {
	case n == 0:
		fields["name"] = "must not be empty"
	case n > maxNameLen:
		fields["name"] = "must be at most 100 characters"
	case strings.ContainsRune(name, 0):
		fields["name"] = "must not contain NUL characters"
	}
	return name
}

// checkProductField validates one of the four optional product fields.
func checkProductField(field string, v *string, fields map[string]string) {
	switch {
	case v == nil:
	case utf8.RuneCountInString(*v) > maxProductLen:
		fields[field] = "must be at most 2000 characters"
	case strings.ContainsRune(*v, 0):
		fields[field] = "must not contain NUL characters"
	}
}

// createWorkspace answers POST /api/workspaces: 201 with the new workspace,
// the caller as owner. 403 ACCESS_REQUIRED without product access (checked
// before the body), then 415/413/400/422 for the body.
func (s *Server) createWorkspace(w http.ResponseWriter, r *http.Request) {
	u := currentUser(r)
	if !u.HasProductAccess && !u.IsFounder {
		writeError(w, r, apperr.New(apperr.AccessRequired, "You need product access to create a workspace."))
		return
	}
	var req createWorkspaceRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	fields := map[string]string{}
	in := store.NewWorkspace{ProductName: req.ProductName, ProductDescription: req.ProductDescription,
		TargetUsers: req.TargetUsers, CurrentStage: req.CurrentStage}
	if req.Name == nil {
		fields["name"] = "is required"
	} else {
		in.Name = checkName(*req.Name, fields)
	}
	checkProductField("product_name", in.ProductName, fields)
	checkProductField("product_description", in.ProductDescription, fields)
	checkProductField("target_users", in.TargetUsers, fields)
	checkProductField("current_stage", in.CurrentStage, fields)
	if len(fields) > 0 {
		writeError(w, r, apperr.Validation(fields))
		return
	}
	ws, err := s.store.CreateWorkspace(r.Context(), u.ID, in, s.trialDays)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusCreated, toWorkspaceJSON(ws))
}

type workspaceListJSON struct {
	Workspaces []workspaceJSON `json:"workspaces"`
	Total      int             `json:"total"`
}

// listWorkspaces answers GET /api/workspaces: the caller's workspaces,
// newest first. 400 for a bad limit or offset.
func (s *Server) listWorkspaces(w http.ResponseWriter, r *http.Request) {
	p, err := listParams(r)
	if err != nil {
		writeError(w, r, err)
		return
	}
	list, total, err := s.store.ListWorkspaces(r.Context(), currentUser(r).ID, p.Limit, p.Offset)
	if err != nil {
		writeError(w, r, err)
		return
	}
	out := workspaceListJSON{Workspaces: make([]workspaceJSON, 0, len(list)), Total: total}
	for _, ws := range list {
		out.Workspaces = append(out.Workspaces, toWorkspaceJSON(ws))
	}
	writeJSON(w, http.StatusOK, out)
}

// getWorkspace answers GET /api/workspaces/{workspace_id} (members).
func (s *Server) getWorkspace(w http.ResponseWriter, r *http.Request) {
	// Read with the user by authenticate: no second round trip.
	writeJSON(w, http.StatusOK, toWorkspaceJSON(*currentMembership(r).Workspace))
}

// updateWorkspace answers PATCH /api/workspaces/{workspace_id} (admins,
// owners): a partial update; 415/413/400/422 for the body.
func (s *Server) updateWorkspace(w http.ResponseWriter, r *http.Request) {
	var req updateWorkspaceRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	fields := map[string]string{}
	var p store.WorkspacePatch
	if name := patchField[string]("name", req.Name, fields); name.Set {
		if name.Null {
			fields["name"] = "must not be null"
		} else {
			trimmed := checkName(name.Value, fields)
			p.Name = &trimmed
		}
	}
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		out  *store.TextPatch
	}{
		{"product_name", req.ProductName, &p.ProductName},
		{"product_description", req.ProductDescription, &p.ProductDescription},
		{"target_users", req.TargetUsers, &p.TargetUsers},
		{"current_stage", req.CurrentStage, &p.CurrentStage},
	} {
		if v := patchField[string](f.name, f.raw, fields); v.Set {
			*f.out = store.TextPatch{Set: true, Value: v.ptr()}
			checkProductField(f.name, f.out.Value, fields)
		}
	}
	if len(fields) > 0 {
		writeError(w, r, apperr.Validation(fields))
		return
	}
	ws, err := s.store.UpdateWorkspace(r.Context(), currentMembership(r).WorkspaceID, currentUser(r).ID, p)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toWorkspaceJSON(ws))
}

// deleteWorkspace answers DELETE /api/workspaces/{workspace_id} (owners):
// 204, and its members, invitations, subscription and settings are gone.
func (s *Server) deleteWorkspace(w http.ResponseWriter, r *http.Request) {
	if err := s.store.DeleteWorkspace(r.Context(), currentMembership(r).WorkspaceID, currentUser(r).ID); err != nil {
		writeError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// settingsJSON is the settings object of contract §5.
type settingsJSON struct {
	OvernightResearchEnabled bool   `json:"overnight_research_enabled"`
	MorningDigestEnabled     bool   `json:"morning_digest_enabled"`
	DigestTimezone           string `json:"digest_timezone"`
}

func toSettingsJSON(st store.Settings) settingsJSON {
	return settingsJSON{OvernightResearchEnabled: st.OvernightResearchEnabled,
		MorningDigestEnabled: st.MorningDigestEnabled, DigestTimezone: st.DigestTimezone}
}

// updateSettingsRequest is the body of PATCH …/settings: absent fields are
// left alone; none may be null. Read raw, like updateWorkspaceRequest.
type updateSettingsRequest struct {
	OvernightResearchEnabled json.RawMessage `json:"overnight_research_enabled"`
	MorningDigestEnabled     json.RawMessage `json:"morning_digest_enabled"`
	DigestTimezone           json.RawMessage `json:"digest_timezone"`
}

// validTimezone reports whether name is an IANA time zone name. "" and
// "Local" load in Go but name no zone, so they are refused.
func validTimezone(name string) bool {
	if name == "" || name == "Local" || len(name) > 64 {
		return false
	}
	_, err := time.LoadLocation(name)
	return err == nil
}

// getSettings answers GET /api/workspaces/{workspace_id}/settings (members).
func (s *Server) getSettings(w http.ResponseWriter, r *http.Request) {
	st, err := s.store.GetSettings(r.Context(), currentMembership(r).WorkspaceID)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toSettingsJSON(st))
}

// updateSettings answers PATCH /api/workspaces/{workspace_id}/settings
// (admins, owners): a partial update; 422 for a null field or a
// digest_timezone that is not an IANA zone.
func (s *Server) updateSettings(w http.ResponseWriter, r *http.Request) {
	var req updateSettingsRequest
	if err := decodeJSON(w, r, &req); err != nil {
		writeError(w, r, err)
		return
	}
	fields := map[string]string{}
	var p store.SettingsPatch
	for _, f := range []struct {
		name string
		raw  json.RawMessage
		out  **bool
	}{
		{"overnight_research_enabled", req.OvernightResearchEnabled, &p.OvernightResearchEnabled},
		{"morning_digest_enabled", req.MorningDigestEnabled, &p.MorningDigestEnabled},
	} {
		if v := patchField[bool](f.name, f.raw, fields); v.Set {
			if v.Null {
				fields[f.name] = "must not be null"
			}
			*f.out = v.ptr()
		}
	}
	if tz := patchField[string]("digest_timezone", req.DigestTimezone, fields); tz.Set {
		switch {
		case tz.Null:
			fields["digest_timezone"] = "must not be null"
		case !validTimezone(tz.Value):
			fields["digest_timezone"] = "must be an IANA time zone name such as Europe/London"
		}
		p.DigestTimezone = tz.ptr()
	}
	if len(fields) > 0 {
		writeError(w, r, apperr.Validation(fields))
		return
	}
	st, err := s.store.UpdateSettings(r.Context(), currentMembership(r).WorkspaceID, currentUser(r).ID, p)
	if err != nil {
		writeError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, toSettingsJSON(st))
}
