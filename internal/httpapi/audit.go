package httpapi

import (
	"encoding/json"
	"net/http"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/store"
)

// auditEventJSON is an audit event (api/openapi.yaml, AuditEvent).
type auditEventJSON struct {
	ID          uuid.UUID       `json:"id"`
	Action      store.Action    `json:"action"`
	Actor       auditActorJSON  `json:"actor"`
	WorkspaceID *uuid.UUID      `json:"workspace_id"`
	Target      auditTargetJSON `json:"target"`
	Metadata    json.RawMessage `json:"metadata"`
	RequestID   *string         `json:"request_id"`
	IP          *string         `json:"ip"`
	CreatedAt   time.Time       `json:"created_at"`
}

type auditActorJSON struct {
	Type         store.ActorType `json:"type"`
	ID           *uuid.UUID      `json:"id"`
	Name         string          `json:"name"`
	Impersonator *string         `json:"impersonator"`
}

type auditTargetJSON struct {
	Type store.TargetType `json:"type"`
	ID   string           `json:"id"`
}

type auditPageJSON struct {
	Events     []auditEventJSON `json:"events"`
	NextCursor *string          `json:"next_cursor"`
}

func orNil[T comparable](v T) *T {
	var zero T
	if v == zero {
		return nil
	}
	return &v
}

func toAuditPageJSON(events []store.Event, next string) auditPageJSON {
	out := auditPageJSON{Events: make([]auditEventJSON, len(events)), NextCursor: orNil(next)}
	for i, e := range events {
		out.Events[i] = auditEventJSON{
			ID: e.ID, Action: e.Action, WorkspaceID: e.WorkspaceID,
			Actor: auditActorJSON{Type: e.Actor.Type, ID: orNil(e.Actor.ID), Name: e.Actor.Name,
				Impersonator: orNil(e.Actor.Impersonator)},
			Target:   auditTargetJSON{Type: e.TargetType, ID: e.TargetID},
			Metadata: e.Metadata, RequestID: orNil(e.Actor.RequestID), IP: orNil(e.Actor.IP),
			CreatedAt: e.CreatedAt.UTC(),
		}
	}
	return out
}

// auditQuery reads limit (1..200, default 50), cursor and action. Returns
// BAD_REQUEST.
func auditQuery(r *http.Request) (store.AuditQuery, error) {
	params := r.URL.Query()
	limit, err := limitParam(params)
	q := store.AuditQuery{Limit: limit}
	if err != nil {
		return q, err
	}
	for name, dst := range map[string]*string{"cursor": &q.Cursor, "action": &q.Action} {
		if v, ok := params[name]; ok {
			if len(v) > 1 || v[0] == "" {
				return q, apperr.New(apperr.BadRequest, name+" must be given once, not empty.")
			}
			*dst = v[0]
		}
	}
	return q, nil
}

// workspaceAuditLog answers GET /api/workspaces/{workspace_id}/audit-log
// (admins, owners): the workspace's events, newest first; 400 for a bad
// limit, a malformed cursor or an unknown action.
func (s *Server) workspaceAuditLog(w http.ResponseWriter, r *http.Request) error {
	q, err := auditQuery(r)
	if err != nil {
		return err
	}
	ws := currentWorkspace(r).ID
	q.WorkspaceID = &ws
	events, next, err := s.store.AuditLog(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAuditPageJSON(events, next))
	return nil
}

// adminAuditLog answers GET /api/admin/audit-log (platform admins): every
// event, those of deleted workspaces included, or one workspace's with
// ?workspace_id=; 400 for a bad limit, cursor, action or workspace id.
func (s *Server) adminAuditLog(w http.ResponseWriter, r *http.Request) error {
	q, err := auditQuery(r)
	if err != nil {
		return err
	}
	if v, ok := r.URL.Query()["workspace_id"]; ok {
		id, err := parseUUID(v[0], "workspace_id")
		if err != nil || len(v) > 1 {
			return apperr.New(apperr.BadRequest, "workspace_id must be a UUID.")
		}
		q.WorkspaceID = &id
	}
	events, next, err := s.store.AuditLog(r.Context(), q)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, toAuditPageJSON(events, next))
	return nil
}
