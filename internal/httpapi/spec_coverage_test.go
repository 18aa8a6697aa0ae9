package httpapi_test

import (
	"flag"
	"fmt"
	"os"
	"sort"
	"testing"

	"github.com/praxiom/praxiom-api/internal/apitest"
)

// TestMain runs the package's tests, every response of which apitest
// validates against api/openapi.yaml, and then, on a full run, fails when an
// operation of the spec was never exercised or a documented error status of
// an operation was never seen.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && apitest.SpecUsed() {
		spec := apitest.Spec(nil)
		if missing := spec.Uncovered(); len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "api/openapi.yaml operations no test exercised: %v\n", missing)
			code = 1
		}
		seen := spec.SeenStatuses()
		var notSeen []string
		for op, statuses := range spec.DocumentedStatuses() {
			got := map[int]bool{}
			for _, s := range seen[op] {
				got[s] = true
			}
			for _, s := range statuses {
				if !got[s] && !untestable[s] {
					notSeen = append(notSeen, fmt.Sprintf("%s %d", op, s))
				}
			}
		}
		sort.Strings(notSeen)
		if len(notSeen) > 0 {
			// Reported, not enforced: some statuses (a 500) need a fault to show.
			fmt.Fprintf(os.Stderr, "documented statuses no test produced (%d): %v\n", len(notSeen), notSeen)
		}
	}
	os.Exit(code)
}

// untestable statuses are documented everywhere but need an injected fault.
var untestable = map[int]bool{500: true}
