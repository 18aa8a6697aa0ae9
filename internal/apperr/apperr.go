// Package apperr defines the one error type of the service: a machine code, a
// message that is safe to show to clients, optional per-field details and the
// wrapped cause, which only ever reaches the logs.
package apperr

import (
	"errors"
	"fmt"
	"math"
	"time"
)

// Code is a machine-readable error code (api/openapi.yaml, ErrorCode and
// "Errors").
type Code string

// The error codes of api/openapi.yaml. The HTTP layer maps each to one status.
const (
	BadRequest                Code = "BAD_REQUEST"
	InvalidSignature          Code = "INVALID_SIGNATURE"
	Unauthorized              Code = "UNAUTHORIZED"
	Forbidden                 Code = "FORBIDDEN"
	AccessRequired            Code = "ACCESS_REQUIRED"
	AccountSuspended          Code = "ACCOUNT_SUSPENDED"
	InvitationEmailMismatch   Code = "INVITATION_EMAIL_MISMATCH"
	NotFound                  Code = "NOT_FOUND"
	AccessCodeInvalid         Code = "ACCESS_CODE_INVALID"
	MethodNotAllowed          Code = "METHOD_NOT_ALLOWED"
	AlreadyMember             Code = "ALREADY_MEMBER"
	InvitationPending         Code = "INVITATION_PENDING"
	LastOwner                 Code = "LAST_OWNER"
	AccessCodeExhausted       Code = "ACCESS_CODE_EXHAUSTED"
	APIKeyLimit               Code = "API_KEY_LIMIT"
	IdempotencyKeyInUse       Code = "IDEMPOTENCY_KEY_IN_USE"
	IdempotencyKeyReused      Code = "IDEMPOTENCY_KEY_REUSED"
	InvitationExpired         Code = "INVITATION_EXPIRED"
	InvitationRevoked         Code = "INVITATION_REVOKED"
	InvitationAlreadyAccepted Code = "INVITATION_ALREADY_ACCEPTED"
	PayloadTooLarge           Code = "PAYLOAD_TOO_LARGE"
	UnsupportedMediaType      Code = "UNSUPPORTED_MEDIA_TYPE"
	ValidationError           Code = "VALIDATION_ERROR"
	RateLimited               Code = "RATE_LIMITED"
	Internal                  Code = "INTERNAL"
	Unavailable               Code = "SERVICE_UNAVAILABLE"
)

// Error is an error with a Code and a client-safe message.
type Error struct {
	Code    Code
	Message string
	// Fields names the offending input fields of a VALIDATION_ERROR.
	Fields map[string]string
	// RetryAfter, when positive, says when a RATE_LIMITED caller may retry
	// (the HTTP layer sends it as Retry-After, rounded up to seconds).
	RetryAfter time.Duration
	// Err is the underlying cause; it is logged, never shown to clients.
	Err error
}

// Error returns the code, the message and the cause, for logs.
func (e *Error) Error() string {
	if e.Err != nil {
		return fmt.Sprintf("%s: %s: %v", e.Code, e.Message, e.Err)
	}
	return fmt.Sprintf("%s: %s", e.Code, e.Message)
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// New returns an error with the given code and client-safe message.
func New(code Code, message string) *Error {
	return &Error{Code: code, Message: message}
}

// RetryLater returns an error with the given code whose caller may retry
// after d, rounded up to whole seconds and at least one: RetryAfter is set
// (the HTTP layer's Retry-After) and the message ends with "; retry after
// <d>.".
func RetryLater(code Code, message string, d time.Duration) *Error {
	d = time.Duration(max(1, int64(math.Ceil(d.Seconds())))) * time.Second
	return &Error{Code: code, Message: message + "; retry after " + d.String() + ".", RetryAfter: d}
}

// Wrap returns an error with the given code and message that wraps cause.
func Wrap(code Code, message string, cause error) *Error {
	return &Error{Code: code, Message: message, Err: cause}
}

// Validation returns a VALIDATION_ERROR naming the offending fields.
func Validation(fields map[string]string) *Error {
	return &Error{Code: ValidationError, Message: "The request is invalid.", Fields: fields}
}

// CodeOf returns the code of the first *Error in err's chain, or Internal.
func CodeOf(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return Internal
}

// As returns the first *Error in err's chain.
func As(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}
