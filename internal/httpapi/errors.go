package httpapi

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"net/http"
	"strconv"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/auth"
)

// statusOf is the one code→status table of the service (api/openapi.yaml,
// "Errors").
var statusOf = map[apperr.Code]int{
	apperr.BadRequest:                http.StatusBadRequest,
	apperr.InvalidSignature:          http.StatusBadRequest,
	apperr.Unauthorized:              http.StatusUnauthorized,
	apperr.Forbidden:                 http.StatusForbidden,
	apperr.AccessRequired:            http.StatusForbidden,
	apperr.AccountSuspended:          http.StatusForbidden,
	apperr.InvitationEmailMismatch:   http.StatusForbidden,
	apperr.NotFound:                  http.StatusNotFound,
	apperr.AccessCodeInvalid:         http.StatusNotFound,
	apperr.MethodNotAllowed:          http.StatusMethodNotAllowed,
	apperr.AlreadyMember:             http.StatusConflict,
	apperr.InvitationPending:         http.StatusConflict,
	apperr.LastOwner:                 http.StatusConflict,
	apperr.AccessCodeExhausted:       http.StatusConflict,
	apperr.APIKeyLimit:               http.StatusConflict,
	apperr.IdempotencyKeyInUse:       http.StatusConflict,
	apperr.IdempotencyKeyReused:      http.StatusUnprocessableEntity,
	apperr.InvitationExpired:         http.StatusGone,
	apperr.InvitationRevoked:         http.StatusGone,
	apperr.InvitationAlreadyAccepted: http.StatusGone,
	apperr.PayloadTooLarge:           http.StatusRequestEntityTooLarge,
	apperr.UnsupportedMediaType:      http.StatusUnsupportedMediaType,
	apperr.ValidationError:           http.StatusUnprocessableEntity,
	apperr.RateLimited:               http.StatusTooManyRequests,
	apperr.Internal:                  http.StatusInternalServerError,
	apperr.Unavailable:               http.StatusServiceUnavailable,
}

// statusClientClosed is what the request log and metrics record for a
// request its client cancelled.
const statusClientClosed = 499

type errorBody struct {
	Error errorDetail `json:"error"`
}

type errorDetail struct {
	Code      apperr.Code       `json:"code"`
	Message   string            `json:"message"`
	RequestID string            `json:"request_id"`
	Fields    map[string]string `json:"fields,omitempty"`
}

// writeError answers err in the error envelope; it alone decides the status
// and headers of an error answer: the RFC 6750 challenge of a 401
// (error="invalid_token" whenever a bearer credential was sent), the
// Retry-After of a 503 and of an error that says when to retry. Clients see
// the code and the safe message only; a 5xx logs its cause with the request
// id.
func writeError(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(r.Context().Err(), context.Canceled) {
		// The client went away: nobody reads this answer, and it is no
		// failure of ours. The request log records 499 (nginx's "client
		// closed request").
		logger(r).LogAttrs(r.Context(), slog.LevelDebug, "client went away", slog.String("error", err.Error()))
		w.WriteHeader(statusClientClosed)
		return
	}
	e, ok := apperr.As(err)
	if !ok {
		e = apperr.Wrap(apperr.Internal, "Internal server error.", err)
	}
	status, known := statusOf[e.Code]
	if !known {
		status = http.StatusInternalServerError
		e = apperr.Wrap(apperr.Internal, "Internal server error.", err)
	}
	msg := e.Message
	switch {
	case e.Code == apperr.Internal:
		msg = "Internal server error."
		logger(r).LogAttrs(r.Context(), slog.LevelError, "request failed", slog.String("error", err.Error()))
	case status >= 500:
		logger(r).LogAttrs(r.Context(), slog.LevelWarn, "request failed", slog.String("error", err.Error()))
	case e.Err != nil:
		logger(r).LogAttrs(r.Context(), slog.LevelDebug, "request refused", slog.String("error", err.Error()))
	}
	if msg == "" {
		msg = http.StatusText(status)
	}
	if status == http.StatusUnauthorized {
		challenge := "Bearer"
		if token, _, ok := auth.ParseBearer(r.Header.Get("Authorization")); ok && token != "" {
			challenge = `Bearer error="invalid_token"`
		}
		w.Header().Set("WWW-Authenticate", challenge)
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	if status == http.StatusServiceUnavailable && w.Header().Get("Retry-After") == "" {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, status, errorBody{Error: errorDetail{
		Code: e.Code, Message: msg, RequestID: requestID(r.Context()), Fields: e.Fields,
	}})
}
