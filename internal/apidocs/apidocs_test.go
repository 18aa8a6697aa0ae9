package apidocs

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// TestVendoredFilesMatchSHA256SUMS checks, offline, that the vendored Redoc
// files (and the embedded bundle) are the ones redoc/SHA256SUMS pins; the
// network check against the npm package is scripts/check-docs-bundle.sh.
func TestVendoredFilesMatchSHA256SUMS(t *testing.T) {
	sums, err := os.ReadFile(filepath.Join("redoc", "SHA256SUMS"))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, line := range strings.Split(strings.TrimSpace(string(sums)), "\n") {
		want, name, ok := strings.Cut(line, "  ")
		if !ok {
			t.Fatalf("SHA256SUMS: malformed line %q", line)
		}
		names = append(names, name)
		data, err := os.ReadFile(filepath.Join("redoc", name))
		if err != nil {
			t.Fatal(err)
		}
		if got := sha256Hex(data); got != want {
			t.Errorf("redoc/%s: sha256 %s, SHA256SUMS pins %s (run scripts/check-docs-bundle.sh)", name, got, want)
		}
		if name == "redoc.standalone.js" && !bytes.Equal(data, Bundle) {
			t.Error("the embedded Bundle differs from redoc/redoc.standalone.js")
		}
	}
	slices.Sort(names)
	if want := []string{"LICENSE", "redoc.standalone.js", "redoc.standalone.js.LICENSE.txt"}; !slices.Equal(names, want) {
		t.Errorf("SHA256SUMS lists %v, want %v", names, want)
	}
}

func TestBundleVersion(t *testing.T) {
	v := BundleVersion()
	if !regexp.MustCompile(`^\d+\.\d+\.\d+$`).MatchString(v) {
		t.Fatalf("redoc/VERSION is %q, want a version such as 2.5.4", v)
	}
	notices, err := os.ReadFile(filepath.Join("redoc", "redoc.standalone.js.LICENSE.txt"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(notices, []byte(`Version: "`+v+`"`)) || !bytes.Contains(Bundle, []byte(`"`+v+`"`)) {
		t.Errorf("the vendored bundle is not Redoc %s (redoc/VERSION)", v)
	}
	if !bytes.Contains(Bundle, []byte("Redoc")) || len(Bundle) < 100_000 {
		t.Errorf("Bundle (%d bytes) does not look like Redoc's standalone bundle", len(Bundle))
	}
}

// TestPageLoadsOnlyItsOwnFiles checks that the page names only relative URLs
// (or data:), and the two scripts served beside it.
func TestPageLoadsOnlyItsOwnFiles(t *testing.T) {
	var scripts []string
	for _, m := range regexp.MustCompile(`<(\w+)[^>]*\s(src|href)="([^"]*)"`).FindAllStringSubmatch(string(Page), -1) {
		tag, url := m[1], m[3]
		if strings.Contains(url, "//") || (strings.Contains(url, ":") && !strings.HasPrefix(url, "data:")) || strings.HasPrefix(url, "/") {
			t.Errorf("page.html: <%s> names %q, not a URL relative to the page", tag, url)
		}
		if tag == "script" {
			scripts = append(scripts, url)
		}
	}
	if want := []string{"docs/redoc.standalone.js", "docs/reference.js"}; !slices.Equal(scripts, want) {
		t.Errorf("page.html loads scripts %v, want %v (the routes in internal/httpapi/routes.go)", scripts, want)
	}
	for _, s := range [][]byte{Page, Script} {
		if regexp.MustCompile(`(?i)https?:`).Match(s) {
			t.Errorf("an embedded page file names another origin:\n%s", s)
		}
	}
}

// TestContentSecurityPolicy checks the policy allows nothing from another
// origin and no eval, and keeps each exception to the directive that needs it.
func TestContentSecurityPolicy(t *testing.T) {
	allowed := map[string][]string{
		"default-src":     {"'none'"},
		"script-src":      {"'self'"},
		"connect-src":     {"'self'"},
		"img-src":         {"'self'", "data:"},
		"style-src":       {"'self'", "'unsafe-inline'"},
		"worker-src":      {"blob:"},
		"base-uri":        {"'none'"},
		"form-action":     {"'none'"},
		"frame-ancestors": {"'none'"},
	}
	seen := map[string]bool{}
	for _, d := range strings.Split(ContentSecurityPolicy, ";") {
		fields := strings.Fields(d)
		if len(fields) == 0 {
			continue
		}
		name, sources := fields[0], fields[1:]
		want, ok := allowed[name]
		if !ok {
			t.Errorf("unexpected directive %q", d)
			continue
		}
		seen[name] = true
		if !slices.Equal(sources, want) {
			t.Errorf("%s %v, want %v", name, sources, want)
		}
	}
	if len(seen) != len(allowed) {
		t.Errorf("the policy has directives %v, want all of %v", seen, allowed)
	}
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}
