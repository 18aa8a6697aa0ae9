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

	"github.com/praxiom/praxiom-api/internal/apperr"
)

// maxBody is the largest request body any route accepts (contract §1).
const maxBody = 1 << 20

// writeJSON writes v with status. Encoding errors can only come from a
// broken connection, which the logger sees as a short write.
func writeJSON(w http.ResponseWriter, status int, v any) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		http.Error(w, `{"error":{"code":"INTERNAL","message":"Internal server error.","request_id":""}}`, http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
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

// decodeJSON decodes the request's JSON body into dst, which must be a
// pointer to a struct. Returns UNSUPPORTED_MEDIA_TYPE without
// application/json, PAYLOAD_TOO_LARGE over 1 MiB, BAD_REQUEST for malformed
// JSON, VALIDATION_ERROR naming an unknown field or a field of the wrong type.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any) error {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		return apperr.New(apperr.UnsupportedMediaType, "Send the body as application/json.")
	}
	body, err := readBody(w, r, maxBody)
	if err != nil {
		return err
	}
	return decodeJSONBytes(body, dst)
}

// decodeJSONBytes is decodeJSON after the body is read; it is what the body
// fuzz target exercises.
func decodeJSONBytes(body []byte, dst any) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return apperr.New(apperr.BadRequest, "The body must not be empty.")
	}
	if trimmed[0] != '{' {
		return apperr.New(apperr.BadRequest, "The body must be a JSON object.")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(dst); err != nil {
		var syntaxErr *json.SyntaxError
		var typeErr *json.UnmarshalTypeError
		switch {
		case errors.As(err, &syntaxErr), errors.Is(err, io.ErrUnexpectedEOF):
			return apperr.Wrap(apperr.BadRequest, "The body is not well-formed JSON.", err)
		case errors.As(err, &typeErr):
			if typeErr.Field == "" {
				return apperr.Wrap(apperr.BadRequest, "The body must be a JSON object.", err)
			}
			return &apperr.Error{Code: apperr.ValidationError, Message: "The request is invalid.",
				Fields: map[string]string{typeErr.Field: "must be a " + jsonType(typeErr.Type.Kind().String())}, Err: err}
		case strings.HasPrefix(err.Error(), "json: unknown field "):
			// encoding/json offers no typed error for this one.
			field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
			return &apperr.Error{Code: apperr.ValidationError, Message: "The request has an unknown field.",
				Fields: map[string]string{field: "is not allowed"}, Err: err}
		default:
			return apperr.Wrap(apperr.BadRequest, "The body is not well-formed JSON.", err)
		}
	}
	if dec.More() {
		return apperr.New(apperr.BadRequest, "The body must hold a single JSON object.")
	}
	if _, err := dec.Token(); err != io.EOF {
		return apperr.New(apperr.BadRequest, "The body must hold a single JSON object.")
	}
	return exactKeys(body, dst)
}

// exactKeys returns VALIDATION_ERROR naming a top-level key of the (already
// decoded) body that is not spelled exactly like one of dst's JSON field
// names: encoding/json matches keys case-insensitively, so {"Name": …}
// would otherwise be taken for "name" (contract §1: unknown fields → 422).
func exactKeys(body []byte, dst any) error {
	t := reflect.TypeOf(dst)
	if t.Kind() != reflect.Pointer || t.Elem().Kind() != reflect.Struct {
		return nil
	}
	t = t.Elem()
	known := make(map[string]bool, t.NumField())
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if name == "" {
			name = f.Name
		}
		if name != "-" && f.IsExported() {
			known[name] = true
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if _, err := dec.Token(); err != nil { // {
		return nil
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil
		}
		if key, _ := tok.(string); !known[key] {
			return &apperr.Error{Code: apperr.ValidationError, Message: "The request has an unknown field.",
				Fields: map[string]string{key: "is not allowed"}}
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return nil
		}
	}
	return nil
}

func jsonType(kind string) string {
	switch kind {
	case "string":
		return "string"
	case "bool":
		return "boolean"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64", "float32", "float64":
		return "number"
	case "slice", "array":
		return "list"
	case "map", "struct":
		return "object"
	default:
		return "valid value"
	}
}
