package httpapi

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"time"

	"github.com/praxiom/praxiom-api/internal/apperr"
	"github.com/praxiom/praxiom-api/internal/store"
)

// idempotencyLease is how long a request holding an Idempotency-Key may
// run before another may take the key over (its instance is taken for
// dead). It is well beyond HTTP_WRITE_TIMEOUT and the statement timeout.
const idempotencyLease = 2 * time.Minute

var (
	errIdemKey = apperr.New(apperr.BadRequest,
		"Idempotency-Key must be given once, 1..255 printable ASCII characters.")
	errIdemInUse = &apperr.Error{Code: apperr.IdempotencyKeyInUse, RetryAfter: time.Second,
		Message: "A request with this Idempotency-Key is still running; retry in a moment."}
	errIdemReused = apperr.New(apperr.IdempotencyKeyReused,
		"This Idempotency-Key was used with another method, path or body.")
)

// validIdempotencyKey reports whether k is 1..255 printable ASCII
// characters (space to tilde).
func validIdempotencyKey(k string) bool {
	if len(k) == 0 || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if k[i] < 0x20 || k[i] > 0x7e {
			return false
		}
	}
	return true
}

// idempotent makes a POST with an Idempotency-Key happen at most once per
// caller and key (api/openapi.yaml, "Idempotent POSTs"), across instances:
// the first request's answer is kept 24 hours and replayed, with
// Idempotent-Replayed: true, to the same key with the same method, path
// and body; the key with another request is 422 IDEMPOTENCY_KEY_REUSED, and
// while the first request runs 409 IDEMPOTENCY_KEY_IN_USE with Retry-After:
// 1. Answers of 5xx, 429 and a client gone away are not kept: the client may
// retry with the same key. It sits right before the handler in routes.go,
// so requests the auth chain refuses (401, 403, 429) are never recorded.
// Without the header it does nothing.
func (s *Server) idempotent(next http.Handler) http.Handler {
	return h(func(w http.ResponseWriter, r *http.Request) error {
		keys := r.Header.Values("Idempotency-Key")
		if len(keys) == 0 {
			next.ServeHTTP(w, r)
			return nil
		}
		if len(keys) > 1 || !validIdempotencyKey(keys[0]) {
			return errIdemKey
		}
		body, err := readBody(w, r, maxBody)
		if err != nil {
			// The body's checks keep their order (415 before 413), as
			// decode has them.
			if apperr.CodeOf(err) == apperr.PayloadTooLarge && !jsonMediaType(r) {
				return errMediaType
			}
			return err
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		st := state(r)
		req := &store.IdempotentRequest{Principal: principalKey(st), Key: keys[0], Method: r.Method,
			Path: r.URL.Path, BodySHA256: sha256.Sum256(body)}
		outcome, answer, err := s.store.BeginIdempotent(r.Context(), req, idempotencyLease)
		if err != nil {
			return err
		}
		switch outcome {
		case store.IdempotencyReplay:
			w.Header().Set("Idempotent-Replayed", "true")
			if answer.ContentType != "" {
				w.Header().Set("Content-Type", answer.ContentType)
			}
			w.WriteHeader(answer.Status)
			_, _ = w.Write(answer.Body)
			return nil
		case store.IdempotencyMismatch:
			return errIdemReused
		case store.IdempotencyInFlight:
			return errIdemInUse
		}
		rec := &recorder{ResponseWriter: w}
		// The claim is settled whatever happens, also when the client went
		// away or the handler panicked (the panic goes on to recoverPanics).
		settled := false
		defer func() {
			if settled {
				return
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
			defer cancel()
			if err := s.store.ReleaseIdempotent(ctx, req); err != nil {
				logger(r).Warn("idempotency: release", "error", err.Error())
			}
		}()
		// The store marks the claim committed in the transaction of any
		// change the handler makes: from then on it is never released nor
		// taken over, so the change is never made twice.
		next.ServeHTTP(rec, r.WithContext(store.WithIdempotentRequest(r.Context(), req)))
		if keep(rec.status) {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), 5*time.Second)
			defer cancel()
			err := s.store.CompleteIdempotent(ctx, req, store.StoredAnswer{Status: rec.status,
				ContentType: rec.Header().Get("Content-Type"), Body: rec.body.Bytes()})
			if err != nil {
				// The answer is already sent. If the handler changed
				// anything, the claim stays committed and retries get 409
				// until the key expires; otherwise it is released below.
				logger(r).Warn("idempotency: keep the answer", "error", err.Error())
			}
			settled = err == nil
		}
		return nil
	})
}

// keep reports whether an answer of status is kept for replay.
func keep(status int) bool {
	return status != 0 && status < 500 && status != http.StatusTooManyRequests && status != statusClientClosed
}

// principalKey names the caller under whom Idempotency-Keys are kept and
// requests are counted by the rate limits: "key:" or "user:" and the id
// (one allocation: the string).
func principalKey(st *reqState) string {
	var b [len("user:") + 36]byte
	if st.key != nil {
		return string(appendUUIDText(append(b[:0], "key:"...), st.key.ID))
	}
	return string(appendUUIDText(append(b[:0], "user:"...), st.caller.ID))
}

// recorder passes an answer through and keeps a copy of it.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(status int) {
	if r.status == 0 {
		r.status = status
	}
	r.ResponseWriter.WriteHeader(status)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}
