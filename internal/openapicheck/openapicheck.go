// Package openapicheck holds HTTP responses to api/openapi.yaml during
// tests.
//
// A Checker finds the operation a request was routed to and validates the
// response (status, headers, body) against it with kin-openapi; it also
// applies the rules of the document's description ("Conventions",
// "Errors", "Authentication") that a schema cannot express:
// the X-Request-ID echo rule, request_id equal to X-Request-ID, one status per
// error code, WWW-Authenticate on 401, Allow on 405, Retry-After on 429 and no
// body where the spec documents none. Responses to unknown routes and methods
// (404, 405, and the 401/403/429 that /api may answer before routing) are
// validated against the shared error envelope.
//
// Wrap a router with Checker.Wrap to validate every response of an HTTP test,
// and use Covered or Uncovered to assert that every operation was exercised.
package openapicheck

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/praxiom/praxiom-api/api"
)

// Checker validates responses against api/openapi.yaml. It is safe for
// concurrent use.
type Checker struct {
	spec *spec

	mu   sync.Mutex
	seen map[string]int // operationId → responses seen
}

// spec is the loaded, validated document with what Check needs from it. It is
// read-only once built and shared by every Checker.
type spec struct {
	doc      *openapi3.T
	router   routers.Router
	envelope *openapi3.Schema
	ops      []string // sorted operationIds
	// codes is the status → error codes table of the spec (the x-status
	// of components.schemas.ErrorCode): every error body, from any route,
	// must carry a code of its status.
	codes map[int][]string
}

var (
	loadOnce   sync.Once
	loadedSpec *spec
	errLoad    error
)

// requestIDPattern is what api/openapi.yaml ("Conventions") accepts as a caller's request id
// and what every X-Request-ID response header must look like.
var requestIDPattern = regexp.MustCompile(`^[A-Za-z0-9._-]{1,128}$`)

// unroutedStatuses are the statuses a request to an unknown path or a known
// path with the wrong method may get. Under /api authentication (and with it
// the suspension check and the rate limit) comes before routing ("Order of
// checks").
var unroutedStatuses = map[error][]int{
	routers.ErrPathNotFound:     {http.StatusNotFound, http.StatusInternalServerError, http.StatusServiceUnavailable},
	routers.ErrMethodNotAllowed: {http.StatusMethodNotAllowed, http.StatusInternalServerError, http.StatusServiceUnavailable},
}

var preRoutingAPIStatuses = []int{http.StatusUnauthorized, http.StatusForbidden, http.StatusTooManyRequests}

func load() (*spec, error) {
	loadOnce.Do(func() { loadedSpec, errLoad = loadSpec(api.Spec) })
	return loadedSpec, errLoad
}

func loadSpec(data []byte) (*spec, error) {
	loader := openapi3.NewLoader()
	loader.IsExternalRefsAllowed = false
	doc, err := loader.LoadFromData(data)
	if err != nil {
		return nil, fmt.Errorf("load api/openapi.yaml: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("api/openapi.yaml is not a valid OpenAPI document: %w", err)
	}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		return nil, fmt.Errorf("build router from api/openapi.yaml: %w", err)
	}
	envRef := doc.Components.Schemas["ErrorEnvelope"]
	if envRef == nil || envRef.Value == nil {
		return nil, errors.New("api/openapi.yaml has no components.schemas.ErrorEnvelope")
	}
	codes, err := codesByStatus(doc)
	if err != nil {
		return nil, err
	}
	s := &spec{doc: doc, router: router, envelope: envRef.Value, codes: codes}
	seen := map[string]bool{}
	for path, item := range doc.Paths.Map() {
		for method, op := range item.Operations() {
			if op.OperationID == "" {
				return nil, fmt.Errorf("api/openapi.yaml: %s %s has no operationId", method, path)
			}
			if seen[op.OperationID] {
				return nil, fmt.Errorf("api/openapi.yaml: operationId %q is used twice", op.OperationID)
			}
			for key := range op.Responses.Map() {
				var code int
				if _, err := fmt.Sscanf(key, "%d", &code); err != nil {
					return nil, fmt.Errorf("api/openapi.yaml: %s: response %q is not a status code", op.OperationID, key)
				}
			}
			seen[op.OperationID] = true
			s.ops = append(s.ops, op.OperationID)
		}
	}
	slices.Sort(s.ops)
	return s, nil
}

// codesByStatus reads the status of every error code from the x-status
// table of components.schemas.ErrorCode, which must name each code of its
// enum exactly once.
func codesByStatus(doc *openapi3.T) (map[int][]string, error) {
	ref := doc.Components.Schemas["ErrorCode"]
	if ref == nil || ref.Value == nil {
		return nil, errors.New("api/openapi.yaml has no components.schemas.ErrorCode")
	}
	table, ok := ref.Value.Extensions["x-status"].(map[string]any)
	if !ok {
		return nil, errors.New("api/openapi.yaml: ErrorCode has no x-status table")
	}
	out := map[int][]string{}
	for _, v := range ref.Value.Enum {
		code, _ := v.(string)
		status, ok := table[code].(float64)
		if !ok {
			return nil, fmt.Errorf("api/openapi.yaml: ErrorCode %s has no x-status", code)
		}
		out[int(status)] = append(out[int(status)], code)
	}
	if len(table) != len(ref.Value.Enum) {
		return nil, errors.New("api/openapi.yaml: ErrorCode's x-status names codes its enum does not")
	}
	for _, codes := range out {
		slices.Sort(codes)
	}
	return out, nil
}

// New returns a Checker for api/openapi.yaml. It fails tb when the document
// does not load, does not validate or cannot be routed.
func New(tb testing.TB) *Checker {
	tb.Helper()
	s, err := load()
	if err != nil {
		tb.Fatalf("openapicheck: %v", err)
		return nil
	}
	return &Checker{spec: s, seen: map[string]int{}}
}

// Doc returns the loaded OpenAPI document. Callers must not modify it.
func (c *Checker) Doc() *openapi3.T { return c.spec.doc }

// Operations returns every operationId of the spec, sorted.
func (c *Checker) Operations() []string { return slices.Clone(c.spec.ops) }

// Covered returns, for every operationId of the spec, whether Check has seen
// at least one response to it.
func (c *Checker) Covered() map[string]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]bool, len(c.spec.ops))
	for _, op := range c.spec.ops {
		out[op] = c.seen[op] > 0
	}
	return out
}

// Uncovered returns the operationIds Check has seen no response to, sorted.
func (c *Checker) Uncovered() []string {
	var out []string
	for op, ok := range c.Covered() {
		if !ok {
			out = append(out, op)
		}
	}
	slices.Sort(out)
	return out
}

// Check validates one response to req against the spec and fails tb (with
// Errorf, so it may run on any goroutine) with the method, path, status, the
// problems found and the body. req's body is not read.
func (c *Checker) Check(tb testing.TB, req *http.Request, status int, header http.Header, body []byte) {
	tb.Helper()
	if header == nil {
		header = http.Header{}
	}
	if problems := c.check(req, status, header, body); len(problems) > 0 {
		tb.Errorf("openapicheck: %s %s → %d breaks api/openapi.yaml:\n  - %s\n  response headers: %v\n  response body: %s",
			req.Method, req.URL.RequestURI(), status, strings.Join(problems, "\n  - "), header, clip(body))
	}
}

// check returns the problems of one response; none when it conforms.
func (c *Checker) check(req *http.Request, status int, header http.Header, body []byte) []string {
	var problems []string
	addf := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	if status < 100 || status > 599 {
		addf("status %d is not an HTTP status", status)
		return problems
	}

	// Cross-cutting rules ("Conventions", "Errors") that hold for every response.
	checkRequestID(req, header, addf)
	if status >= 400 {
		c.checkErrorBody(req, status, header, body, addf)
	}
	switch status {
	case http.StatusUnauthorized:
		checkWWWAuthenticate(req, header, addf)
	case http.StatusMethodNotAllowed:
		if header.Get("Allow") == "" {
			addf("405 without an Allow header")
		}
	case http.StatusTooManyRequests:
		if header.Get("Retry-After") == "" {
			addf("429 without a Retry-After header")
		}
	case http.StatusNoContent, http.StatusNotModified:
		if len(body) > 0 {
			addf("%d with a body of %d bytes", status, len(body))
		}
	}

	route, pathParams, err := c.spec.router.FindRoute(req)
	if err != nil {
		if isPreflight(req) && status >= 200 && status < 300 {
			return problems // CORS preflight, answered before routing ("CORS")
		}
		allowed, known := unroutedStatuses[err]
		if !known {
			addf("cannot route the request: %v", err)
			return problems
		}
		if strings.HasPrefix(req.URL.Path, "/api/") {
			allowed = append(slices.Clone(allowed), preRoutingAPIStatuses...)
		}
		if !slices.Contains(allowed, status) {
			addf("the spec has no operation %s %s (%v); such a request may only get one of %v", req.Method, req.URL.Path, err, allowed)
		}
		return problems
	}

	opID := route.Operation.OperationID
	c.record(opID)

	input := &openapi3filter.ResponseValidationInput{
		RequestValidationInput: &openapi3filter.RequestValidationInput{
			Request:    req,
			PathParams: pathParams,
			Route:      route,
		},
		Status: status,
		Header: header,
		Options: &openapi3filter.Options{
			ExcludeRequestBody:    true,
			IncludeResponseStatus: true,
			MultiError:            false,
			AuthenticationFunc:    openapi3filter.NoopAuthenticationFunc,
			// The body is in the failure message already; keep the
			// reason short rather than dumping schema and value.
			SchemaValidationOptions: []openapi3.SchemaValidationOption{openapi3.DisableSchemaErrorDetails()},
		},
	}
	input.SetBodyBytes(body)
	if err := openapi3filter.ValidateResponse(context.Background(), input); err != nil {
		addf("operation %s: %v", opID, oneLine(err))
		return problems
	}
	if resp := route.Operation.Responses.Status(status); resp != nil && resp.Value != nil &&
		len(resp.Value.Content) == 0 && len(body) > 0 {
		addf("operation %s: the spec documents no body for %d but the response has %d bytes", opID, status, len(body))
	}
	return problems
}

func (c *Checker) record(opID string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.seen[opID]++
}

// checkErrorBody holds an error response to the envelope of "Errors": JSON, the
// ErrorEnvelope schema, a code of its status and request_id equal to the
// X-Request-ID header.
func (c *Checker) checkErrorBody(req *http.Request, status int, header http.Header, body []byte, addf func(string, ...any)) {
	codes, ok := c.spec.codes[status]
	if !ok {
		addf("status %d is not a status of any error response in the spec", status)
	}
	if req.Method == http.MethodHead {
		return
	}
	if ct := header.Get("Content-Type"); !isJSON(ct) {
		addf("error response with Content-Type %q, want application/json", ct)
	}
	var value any
	if err := json.Unmarshal(body, &value); err != nil {
		addf("error body is not JSON: %v", err)
		return
	}
	if err := c.spec.envelope.VisitJSON(value, openapi3.VisitAsResponse(), openapi3.DisableSchemaErrorDetails()); err != nil {
		addf("error body does not match ErrorEnvelope: %v", oneLine(err))
		return
	}
	e := value.(map[string]any)["error"].(map[string]any)
	if code, _ := e["code"].(string); ok && !slices.Contains(codes, code) {
		addf("error code %s does not belong to status %d (allowed: %v)", code, status, codes)
	}
	// A replayed answer (Idempotency-Key) keeps the first request's body,
	// request_id included; the header is the retry's own.
	if rid, _ := e["request_id"].(string); rid != header.Get("X-Request-ID") && header.Get("Idempotent-Replayed") != "true" {
		addf("error.request_id %q differs from the X-Request-ID header %q", rid, header.Get("X-Request-ID"))
	}
}

// checkRequestID applies "Conventions": every response carries X-Request-ID, the
// caller's value when it is valid, else a fresh valid one.
func checkRequestID(req *http.Request, header http.Header, addf func(string, ...any)) {
	got := header.Get("X-Request-ID")
	sent, wasSent := req.Header.Get("X-Request-ID"), len(req.Header.Values("X-Request-ID")) > 0
	switch {
	case got == "":
		addf("no X-Request-ID response header")
	case !requestIDPattern.MatchString(got):
		addf("X-Request-ID %q is not 1..128 characters of [A-Za-z0-9._-]", got)
	case wasSent && requestIDPattern.MatchString(sent) && got != sent:
		addf("X-Request-ID %q does not echo the caller's valid %q", got, sent)
	case wasSent && !requestIDPattern.MatchString(sent) && got == sent:
		addf("X-Request-ID echoes the caller's invalid %q instead of a fresh id", sent)
	}
}

// checkWWWAuthenticate applies "Authentication": a 401 carries `Bearer error="invalid_token"`
// when a bearer token was sent and a plain `Bearer` challenge when no
// Authorization header was sent.
func checkWWWAuthenticate(req *http.Request, header http.Header, addf func(string, ...any)) {
	got := header.Get("WWW-Authenticate")
	if got == "" {
		addf("401 without a WWW-Authenticate header")
		return
	}
	if scheme, _, _ := strings.Cut(got, " "); scheme != "Bearer" {
		addf("WWW-Authenticate %q is not a Bearer challenge", got)
		return
	}
	auth := strings.TrimSpace(req.Header.Get("Authorization"))
	scheme, token, _ := strings.Cut(auth, " ")
	switch {
	case auth == "":
		if strings.Contains(got, "error=") {
			addf("WWW-Authenticate %q names an error although no token was sent; want %q", got, "Bearer")
		}
	case strings.EqualFold(scheme, "bearer") && strings.TrimSpace(token) != "":
		if !strings.Contains(got, `error="invalid_token"`) {
			addf("WWW-Authenticate %q lacks error=\"invalid_token\" although a bearer token was sent", got)
		}
	}
}

func isPreflight(req *http.Request) bool {
	return req.Method == http.MethodOptions && req.Header.Get("Access-Control-Request-Method") != ""
}

func isJSON(contentType string) bool {
	mt, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(mt), "application/json")
}

func oneLine(err error) string {
	return strings.ReplaceAll(strings.TrimSpace(err.Error()), "\n", " | ")
}

func clip(body []byte) string {
	const max = 2048
	if len(body) > max {
		return fmt.Sprintf("%s… (%d bytes)", body[:max], len(body))
	}
	return string(body)
}

// Wrap returns a handler that serves with h and then Checks the response it
// gave. The request body is buffered first, so h still reads it whole; the
// request Check sees is a copy taken before h ran, so middleware that edits
// the request's headers does not change what the response is held to.
func (c *Checker) Wrap(tb testing.TB, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var reqBody []byte
		if r.Body != nil && r.Body != http.NoBody {
			b, err := io.ReadAll(r.Body)
			_ = r.Body.Close()
			if err != nil {
				tb.Errorf("openapicheck: read the body of %s %s: %v", r.Method, r.URL.RequestURI(), err)
			}
			reqBody = b
			r.Body = io.NopCloser(bytes.NewReader(b))
		}
		snapshot := r.Clone(r.Context())
		snapshot.Body = io.NopCloser(bytes.NewReader(reqBody))

		rec := &recorder{w: w}
		h.ServeHTTP(rec, r)
		status, header := rec.result()
		c.Check(tb, snapshot, status, header, rec.body.Bytes())
	})
}

// recorder passes a response through while keeping a copy of its status, the
// headers as sent and the body.
type recorder struct {
	w           http.ResponseWriter
	status      int
	header      http.Header
	body        bytes.Buffer
	wroteHeader bool
}

func (r *recorder) Header() http.Header { return r.w.Header() }

func (r *recorder) WriteHeader(status int) {
	if r.wroteHeader {
		r.w.WriteHeader(status) // let net/http report the superfluous call
		return
	}
	if status >= 100 && status < 200 && status != http.StatusSwitchingProtocols {
		r.w.WriteHeader(status) // informational; the final status comes later
		return
	}
	r.wroteHeader = true
	r.status = status
	r.header = r.w.Header().Clone()
	r.w.WriteHeader(status)
}

func (r *recorder) Write(p []byte) (int, error) {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	r.body.Write(p)
	return r.w.Write(p)
}

// Flush implements http.Flusher when the underlying writer does.
func (r *recorder) Flush() {
	if !r.wroteHeader {
		r.WriteHeader(http.StatusOK)
	}
	if f, ok := r.w.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the underlying writer.
func (r *recorder) Unwrap() http.ResponseWriter { return r.w }

func (r *recorder) result() (int, http.Header) {
	if !r.wroteHeader {
		// A handler that writes nothing sends 200 with the headers it set.
		return http.StatusOK, r.w.Header().Clone()
	}
	return r.status, r.header
}
