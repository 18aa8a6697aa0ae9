package store

import (
	"bytes"
	"encoding/json"
)

// Optional is a field of a partial update: Set when it was given, Null when
// it was given as null (Value is then zero). It decodes from JSON, so a
// request body's field can be one as it is.
type Optional[T any] struct {
	Set   bool
	Null  bool
	Value T
}

// Some returns a set, non-null Optional holding v.
func Some[T any](v T) Optional[T] { return Optional[T]{Set: true, Value: v} }

// UnmarshalJSON records presence; a null leaves Value zero. A value of the
// wrong type is an *json.UnmarshalTypeError.
func (o *Optional[T]) UnmarshalJSON(b []byte) error {
	o.Set = true
	if bytes.Equal(bytes.TrimSpace(b), []byte("null")) {
		o.Null = true
		return nil
	}
	return json.Unmarshal(b, &o.Value)
}

// Ptr returns the value, nil when it is null or not set.
func (o Optional[T]) Ptr() *T {
	if !o.Set || o.Null {
		return nil
	}
	v := o.Value
	return &v
}
