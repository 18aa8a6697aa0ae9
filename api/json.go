package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"sync"

	"go.yaml.in/yaml/v4"
)

// JSON returns Spec as JSON (what GET /openapi.json serves): the same
// document, with every mapping's keys in the order api/openapi.yaml gives
// them, so that the reference renders paths, properties and responses in the
// order the spec was written. It is converted once; every call returns the
// same bytes, which callers must not modify. The error is only possible for a
// document this package cannot embed after its tests pass.
func JSON() ([]byte, error) { return jsonOnce() }

var jsonOnce = sync.OnceValues(func() ([]byte, error) { return yamlToJSON(Spec) })

// yamlToJSON converts one YAML document to compact JSON, keeping the order
// of mapping keys. It refuses what JSON cannot say: non-scalar or duplicate
// keys, merge keys, NaN and infinities, and tags other than YAML's core ones.
func yamlToJSON(doc []byte) ([]byte, error) {
	dec := yaml.NewDecoder(bytes.NewReader(doc))
	var root, extra yaml.Node
	if err := dec.Decode(&root); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("api: openapi.yaml to JSON: %w", err)
	}
	if root.Kind != yaml.DocumentNode || len(root.Content) != 1 || !errors.Is(dec.Decode(&extra), io.EOF) {
		return nil, errors.New("api: openapi.yaml to JSON: not a single YAML document")
	}
	var buf bytes.Buffer
	if err := writeJSON(&buf, root.Content[0], 0); err != nil {
		return nil, fmt.Errorf("api: openapi.yaml to JSON: %w", err)
	}
	return buf.Bytes(), nil
}

// maxDepth bounds the nesting (and alias chains) writeJSON follows.
const maxDepth = 200

func writeJSON(buf *bytes.Buffer, n *yaml.Node, depth int) error {
	if depth > maxDepth {
		return fmt.Errorf("line %d: nested deeper than %d levels", n.Line, maxDepth)
	}
	switch n.Kind {
	case yaml.AliasNode:
		return writeJSON(buf, n.Alias, depth+1)
	case yaml.MappingNode:
		buf.WriteByte('{')
		seen := make(map[string]bool, len(n.Content)/2)
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := n.Content[i]
			for k.Kind == yaml.AliasNode {
				k = k.Alias
			}
			if k.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: a mapping key that is not a scalar", k.Line)
			}
			if k.ShortTag() == "!!merge" {
				return fmt.Errorf("line %d: merge keys (<<) are not supported", k.Line)
			}
			if seen[k.Value] {
				return fmt.Errorf("line %d: duplicate key %q", k.Line, k.Value)
			}
			seen[k.Value] = true
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeString(buf, k.Value); err != nil {
				return err
			}
			buf.WriteByte(':')
			if err := writeJSON(buf, n.Content[i+1], depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte('}')
		return nil
	case yaml.SequenceNode:
		buf.WriteByte('[')
		for i, item := range n.Content {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := writeJSON(buf, item, depth+1); err != nil {
				return err
			}
		}
		buf.WriteByte(']')
		return nil
	case yaml.ScalarNode:
		return writeScalar(buf, n)
	default:
		return fmt.Errorf("line %d: unexpected YAML node kind %d", n.Line, n.Kind)
	}
}

func writeScalar(buf *bytes.Buffer, n *yaml.Node) error {
	switch tag := n.ShortTag(); tag {
	case "!!str", "!!timestamp", "!!binary":
		// A timestamp stays the text it was written as; JSON has no dates.
		return writeString(buf, n.Value)
	case "!!null":
		buf.WriteString("null")
		return nil
	case "!!bool", "!!int", "!!float":
		var v any
		if err := n.Decode(&v); err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		if f, ok := v.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return fmt.Errorf("line %d: %s has no JSON form", n.Line, n.Value)
		}
		b, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("line %d: %w", n.Line, err)
		}
		buf.Write(b)
		return nil
	default:
		return fmt.Errorf("line %d: unsupported tag %s", n.Line, tag)
	}
}

func writeString(buf *bytes.Buffer, s string) error {
	b, err := json.Marshal(s)
	if err != nil {
		return err
	}
	buf.Write(b)
	return nil
}
