package api

import (
	"bytes"
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"go.yaml.in/yaml/v4"
)

// TestJSONIsTheSpec holds GET /openapi.json to api/openapi.yaml: the same
// values, a valid OpenAPI document, the same bytes on every call.
func TestJSONIsTheSpec(t *testing.T) {
	got, err := JSON()
	if err != nil {
		t.Fatalf("JSON: %v", err)
	}
	var fromJSON, fromYAML any
	if err := json.Unmarshal(got, &fromJSON); err != nil {
		t.Fatalf("JSON() is not JSON: %v", err)
	}
	if err := yaml.Unmarshal(Spec, &fromYAML); err != nil {
		t.Fatalf("yaml: %v", err)
	}
	// Through encoding/json once, so that both sides use JSON's types.
	b, err := json.Marshal(fromYAML)
	if err != nil {
		t.Fatalf("marshal the YAML value: %v", err)
	}
	var want any
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(fromJSON, want) {
		t.Fatal("JSON() does not hold the values of api/openapi.yaml")
	}

	doc, err := openapi3.NewLoader().LoadFromData(got)
	if err != nil {
		t.Fatalf("load JSON(): %v", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		t.Fatalf("JSON() is not a valid OpenAPI document: %v", err)
	}

	again, err := yamlToJSON(Spec)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, again) {
		t.Fatal("converting api/openapi.yaml twice gave different bytes")
	}
	if second, _ := JSON(); &second[0] != &got[0] {
		t.Fatal("JSON() converted the spec again instead of returning the first result")
	}
}

// TestJSONKeepsTheOrder checks that paths (and so the reference's order)
// come out in the order api/openapi.yaml lists them, not sorted.
func TestJSONKeepsTheOrder(t *testing.T) {
	var root yaml.Node
	if err := yaml.Unmarshal(Spec, &root); err != nil {
		t.Fatal(err)
	}
	var want []string
	top := root.Content[0]
	for i := 0; i < len(top.Content); i += 2 {
		if top.Content[i].Value == "paths" {
			paths := top.Content[i+1]
			for j := 0; j < len(paths.Content); j += 2 {
				want = append(want, paths.Content[j].Value)
			}
		}
	}
	got, err := JSON()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(doc.Paths))
	var order []string
	if _, err := dec.Token(); err != nil { // {
		t.Fatal(err)
	}
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			t.Fatal(err)
		}
		order = append(order, key.(string))
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			t.Fatal(err)
		}
	}
	if len(want) < 5 || !reflect.DeepEqual(order, want) {
		t.Fatalf("paths in JSON: %v\nin YAML: %v", order, want)
	}
}

func TestYAMLToJSON(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"scalars", "s: text\nq: '200'\ni: 200\nf: 1.5\nb: true\nn: null\nt: 2026-03-27T10:30:00Z\n",
			`{"s":"text","q":"200","i":200,"f":1.5,"b":true,"n":null,"t":"2026-03-27T10:30:00Z"}`},
		{"order kept", "z: 1\na: 2\nm: [3, {y: 4, b: 5}]\n", `{"z":1,"a":2,"m":[3,{"y":4,"b":5}]}`},
		{"integer keys are strings", "'201': a\n200: b\n", `{"201":"a","200":"b"}`},
		{"aliases", "a: &x {k: v}\nb: *x\n", `{"a":{"k":"v"},"b":{"k":"v"}}`},
		{"strings are escaped", "s: \"quote \\\" and \\n newline\"\n", `{"s":"quote \" and \n newline"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := yamlToJSON([]byte(tc.in))
			if err != nil {
				t.Fatalf("yamlToJSON: %v", err)
			}
			if string(got) != tc.want {
				t.Fatalf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestYAMLToJSONRefuses(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"duplicate key", "a: 1\na: 2\n", "duplicate key"},
		{"mapping as key", "? {a: 1}\n: 2\n", "not a scalar"},
		{"merge key", "base: &b {x: 1}\nc:\n  <<: *b\n", "merge keys"},
		{"NaN", "n: .nan\n", "no JSON form"},
		{"infinity", "n: -.inf\n", "no JSON form"},
		{"custom tag", "n: !thing x\n", "unsupported tag"},
		{"two documents", "a: 1\n---\nb: 2\n", "single YAML document"},
		{"empty", "", "single YAML document"},
		{"not YAML", "a: [1\n", "openapi.yaml to JSON"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := yamlToJSON([]byte(tc.in))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("yamlToJSON(%q) = %s, %v; want an error containing %q", tc.in, got, err, tc.want)
			}
		})
	}
}
