package httpapi

import (
	"net/http"
	"net/url"
	"strconv"

	"github.com/go-chi/chi/v5"
	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apperr"
)

// Pagination bounds of every list (api/openapi.yaml, "Conventions").
const (
	defaultLimit = 50
	maxLimit     = 200
)

// page is a list's limit and offset.
type page struct{ Limit, Offset int }

// listParams reads limit (1..200, default 50) and offset (>= 0, default 0).
// Returns BAD_REQUEST for a value out of range or not a number.
func listParams(r *http.Request) (page, error) {
	q := r.URL.Query()
	limit, err := limitParam(q)
	p := page{Limit: limit}
	if err != nil {
		return p, err
	}
	if v, ok := q["offset"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 0 || len(v) > 1 {
			return p, apperr.New(apperr.BadRequest, "offset must be a whole number of at least 0.")
		}
		p.Offset = n
	}
	return p, nil
}

// limitParam reads q's limit: 1..200, default 50. Returns BAD_REQUEST for a
// value out of range, not a number, or given twice.
func limitParam(q url.Values) (int, error) {
	v, ok := q["limit"]
	if !ok {
		return defaultLimit, nil
	}
	n, err := strconv.Atoi(v[0])
	if err != nil || n < 1 || n > maxLimit || len(v) > 1 {
		return defaultLimit, apperr.New(apperr.BadRequest, "limit must be a whole number from 1 to 200.")
	}
	return n, nil
}

// statusParam reads a list's ?status=, def when absent. Returns
// BAD_REQUEST ("status must be <which>.") when it is given twice or valid
// refuses it.
func statusParam(r *http.Request, def string, valid func(string) bool, which string) (string, error) {
	v, ok := r.URL.Query()["status"]
	if !ok {
		return def, nil
	}
	if len(v) != 1 || !valid(v[0]) {
		return def, apperr.New(apperr.BadRequest, "status must be "+which+".")
	}
	return v[0], nil
}

// pathUUID parses a path parameter as a UUID (36 characters, hyphenated).
// Returns BAD_REQUEST.
func pathUUID(r *http.Request, name string) (uuid.UUID, error) {
	return parseUUID(chi.URLParam(r, name), name)
}

func parseUUID(raw, name string) (uuid.UUID, error) {
	id, err := uuid.Parse(raw)
	if err != nil || len(raw) != 36 {
		return uuid.Nil, apperr.New(apperr.BadRequest, "The path parameter "+name+" must be a UUID.")
	}
	return id, nil
}
