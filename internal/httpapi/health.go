package httpapi

import (
	"context"
	"net/http"
	"time"

	"github.com/praxiom/praxiom-api/internal/apperr"
)

type statusBody struct {
	Status string `json:"status"`
}

// healthz answers 200 while the process runs.
func (s *Server) healthz(w http.ResponseWriter, r *http.Request) error {
	writeJSON(w, http.StatusOK, statusBody{Status: "ok"})
	return nil
}

// readyz answers 200 when the database answers and no migration is pending,
// else 503 SERVICE_UNAVAILABLE.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) error {
	if s.draining.Load() {
		return apperr.New(apperr.Unavailable, "The server is shutting down.")
	}
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.store.Ping(ctx); err != nil {
		return apperr.Wrap(apperr.Unavailable, "The database is unavailable.", err)
	}
	if s.readiness != nil {
		pending, err := s.readiness.Pending(ctx)
		if err != nil {
			return apperr.Wrap(apperr.Unavailable, "The database is unavailable.", err)
		}
		if pending {
			return apperr.New(apperr.Unavailable, "Database migrations are pending.")
		}
	}
	writeJSON(w, http.StatusOK, statusBody{Status: "ok"})
	return nil
}
