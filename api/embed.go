// Package api holds the API's description, api/openapi.yaml, an OpenAPI
// 3.0.3 document.
package api

import _ "embed"

// Spec is api/openapi.yaml: the OpenAPI description of the API that the
// server's tests hold every response to (see internal/openapicheck).
//
//go:embed openapi.yaml
var Spec []byte
