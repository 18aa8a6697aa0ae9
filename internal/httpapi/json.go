package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/jsontext"
)

// maxBody is the largest request body any route accepts (api/openapi.yaml,
// "Conventions").
const maxBody = 1 << 20

// jsonContentType is every JSON answer's Content-Type value, shared (as
// limitValue's is): set by its canonical key, no slice per response.
var jsonContentType = []string{"application/json; charset=utf-8"}

// bufPool recycles response buffers; buffers that grew past maxPooled are
// left to the garbage collector.
var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

const maxPooled = 64 << 10

// writeJSON writes v with status, through its own appendJSON when it has
// one (jsonAppender). Encoding errors can only come from a value no handler
// produces: writeJSON panics, before anything is written, and
// recoverPanics answers the 500 envelope and logs the cause.
func writeJSON(w http.ResponseWriter, status int, v any) {
	buf := bufPool.Get().(*bytes.Buffer)
	defer func() {
		if buf.Cap() <= maxPooled {
			buf.Reset()
			bufPool.Put(buf)
		}
	}()
	if a, ok := v.(jsonAppender); ok {
		buf.Write(append(a.appendJSON(buf.AvailableBuffer()), '\n'))
	} else {
		enc := json.NewEncoder(buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			panic(fmt.Sprintf("httpapi: writeJSON of %T: %v", v, err))
		}
	}
	w.Header()["Content-Type"] = jsonContentType
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// readBody reads a body of at most limit bytes. Returns PAYLOAD_TOO_LARGE.
func readBody(w http.ResponseWriter, r *http.Request, limit int64) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, apperr.New(apperr.PayloadTooLarge, fmt.Sprintf("The body is larger than %d bytes.", limit))
		}
		return nil, apperr.Wrap(apperr.BadRequest, "The body could not be read.", err)
	}
	return body, nil
}

// decode reads the request's JSON body into dst, a pointer to a struct
// whose exported fields carry json tags: the one way request bodies are
// read. A field may be a store.Optional[T] to tell an absent key from a
// null. Returns UNSUPPORTED_MEDIA_TYPE without application/json,
// PAYLOAD_TOO_LARGE over 1 MiB, BAD_REQUEST for a body that is not one
// well-formed JSON object, and VALIDATION_ERROR naming every field that is
// unknown (names match exactly), of the wrong type, or holding what
// PostgreSQL cannot store (U+0000, unpaired surrogates, invalid UTF-8).
// Of a key given twice, the last value counts.
func decode(w http.ResponseWriter, r *http.Request, dst any) error {
	if !jsonMediaType(r) {
		return errMediaType
	}
	body, err := readBody(w, r, maxBody)
	if err != nil {
		return err
	}
	return decodeBytes(body, dst)
}

// jsonMediaType reports whether r's Content-Type is application/json.
func jsonMediaType(r *http.Request) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	return err == nil && mt == "application/json"
}

var (
	errMediaType     = apperr.New(apperr.UnsupportedMediaType, "Send the body as application/json.")
	errEmptyBody     = apperr.New(apperr.BadRequest, "The body must not be empty.")
	errNotObject     = apperr.New(apperr.BadRequest, "The body must be a JSON object.")
	errMalformedBody = apperr.New(apperr.BadRequest, "The body is not well-formed JSON.")
	errTrailingBody  = apperr.New(apperr.BadRequest, "The body must hold a single JSON object.")
)

// decodeBytes is decode after the body is read; it is what the body fuzz
// target exercises.
func decodeBytes(body []byte, dst any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		return errEmptyBody
	}
	v := reflect.ValueOf(dst).Elem()
	fields := fieldsOf(v.Type())
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		if err != nil && !isSyntax(err) {
			return errMalformedBody
		}
		return errNotObject
	}
	problems := map[string]string{}
	unknown := 0
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return apperr.Wrap(apperr.BadRequest, errMalformedBody.Message, err)
		}
		key, _ := tok.(string)
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return apperr.Wrap(apperr.BadRequest, errMalformedBody.Message, err)
		}
		f, ok := fields[key]
		if !ok {
			// Named up to a bound: a stranger's body of tiny unknown keys
			// must not become an answer (and a sort) as large as itself.
			if _, seen := problems[key]; !seen {
				unknown++
				if unknown <= maxUnknownNamed {
					problems[key] = "is not allowed"
				}
			}
			continue
		}
		if p := jsontext.Check(raw); p != "" {
			problems[key] = string(p)
			continue
		}
		field := v.Field(f.index)
		field.SetZero() // a repeated key starts afresh
		if err := json.Unmarshal(raw, field.Addr().Interface()); err != nil {
			problems[key] = f.wrongType
		} else {
			delete(problems, key)
		}
	}
	if _, err := dec.Token(); err != nil { // the closing brace
		return apperr.Wrap(apperr.BadRequest, errMalformedBody.Message, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errTrailingBody
	}
	if len(problems) > 0 {
		msg := "The request is invalid."
		switch {
		case unknown > maxUnknownNamed:
			msg = fmt.Sprintf("The request has %d unknown fields; the first %d are named.", unknown, maxUnknownNamed)
		case unknown > 0:
			msg = "The request has an unknown field."
		}
		return &apperr.Error{Code: apperr.ValidationError, Message: msg, Fields: problems}
	}
	return nil
}

// maxUnknownNamed is how many unknown fields a 422 names at most.
const maxUnknownNamed = 20

func isSyntax(err error) bool {
	var se *json.SyntaxError
	return errors.As(err, &se) || errors.Is(err, io.ErrUnexpectedEOF)
}

// bodyField is one field of a request body type.
type bodyField struct {
	index     int
	wrongType string // the message for a value of the wrong type
}

var bodyFields sync.Map // reflect.Type → map[string]bodyField

// fieldsOf returns the JSON fields of struct type t by their exact names.
func fieldsOf(t reflect.Type) map[string]bodyField {
	if f, ok := bodyFields.Load(t); ok {
		return f.(map[string]bodyField)
	}
	fields := make(map[string]bodyField, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if !f.IsExported() || name == "-" {
			continue
		}
		if name == "" {
			name = f.Name
		}
		fields[name] = bodyField{index: i, wrongType: "must be " + typeName(f.Type)}
	}
	bodyFields.Store(t, fields)
	return fields
}

var (
	timeType = reflect.TypeFor[time.Time]()
	uuidType = reflect.TypeFor[uuid.UUID]()
	rawType  = reflect.TypeFor[json.RawMessage]()
)

// typeName says what JSON a Go type takes, for "must be …" messages.
func typeName(t reflect.Type) string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	// store.Optional[T] and the like: a struct of Set, Null and Value.
	if t.Kind() == reflect.Struct {
		if v, ok := t.FieldByName("Value"); ok {
			if _, ok := t.FieldByName("Null"); ok {
				return typeName(v.Type)
			}
		}
	}
	switch {
	case t == timeType:
		return "an RFC 3339 time"
	case t == uuidType:
		return "a UUID"
	case t == rawType:
		return "JSON"
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "a whole number"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Slice, reflect.Array:
		return "a list of " + strings.TrimPrefix(strings.TrimPrefix(typeName(t.Elem()), "a "), "an ") + "s"
	default:
		return "an object"
	}
}
