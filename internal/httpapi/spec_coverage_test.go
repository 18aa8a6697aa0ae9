package httpapi_test

import (
	"flag"
	"fmt"
	"os"
	"testing"

	"github.com/praxiom/praxiom-api/internal/apitest"
)

// TestMain runs the package's tests, every response of which apitest
// validates against api/openapi.yaml, and then, on a full run, fails when an
// operation of the spec was never exercised.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 && flag.Lookup("test.run").Value.String() == "" && apitest.SpecUsed() {
		if missing := apitest.Spec(nil).Uncovered(); len(missing) > 0 {
			fmt.Fprintf(os.Stderr, "api/openapi.yaml operations no test exercised: %v\n", missing)
			code = 1
		}
	}
	os.Exit(code)
}
