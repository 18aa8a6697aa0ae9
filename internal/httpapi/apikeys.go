package httpapi

import (
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/store"
)

// apiKeyJSON is the API key object (api/openapi.yaml, APIKey); Key is set
// only in the answer that creates it.
type apiKeyJSON struct {
	ID          uuid.UUID     `json:"id"`
	WorkspaceID uuid.UUID     `json:"workspace_id"`
	Name        string        `json:"name"`
	Prefix      string        `json:"prefix"`
	Role        string        `json:"role"`
	ReadOnly    bool          `json:"read_only"`
	CreatedBy   createdByJSON `json:"created_by"`
	CreatedAt   time.Time     `json:"created_at"`
	ExpiresAt   *time.Time    `json:"expires_at"`
	LastUsedAt  *time.Time    `json:"last_used_at"`
	Key         string        `json:"key,omitempty"`
}

type createdByJSON struct {
	UserID *uuid.UUID `json:"user_id"`
	Name   string     `json:"name"`
}

func toAPIKeyJSON(k store.APIKey) apiKeyJSON {
	return apiKeyJSON{ID: k.ID, WorkspaceID: k.WorkspaceID, Name: k.Name, Prefix: k.Prefix, Role: k.Role,
		ReadOnly: k.ReadOnly, CreatedBy: createdByJSON{UserID: k.CreatedByID, Name: k.CreatedByName},
		CreatedAt: k.CreatedAt.UTC(), ExpiresAt: utc(k.ExpiresAt), LastUsedAt: utc(k.LastUsedAt)}
}

// createAPIKeyRequest is the body of POST …/api-keys.
type createAPIKeyRequest struct {
	Name      string     `json:"name"`
	Role      string     `json:"role"`
	ReadOnly  bool       `json:"read_only"`
	ExpiresAt *time.Time `json:"expires_at"`
}

// createAPIKey answers POST /api/workspaces/{workspace_id}/api-keys
// (admins and owners with a session, not impersonated): 201 with the key,
// shown this once; 422 naming every bad field; 409 API_KEY_LIMIT.
func (s *Server) createAPIKey(w http.ResponseWriter, r *http.Request) error {
	var req createAPIKeyRequest
	if err := decode(w, r, &req); err != nil {
		return err
	}
	k, secret, err := s.store.CreateAPIKey(r.Context(), s.actor(r), currentWorkspace(r).ID, store.NewAPIKey(req))
	if err != nil {
		return err
	}
	out := toAPIKeyJSON(k)
	out.Key = secret
	writeJSON(w, http.StatusCreated, out)
	return nil
}

type apiKeyListJSON struct {
	APIKeys []apiKeyJSON `json:"api_keys"`
	Total   int          `json:"total"`
}

// listAPIKeys answers GET /api/workspaces/{workspace_id}/api-keys (admins
// and owners with a session): the live keys, newest first, never the key.
func (s *Server) listAPIKeys(w http.ResponseWriter, r *http.Request) error {
	p, err := listParams(r)
	if err != nil {
		return err
	}
	keys, total, err := s.store.ListAPIKeys(r.Context(), currentWorkspace(r).ID, p.Limit, p.Offset)
	if err != nil {
		return err
	}
	out := apiKeyListJSON{APIKeys: make([]apiKeyJSON, 0, len(keys)), Total: total}
	for _, k := range keys {
		out.APIKeys = append(out.APIKeys, toAPIKeyJSON(k))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// revokeAPIKey answers DELETE /api/workspaces/{workspace_id}/api-keys/{api_key_id}
// (admins and owners with a session): 204; 404 for a key unknown in this
// workspace or already revoked.
func (s *Server) revokeAPIKey(w http.ResponseWriter, r *http.Request) error {
	if err := s.store.RevokeAPIKey(r.Context(), s.actor(r), currentWorkspace(r).ID, nestedID(r, "api_key_id")); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
