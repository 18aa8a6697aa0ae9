// Package apidocs holds the interactive API reference served at GET /docs:
// the page, its start-up script and a pinned Redoc bundle, embedded in the
// binary so that the page loads nothing from any other origin.
//
// The files under redoc/ are copied unchanged from the npm package redoc at
// the version in redoc/VERSION, with its licenses; redoc/SHA256SUMS records
// their hashes. scripts/check-docs-bundle.sh (`make docs-bundle-check`, run by
// `make lint`) re-fetches that version and verifies the files byte for byte;
// `scripts/check-docs-bundle.sh update VERSION` vendors another one (see the
// README, "API reference").
package apidocs

import (
	_ "embed"
	"strings"
)

// Page is the HTML of GET /docs. It loads Bundle from docs/redoc.standalone.js
// and Script from docs/reference.js, relative to itself.
//
//go:embed page.html
var Page []byte

// Script is GET /docs/reference.js: it starts Redoc on openapi.json.
//
//go:embed reference.js
var Script []byte

// Bundle is GET /docs/redoc.standalone.js: Redoc's standalone bundle.
//
//go:embed redoc/redoc.standalone.js
var Bundle []byte

//go:embed redoc/VERSION
var version string

// BundleVersion returns the version of the npm package redoc that Bundle is.
func BundleVersion() string { return strings.TrimSpace(version) }

// ContentSecurityPolicy is the policy Page is served with: scripts, the
// document fetch and images from the page's own origin only, plus what the
// bundle strictly needs, each shown necessary by a headless-browser run:
// inline styles (Redoc's styled-components inject <style> elements), data:
// images (its inline SVG icons, and the page's empty favicon) and blob:
// workers (its search index runs in a worker built from a Blob). No eval, no
// fonts, no frames, no forms, no <base>, and the page cannot be framed.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; connect-src 'self'; " +
	"img-src 'self' data:; style-src 'self' 'unsafe-inline'; worker-src blob:; " +
	"base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
