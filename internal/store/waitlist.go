package store

import (
	"context"
	"errors"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/praxiom/praxiom-api/internal/apperr"
)

// Waitlist statuses.
const (
	WaitlistWaiting  = "waiting"
	WaitlistApproved = "approved"
)

// Limits of the waitlist (api/openapi.yaml, "Waitlist").
const (
	MaxWaitlistName     = 100
	MaxWaitlistSource   = 50
	MaxWaitlistApproval = 500
	// maxReferralCode bounds the codes worth looking up; ours have 8
	// characters.
	maxReferralCode = 64
)

// WaitlistEntry is a row of waitlist_entries with its position as read now.
type WaitlistEntry struct {
	ID     uuid.UUID
	Email  string
	Name   *string
	Source *string
	// ReferredBy is the user whose referral code the entry named.
	ReferredBy *uuid.UUID
	Status     string
	// Position is 1 + the waiting entries that joined earlier; nil once
	// approved.
	Position   *int
	CreatedAt  time.Time
	ApprovedAt *time.Time
}

// waitlistColumns reads an entry (alias w) without its position.
const waitlistColumns = `w.id, w.email, w.name, w.source, w.referred_by, w.status, w.created_at, w.approved_at`

// waitlistPosition is an entry's (alias w) position: null once approved.
const waitlistPosition = `CASE WHEN w.status = 'waiting' THEN 1 + (SELECT count(*) FROM waitlist_entries e
	WHERE e.status = 'waiting' AND e.seq < w.seq) END`

// readWaitlistEntry reads waitlistColumns and a position.
func readWaitlistEntry(r *row) WaitlistEntry {
	e := WaitlistEntry{ID: r.uuid(), Email: r.text(), Name: r.textPtr(), Source: r.textPtr(), ReferredBy: r.uuidPtr(),
		Status: r.text(), CreatedAt: r.time(), ApprovedAt: r.timePtr()}
	if v, _ := r.peek(); v == nil {
		r.i++ // approved: no position
	} else {
		p := r.int()
		e.Position = &p
	}
	return e
}

// queryWaitlistEntry runs sql, which selects one entry's waitlistColumns
// and position, and reads it. Returns pgx.ErrNoRows when there is none.
func queryWaitlistEntry(ctx context.Context, q querier, sql string, args ...any) (WaitlistEntry, error) {
	var e WaitlistEntry
	err := queryRow(ctx, q, sql, args, func(r *row) { e = readWaitlistEntry(r) })
	return e, err
}

// JoinWaitlist is what a person sends to join the waitlist; only Email is
// required ("" means absent for the others).
type JoinWaitlist struct {
	Email        string
	Name         string
	ReferralCode string
	Source       string
}

// problems normalizes j and returns what is wrong with it by field name.
func (j *JoinWaitlist) problems() map[string]string {
	p := map[string]string{}
	j.Email = NormalizeEmail(j.Email)
	switch {
	case j.Email == "":
		p["email"] = "is required"
	case !ValidEmail(j.Email):
		p["email"] = "must be an email address"
	}
	j.Name = strings.TrimSpace(j.Name)
	if utf8.RuneCountInString(j.Name) > MaxWaitlistName {
		p["name"] = "must be at most 100 characters"
	}
	j.Source = strings.TrimSpace(j.Source)
	if utf8.RuneCountInString(j.Source) > MaxWaitlistSource {
		p["source"] = "must be at most 50 characters"
	}
	j.ReferralCode = strings.ToUpper(strings.TrimSpace(j.ReferralCode))
	if len(j.ReferralCode) > maxReferralCode {
		j.ReferralCode = "" // cannot be anyone's: ignored like any unknown code
	}
	return p
}

// JoinWaitlist puts j.Email on the waitlist, or finds it there (emails
// compare case-insensitively), and reports whether it was new. A new entry
// records as its referrer the live user whose referral code (compared
// case-insensitively) j.ReferralCode is, unless that user's own email is
// joining; an unknown code is ignored. An email already on the list changes
// nothing: its entry is answered as it stands. Returns VALIDATION_ERROR
// naming every bad field (email missing or not an address, name over 100
// characters, source over 50), SERVICE_UNAVAILABLE.
func (s *Store) JoinWaitlist(ctx context.Context, j JoinWaitlist) (WaitlistEntry, bool, error) {
	if err := problemsErr(j.problems()); err != nil {
		return WaitlistEntry{}, false, err
	}
	// The entry's position counts only entries that joined before it, so
	// the snapshot of the insert's own statement, which cannot see the new
	// row, reads it right.
	e, err := queryWaitlistEntry(ctx, s.pool, `
		INSERT INTO waitlist_entries AS w (email, name, source, referred_by)
		VALUES ($1, nullif($2, ''), nullif($3, ''),
			(SELECT id FROM users WHERE referral_code = nullif($4, '') AND deleted_at IS NULL AND email <> $1))
		ON CONFLICT (email) DO NOTHING
		RETURNING `+waitlistColumns+`, `+waitlistPosition, j.Email, j.Name, j.Source, j.ReferralCode)
	if err == nil {
		return e, true, nil
	}
	if !errors.Is(err, pgx.ErrNoRows) {
		return WaitlistEntry{}, false, dbErr("join waitlist", err)
	}
	e, err = queryWaitlistEntry(ctx, s.pool, `SELECT `+waitlistColumns+`, `+waitlistPosition+`
		FROM waitlist_entries w WHERE w.email = $1`, j.Email)
	if err != nil {
		return WaitlistEntry{}, false, dbErr("join waitlist: existing", err)
	}
	return e, false, nil
}

// ValidWaitlistStatus reports whether status is waiting or approved.
func ValidWaitlistStatus(status string) bool {
	return status == WaitlistWaiting || status == WaitlistApproved
}

// ListWaitlist returns a page of the entries whose status is status, oldest
// first (in the order they joined), and how many there are in all; waiting
// entries carry their positions. Returns VALIDATION_ERROR for an unknown
// status, SERVICE_UNAVAILABLE.
func (s *Store) ListWaitlist(ctx context.Context, status string, limit, offset int) ([]WaitlistEntry, int, error) {
	if !ValidWaitlistStatus(status) {
		return nil, 0, apperr.Validation(map[string]string{"status": "is unknown"})
	}
	// Every entry of one status is listed in seq order, so a waiting
	// entry's position is its rank among them.
	position := `NULL::bigint`
	if status == WaitlistWaiting {
		position = `row_number() OVER (ORDER BY w.seq)`
	}
	return listPage(ctx, s.pool, "list waitlist", readWaitlistEntry, offset,
		`SELECT `+waitlistColumns+`, `+position+`, count(*) OVER () FROM waitlist_entries w
		WHERE w.status = $1 ORDER BY w.seq LIMIT $2 OFFSET $3`, []any{status, limit, offset},
		`SELECT count(*) FROM waitlist_entries WHERE status = $1`, status)
}

// WaitlistApproval says what an approval did.
type WaitlistApproval struct {
	Approved       int
	CodesGenerated int
	EmailsQueued   int
}

// ApproveWaitlist approves, on behalf of a (a platform admin), the waiting
// entries among ids, in one transaction: each becomes approved, gets a
// fresh single-use access code (metadata {"waitlist_entry_id": …}) and,
// with email on, an email with the code. Entries already approved and ids
// that name no entry are skipped and not counted, so approving twice, also
// twice at once, approves and emails each entry once. Returns
// VALIDATION_ERROR (field waitlist_entry_ids) for an empty list or one of
// more than 500 ids, SERVICE_UNAVAILABLE.
func (s *Store) ApproveWaitlist(ctx context.Context, a Actor, ids []uuid.UUID) (WaitlistApproval, error) {
	if len(ids) == 0 || len(ids) > MaxWaitlistApproval {
		return WaitlistApproval{}, apperr.Validation(map[string]string{"waitlist_entry_ids": "must list 1 to 500 ids"})
	}
	var createdBy *uuid.UUID
	if a.Type == ActorUser {
		createdBy = &a.ID
	}
	var out WaitlistApproval
	err := s.change(ctx, a, "approve waitlist", func(tx *changeTx) error {
		// Row locks taken in one order; an entry a concurrent approval
		// approved meanwhile no longer matches once its lock is granted
		// (READ COMMITTED re-checks the condition on the new row).
		rows, err := tx.Query(ctx, `SELECT id FROM waitlist_entries
			WHERE id = ANY($1) AND status = 'waiting' ORDER BY id FOR UPDATE`, ids)
		if err != nil {
			return dbErr("approve waitlist: lock", err)
		}
		entries, err := pgx.CollectRows(rows, pgx.RowTo[uuid.UUID])
		if err != nil {
			return dbErr("approve waitlist: lock", err)
		}
		if len(entries) == 0 {
			return nil
		}
		codes, err := insertApprovalCodes(ctx, tx, entries, createdBy)
		if err != nil {
			return err
		}
		if _, err := tx.Exec(ctx, `UPDATE waitlist_entries w SET status = 'approved', approved_at = now(),
			access_code_id = t.code FROM unnest($1::uuid[], $2::uuid[]) AS t(entry, code) WHERE w.id = t.entry`,
			entries, codes); err != nil {
			return dbErr("approve waitlist: approve", err)
		}
		emails, err := s.enqueueEmails(ctx, tx, EmailWaitlistApproval, entries)
		if err != nil {
			return err
		}
		for i, e := range entries {
			tx.record(ActionWaitlistApproved, nil, TargetWaitlistEntry, e.String(), map[string]any{"access_code_id": codes[i].String()})
		}
		out = WaitlistApproval{Approved: len(entries), CodesGenerated: len(codes), EmailsQueued: len(emails)}
		return nil
	})
	if err != nil {
		return WaitlistApproval{}, err
	}
	return out, nil
}

// insertApprovalCodes creates one single-use access code per entry, with
// the entry's id in its metadata, and returns the codes' ids in the order of
// entries. A code that collides with an existing one is replaced by a fresh
// one.
func insertApprovalCodes(ctx context.Context, tx pgx.Tx, entries []uuid.UUID, createdBy *uuid.UUID) ([]uuid.UUID, error) {
	codeOf := make(map[uuid.UUID]uuid.UUID, len(entries))
	missing := entries
	for round := 0; len(missing) > 0; round++ {
		if round == 10 {
			return nil, apperr.Wrap(apperr.Internal, "Internal server error.",
				errors.New("store: approve waitlist: too many code collisions"))
		}
		codes := make([]string, len(missing))
		for i := range missing {
			codes[i] = NewAccessCode()
		}
		rows, err := tx.Query(ctx, `INSERT INTO access_codes (code, max_redemptions, metadata, created_by)
			SELECT t.code, 1, jsonb_build_object('waitlist_entry_id', t.entry), $3
			FROM unnest($1::text[], $2::uuid[]) AS t(code, entry)
			ON CONFLICT (code) DO NOTHING
			RETURNING id, (metadata->>'waitlist_entry_id')::uuid`, codes, missing, createdBy)
		if err != nil {
			return nil, dbErr("approve waitlist: codes", err)
		}
		var id, entry uuid.UUID
		if _, err := pgx.ForEachRow(rows, []any{&id, &entry}, func() error {
			codeOf[entry] = id
			return nil
		}); err != nil {
			return nil, dbErr("approve waitlist: codes", err)
		}
		var still []uuid.UUID
		for _, e := range missing {
			if _, ok := codeOf[e]; !ok {
				still = append(still, e)
			}
		}
		missing = still
	}
	out := make([]uuid.UUID, len(entries))
	for i, e := range entries {
		out[i] = codeOf[e]
	}
	return out, nil
}
