package httpapi

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/praxiom/praxiom-api/api"
	"github.com/praxiom/praxiom-api/internal/apidocs"
)

// reference serves the API reference (api/openapi.yaml, "reference" tag):
// the OpenAPI document as YAML and JSON, and the interactive page of it with
// its two scripts. Every body is fixed while the process runs.
type reference struct {
	yaml, json, page, bundle, script *staticFile
	jsonErr                          error
}

// loadReference builds the reference once per process: the JSON conversion
// and the hashes are computed at the first server's start.
var loadReference = sync.OnceValue(func() *reference {
	ref := &reference{
		yaml:   newStaticFile(api.Spec, "application/yaml", ""),
		page:   newStaticFile(apidocs.Page, "text/html; charset=utf-8", apidocs.ContentSecurityPolicy),
		bundle: newStaticFile(apidocs.Bundle, "text/javascript; charset=utf-8", ""),
		script: newStaticFile(apidocs.Script, "text/javascript; charset=utf-8", ""),
	}
	doc, err := api.JSON()
	if err != nil {
		ref.jsonErr = fmt.Errorf("httpapi: openapi.json: %w", err)
	} else {
		ref.json = newStaticFile(doc, "application/json", "")
	}
	return ref
})

// openAPIJSON serves api/openapi.yaml as JSON; INTERNAL if it could not be
// converted (a build defect the api package's tests catch).
func (ref *reference) openAPIJSON(w http.ResponseWriter, r *http.Request) error {
	if ref.jsonErr != nil {
		return ref.jsonErr
	}
	ref.json.ServeHTTP(w, r)
	return nil
}

// staticFile is a response whose body never changes while the process runs,
// with a strong ETag of its content.
type staticFile struct {
	body        []byte
	contentType string
	etag        string
	csp         string // Content-Security-Policy; empty for none
}

func newStaticFile(body []byte, contentType, csp string) *staticFile {
	sum := sha256.Sum256(body)
	return &staticFile{body: body, contentType: contentType, csp: csp,
		etag: `"` + hex.EncodeToString(sum[:16]) + `"`}
}

// ServeHTTP answers 200 with the body, or 304 Not Modified without one when
// If-None-Match names the ETag. Caches may keep the response but must
// revalidate it (Cache-Control: no-cache): a deploy changes the spec.
func (f *staticFile) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("ETag", f.etag)
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Content-Type-Options", "nosniff")
	if f.csp != "" {
		h.Set("Content-Security-Policy", f.csp)
	}
	if etagMatches(r.Header.Values("If-None-Match"), f.etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	h.Set("Content-Type", f.contentType)
	h.Set("Content-Length", strconv.Itoa(len(f.body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(f.body)
}

// etagMatches applies If-None-Match's weak comparison (RFC 9110, 13.1.2):
// "*" or any listed tag equal to etag, ignoring a W/ prefix.
func etagMatches(ifNoneMatch []string, etag string) bool {
	for _, v := range ifNoneMatch {
		for _, tag := range strings.Split(v, ",") {
			tag = strings.TrimSpace(tag)
			if tag == "*" || strings.TrimPrefix(tag, "W/") == etag {
				return true
			}
		}
	}
	return false
}
