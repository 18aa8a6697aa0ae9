package store

import (
	"context"
	"errors"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/praxiom/praxiom-api/internal/apperr"
)

// IdempotencyRetention is how long an answer is kept for replay.
const IdempotencyRetention = 24 * time.Hour

// IdempotentRequest identifies a POST sent with an Idempotency-Key: the
// caller ("user:<id>" or "key:<id>"), the key, and the request's
// fingerprint (method, path and the SHA-256 of its raw body).
type IdempotentRequest struct {
	Principal, Key, Method, Path string
	BodySHA256                   [32]byte
	// claim is set by BeginIdempotent when it claims the key.
	claim uuid.UUID
}

// IdempotencyOutcome says what BeginIdempotent found.
type IdempotencyOutcome int

// Outcomes of BeginIdempotent.
const (
	// IdempotencyClaimed: the request is the first (or the key expired, or
	// its first request was abandoned): run it, then Complete or Release.
	IdempotencyClaimed IdempotencyOutcome = iota
	// IdempotencyReplay: the first request's answer is in StoredAnswer.
	IdempotencyReplay
	// IdempotencyInFlight: the first request is still running.
	IdempotencyInFlight
	// IdempotencyMismatch: the key was used with another method, path or
	// body.
	IdempotencyMismatch
)

// StoredAnswer is a kept answer.
type StoredAnswer struct {
	Status      int
	ContentType string
	Body        []byte
}

// BeginIdempotent claims req's key for a request that may run for lease, or
// says why it may not: the first request's answer to replay, a request
// still running, or a fingerprint that differs. A key older than 24 hours,
// or claimed by a request whose lease passed (its instance died) before its
// change committed, is claimed afresh. Concurrent callers of one key, on any instance, get one
// claim. Returns SERVICE_UNAVAILABLE.
func (s *Store) BeginIdempotent(ctx context.Context, req *IdempotentRequest, lease time.Duration) (IdempotencyOutcome, StoredAnswer, error) {
	for attempt := 0; ; attempt++ {
		outcome, a, err := s.beginIdempotent(ctx, req, lease)
		if !errors.Is(err, errReleasedMeanwhile) {
			return outcome, a, err
		}
		if attempt == 2 {
			return IdempotencyInFlight, StoredAnswer{}, nil
		}
	}
}

// errReleasedMeanwhile: the row that refused the claim was gone when read.
var errReleasedMeanwhile = errors.New("store: idempotency key released meanwhile")

func (s *Store) beginIdempotent(ctx context.Context, req *IdempotentRequest, lease time.Duration) (IdempotencyOutcome, StoredAnswer, error) {
	req.claim = uuid.New()
	var claimed bool
	err := s.pool.QueryRow(ctx, `INSERT INTO idempotency_keys AS k
			(principal, key, method, path, body_sha256, locked_until, claim)
		VALUES ($1, $2, $3, $4, $5, now() + $6::interval, $8)
		ON CONFLICT (principal, key) DO UPDATE SET
			method = excluded.method, path = excluded.path, body_sha256 = excluded.body_sha256,
			status = NULL, content_type = NULL, body = NULL, committed = false,
			locked_until = excluded.locked_until, claim = excluded.claim, created_at = now()
		WHERE k.created_at < now() - $7::interval
		   OR (k.status IS NULL AND k.locked_until < now() AND NOT k.committed)
		RETURNING true`, req.Principal, req.Key, req.Method, req.Path, req.BodySHA256[:],
		lease.String(), IdempotencyRetention.String(), req.claim).Scan(&claimed)
	if err == nil {
		return IdempotencyClaimed, StoredAnswer{}, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return 0, StoredAnswer{}, dbErr("idempotency: claim", err)
	}
	// A live row of another request: compare and answer.
	var (
		method, path string
		hash         []byte
		status       *int
		ct           *string
		a            StoredAnswer
	)
	err = s.pool.QueryRow(ctx, `SELECT method, path, body_sha256, status, content_type, body
		FROM idempotency_keys WHERE principal = $1 AND key = $2`, req.Principal, req.Key).
		Scan(&method, &path, &hash, &status, &ct, &a.Body)
	if errors.Is(err, pgx.ErrNoRows) {
		return 0, StoredAnswer{}, errReleasedMeanwhile // try the claim again
	}
	if err != nil {
		return 0, StoredAnswer{}, dbErr("idempotency: read", err)
	}
	switch {
	case method != req.Method || path != req.Path || string(hash) != string(req.BodySHA256[:]):
		return IdempotencyMismatch, StoredAnswer{}, nil
	case status == nil:
		return IdempotencyInFlight, StoredAnswer{}, nil
	}
	a.Status = *status
	if ct != nil {
		a.ContentType = *ct
	}
	return IdempotencyReplay, a, nil
}

// CompleteIdempotent keeps the answer of the request that claimed req's
// key with BeginIdempotent (a claim taken over meanwhile is left alone).
// Returns SERVICE_UNAVAILABLE.
func (s *Store) CompleteIdempotent(ctx context.Context, req *IdempotentRequest, a StoredAnswer) error {
	_, err := s.pool.Exec(ctx, `UPDATE idempotency_keys SET status = $4, content_type = $5, body = $6, locked_until = NULL
		WHERE principal = $1 AND key = $2 AND claim = $3`, req.Principal, req.Key, req.claim, a.Status, a.ContentType, a.Body)
	return dbErr("idempotency: complete", err)
}

// ReleaseIdempotent forgets the claim of req's key (the answer is not kept:
// the client may retry with the same key), unless a change made under the
// claim has committed: then the claim stays, and retries get 409 until the
// key expires, since running the request again would make the change twice.
// Returns SERVICE_UNAVAILABLE.
func (s *Store) ReleaseIdempotent(ctx context.Context, req *IdempotentRequest) error {
	_, err := s.pool.Exec(ctx, `DELETE FROM idempotency_keys
		WHERE principal = $1 AND key = $2 AND claim = $3 AND NOT committed`,
		req.Principal, req.Key, req.claim)
	return dbErr("idempotency: release", err)
}

type idempotentKey struct{}

// WithIdempotentRequest returns ctx carrying req, claimed with
// BeginIdempotent: every change made with that context marks the claim
// committed in the change's own transaction, and is refused with
// IDEMPOTENCY_KEY_IN_USE when another request has taken the claim over.
func WithIdempotentRequest(ctx context.Context, req *IdempotentRequest) context.Context {
	return context.WithValue(ctx, idempotentKey{}, req)
}

var errClaimTakenOver = &apperr.Error{Code: apperr.IdempotencyKeyInUse, RetryAfter: time.Second,
	Message: "Another request with this Idempotency-Key has taken it over; retry in a moment."}

// markCommitted marks the claim ctx carries, if any, as made good by tx.
func markCommitted(ctx context.Context, tx pgx.Tx) error {
	req, _ := ctx.Value(idempotentKey{}).(*IdempotentRequest)
	if req == nil || req.claim == uuid.Nil {
		return nil
	}
	tag, err := tx.Exec(ctx, `UPDATE idempotency_keys SET committed = true
		WHERE principal = $1 AND key = $2 AND claim = $3 AND status IS NULL`, req.Principal, req.Key, req.claim)
	if err != nil {
		return dbErr("idempotency: mark committed", err)
	}
	if tag.RowsAffected() == 0 {
		return errClaimTakenOver
	}
	return nil
}

// PruneIdempotencyKeys deletes the keys older than their retention, in
// batches, and returns how many it deleted. Returns SERVICE_UNAVAILABLE.
func (s *Store) PruneIdempotencyKeys(ctx context.Context) (int64, error) {
	return s.deleteInBatches(ctx, "prune idempotency keys", `DELETE FROM idempotency_keys WHERE (principal, key) IN (
		SELECT principal, key FROM idempotency_keys WHERE created_at < now() - $1::interval LIMIT $2)`,
		IdempotencyRetention)
}
