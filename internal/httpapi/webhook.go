package httpapi

import (
	"net/http"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/store"
	"github.com/praxiom/praxiom-api/internal/webhook"
)

// clerkWebhook verifies a Clerk delivery over its raw body and applies it
// once. 400 INVALID_SIGNATURE, 400 BAD_REQUEST for a signed body that is not
// a Clerk event, 413 over 1 MiB, 503 when the secret is not configured or
// the database is down (Svix retries). It does not insist on a Content-Type.
func (s *Server) clerkWebhook(w http.ResponseWriter, r *http.Request) error {
	if s.webhook == nil {
		return apperr.New(apperr.Unavailable, "The webhook is not configured.")
	}
	body, err := readBody(w, r, webhook.MaxBody)
	if err != nil {
		return err
	}
	if err := s.webhook.Verify(body, r.Header); err != nil {
		return err
	}
	ev, err := webhook.Decode(body)
	if err != nil {
		return err
	}
	actor := store.SystemActor
	actor.RequestID, actor.IP = requestID(r.Context()), clientIP(r, s.limits.TrustedProxies)
	result, err := s.applier.Apply(r.Context(), actor, webhook.MessageID(r.Header), ev)
	if s.metrics != nil {
		outcome := string(result)
		if err != nil {
			outcome = "error"
		}
		s.metrics.Webhook(ev.Type, outcome)
	}
	if err != nil {
		return err
	}
	logger(r).Info("webhook applied", "event_type", ev.Type, "result", string(result))
	writeJSON(w, http.StatusOK, statusBody{Status: string(result)})
	return nil
}
