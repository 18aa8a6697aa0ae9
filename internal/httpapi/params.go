package httpapi

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strconv"

	"github.com/praxiom/praxiom-api/internal/apperr"
)

// Pagination bounds of every list (contract §1).
const (
	defaultLimit = 50
	maxLimit     = 200
)

// page is a list's limit and offset.
type page struct{ Limit, Offset int }

// listParams reads limit (1..200, default 50) and offset (>= 0, default 0).
// Returns BAD_REQUEST for a value out of range or not a number.
func listParams(r *http.Request) (page, error) {
	p := page{Limit: defaultLimit}
	q := r.URL.Query()
	if v, ok := q["limit"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 1 || n > maxLimit || len(v) > 1 {
			return p, apperr.New(apperr.BadRequest, "limit must be a whole number from 1 to 200.")
		}
		p.Limit = n
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

// optional is a PATCH field: Set when the key was present, Null when its
// value was null.
type optional[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// UnmarshalJSON records presence; a null leaves Value zero.
func (o *optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}

// ptr returns the value, nil for null.
func (o optional[T]) ptr() *T {
	if o.Null {
		return nil
	}
	v := o.Value
	return &v
}
