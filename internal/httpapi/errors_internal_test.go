package httpapi

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/uuid"

	"github.com/praxiom/praxiom-api/internal/apperr"
)

// TestWriteErrorFallsBackToInternal covers writeError's two refusals of
// its own: an error that is not an *apperr.Error (such as a store error
// wrapping context.Canceled) and an *apperr.Error whose code has no status
// are answered 500 INTERNAL without their message or cause.
func TestWriteErrorFallsBackToInternal(t *testing.T) {
	for name, err := range map[string]error{
		"plain error":  errors.New("secret cause"),
		"unknown code": &apperr.Error{Code: "NO_SUCH_CODE", Message: "secret message", Err: errors.New("secret cause")},
	} {
		t.Run(name, func(t *testing.T) {
			w := httptest.NewRecorder()
			writeError(w, httptest.NewRequest(http.MethodGet, "/api/x", nil), err)
			if w.Code != http.StatusInternalServerError {
				t.Fatalf("status = %d, want 500; body %s", w.Code, w.Body)
			}
			var body struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatal(err)
			}
			if body.Error.Code != "INTERNAL" || body.Error.Message != "Internal server error." {
				t.Fatalf("error = %+v, want INTERNAL / Internal server error.", body.Error)
			}
			if strings.Contains(w.Body.String(), "secret") {
				t.Fatalf("body leaks the cause: %s", w.Body)
			}
		})
	}
}

// A 401 raised after authentication (the user deleted mid-request) still
// carries the RFC 6750 challenge.
func TestWriteErrorAdds401Challenge(t *testing.T) {
	for auth, want := range map[string]string{
		"Bearer abc.def.ghi": `Bearer error="invalid_token"`,
		"":                   `Bearer`,
	} {
		r := httptest.NewRequest(http.MethodPost, "/api/x", nil)
		if auth != "" {
			r.Header.Set("Authorization", auth)
		}
		w := httptest.NewRecorder()
		writeError(w, r, apperr.New(apperr.Unauthorized, "gone"))
		if w.Code != http.StatusUnauthorized || w.Header().Get("WWW-Authenticate") != want {
			t.Fatalf("auth %q: %d %q, want 401 %q", auth, w.Code, w.Header().Get("WWW-Authenticate"), want)
		}
	}
}

func TestNewRequestIDIsAUUID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id := newRequestID()
		u, err := uuid.Parse(id)
		if err != nil || u.String() != id || u.Version() != 4 || u.Variant() != uuid.RFC4122 || seen[id] {
			t.Fatalf("newRequestID() = %q: %v (version %d, variant %v, repeated %v)", id, err, u.Version(), u.Variant(), seen[id])
		}
		seen[id] = true
	}
}

// BenchmarkNewRequestID is the id a request without a valid X-Request-ID
// gets: on every goroutine at once, as the server makes them.
func BenchmarkNewRequestID(b *testing.B) {
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if len(newRequestID()) != 36 {
				b.Fatal("not a UUID")
			}
		}
	})
}
