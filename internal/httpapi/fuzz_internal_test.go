package httpapi

// Fuzz target for the JSON request-body decoder. Its committed seed corpus
// lives in testdata/fuzz/FuzzDecodeBytes/ and runs as an ordinary test
// under `make test`; `make fuzz` mutates it for a bounded time.

import (
	"encoding/json"
	"testing"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/jsontext"
	"github.com/praxiom/praxiom-api/internal/store"
)

// fuzzBody has the shapes of the API's request bodies: plain and nullable
// strings (workspace create), booleans and numbers, absent-vs-null fields
// (optional, as in the PATCH bodies), raw JSON (access codes), a list and
// nested optional objects.
type fuzzBody struct {
	Name         string                          `json:"name"`
	ProductName  *string                         `json:"product_name"`
	CurrentStage store.Optional[string]          `json:"current_stage"`
	Enabled      bool                            `json:"overnight_research_enabled"`
	Digest       store.Optional[bool]            `json:"morning_digest_enabled"`
	Limit        int                             `json:"limit"`
	Count        store.Optional[json.RawMessage] `json:"count"`
	Metadata     json.RawMessage                 `json:"metadata"`
	Tags         []string                        `json:"tags"`
	Nested       *fuzzNested                     `json:"nested"`
}

type fuzzNested struct {
	Description *string               `json:"description"`
	Max         store.Optional[int]   `json:"max"`
	Deep        *fuzzDeep             `json:"deep"`
	Items       []fuzzDeep            `json:"items"`
	Extra       store.Optional[uint8] `json:"extra"`
}

type fuzzDeep struct {
	OK    bool    `json:"ok"`
	Ratio float64 `json:"ratio"`
}

func FuzzDecodeBytes(f *testing.F) {
	for _, s := range []string{
		`{"name":"Acme","product_name":"Rocket","current_stage":null}`,
		`{"name":"Acme","product_name":null,"overnight_research_enabled":true,"morning_digest_enabled":false}`,
		`{"limit":50,"count":3,"metadata":{"a":[1,2]},"tags":["x","y"]}`,
		`{"nested":{"description":"d","max":null,"deep":{"ok":true,"ratio":0.5},"items":[{"ok":false}],"extra":255}}`,
		`{"nested":null}`, `{"nested":{"max":"ten"}}`, `{"nested":{"extra":256}}`, `{"nested":{"deep":[]}}`,
		`{"nested":{"items":[{"ratio":"x"}]}}`, `{"nested":{"unknown":1}}`,
		`{"name":1}`, `{"name":null}`, `{"product_name":false}`, `{"current_stage":7}`,
		`{"morning_digest_enabled":"yes"}`, `{"limit":1.5}`, `{"limit":1e400}`, `{"tags":"x"}`,
		`{"role":"owner"}`, `{"name":"a","name":"b"}`, `{"NAME":"Acme"}`,
		`{"name":"a"} {"name":"b"}`, `{"name":"a"}]`, `{"name":"a"`, `{"name":"\ud800"}`,
		"{\"name\":\"\xff\"}", "\ufeff{}", `{}`, `[]`, `null`, `"x"`, `1`, `true`,
		``, `   `, `{`, `}`, `{"a"}`, `{,}`, "{\"name\":\"a\"}\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var dst fuzzBody
		err := decodeBytes(body, &dst)
		if err == nil {
			if !json.Valid(body) {
				t.Fatalf("decodeBytes(%q) accepted a body that is not valid JSON", body)
			}
			if p := jsontext.Check(body); p != "" {
				t.Fatalf("decodeBytes(%q) accepted a body PostgreSQL cannot store: %s", body, p)
			}
			return
		}
		e, ok := err.(*apperr.Error)
		if !ok {
			t.Fatalf("decodeBytes(%q): error %v (%T) is not an *apperr.Error", body, err, err)
		}
		switch e.Code {
		case apperr.BadRequest:
		case apperr.ValidationError:
			if len(e.Fields) == 0 {
				t.Fatalf("decodeBytes(%q): VALIDATION_ERROR names no field: %v", body, err)
			}
		default:
			t.Fatalf("decodeBytes(%q): code %s, want BAD_REQUEST or VALIDATION_ERROR: %v", body, e.Code, err)
		}
	})
}
