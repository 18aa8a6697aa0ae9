package api_test

import (
	"bytes"
	"context"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"

	"github.com/praxiom/praxiom-api/api"
)

func TestSpecIsEmbeddedAndValid(t *testing.T) {
	if !bytes.HasPrefix(api.Spec, []byte("openapi: 3.0.3\n")) {
		t.Fatalf("api.Spec does not start with the OpenAPI 3.0.3 header: %.40q", api.Spec)
	}
	doc, err := openapi3.NewLoader().LoadFromData(api.Spec)
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("validate: %v", err)
	}
}
