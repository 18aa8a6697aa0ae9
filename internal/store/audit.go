package store

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"

	"github.com/praxiom/praxiom-api/internal/apperr"
)

// Action names what an audit event records (api/openapi.yaml, "Audit log").
type Action string

// The actions of the audit log.
const (
	ActionWorkspaceCreated   Action = "workspace.created"
	ActionWorkspaceUpdated   Action = "workspace.updated"
	ActionWorkspaceDeleted   Action = "workspace.deleted"
	ActionSettingsUpdated    Action = "settings.updated"
	ActionMemberRoleChanged  Action = "member.role_changed"
	ActionMemberRemoved      Action = "member.removed"
	ActionMemberLeft         Action = "member.left"
	ActionMemberPromoted     Action = "member.promoted"
	ActionInvitationCreated  Action = "invitation.created"
	ActionInvitationRevoked  Action = "invitation.revoked"
	ActionInvitationAccepted Action = "invitation.accepted"
	ActionInvitationResent   Action = "invitation.resent"
	ActionAPIKeyCreated      Action = "api_key.created"
	ActionAPIKeyRevoked      Action = "api_key.revoked"
	ActionAccessCodeRedeemed Action = "access_code.redeemed"
	ActionAccessCodesCreated Action = "access_codes.created"
	ActionAccessCodeRevoked  Action = "access_code.revoked"
	ActionWaitlistApproved   Action = "waitlist.approved"
	ActionUserDeleted        Action = "user.deleted"
	ActionUserAdminGranted   Action = "user.admin_granted"
	ActionUserAdminRevoked   Action = "user.admin_revoked"
	ActionUserFounderGranted Action = "user.founder_granted"
	ActionUserAccessGranted  Action = "user.access_granted"
	ActionUserSuspended      Action = "user.suspended"
	ActionUserUnsuspended    Action = "user.unsuspended"
	maxEventsPerAuditPage    int    = 200
)

// Actions lists every action, in the order api/openapi.yaml lists them.
var Actions = []Action{
	ActionWorkspaceCreated, ActionWorkspaceUpdated, ActionWorkspaceDeleted, ActionSettingsUpdated,
	ActionMemberRoleChanged, ActionMemberRemoved, ActionMemberLeft, ActionMemberPromoted,
	ActionInvitationCreated, ActionInvitationRevoked, ActionInvitationAccepted, ActionInvitationResent,
	ActionAPIKeyCreated, ActionAPIKeyRevoked, ActionAccessCodeRedeemed, ActionAccessCodesCreated,
	ActionAccessCodeRevoked, ActionWaitlistApproved, ActionUserDeleted, ActionUserAdminGranted,
	ActionUserAdminRevoked, ActionUserFounderGranted, ActionUserAccessGranted, ActionUserSuspended,
	ActionUserUnsuspended,
}

// ValidAction reports whether a is an action of the log.
func ValidAction(a string) bool {
	for _, x := range Actions {
		if string(x) == a {
			return true
		}
	}
	return false
}

// TargetType says what an event is about.
type TargetType string

// The targets of events.
const (
	TargetWorkspace     TargetType = "workspace"
	TargetUser          TargetType = "user"
	TargetInvitation    TargetType = "invitation"
	TargetAPIKey        TargetType = "api_key"
	TargetAccessCode    TargetType = "access_code"
	TargetWaitlistEntry TargetType = "waitlist_entry"
)

// Event is an entry of the audit log.
type Event struct {
	ID          uuid.UUID
	Action      Action
	Actor       Actor // RequestID and IP are the event's request's
	WorkspaceID *uuid.UUID
	TargetType  TargetType
	TargetID    string
	Metadata    json.RawMessage
	CreatedAt   time.Time
}

// changeTx is the transaction of a change: the events it records are
// written in the same transaction, just before it commits, so a change
// never exists without its events nor an event without its change.
type changeTx struct {
	pgx.Tx
	actor  Actor
	events []pendingEvent
}

type pendingEvent struct {
	action   Action
	ws       *uuid.UUID
	target   TargetType
	targetID string
	meta     map[string]any
}

// record notes an event of the change, about target in workspace ws (nil
// for platform-wide changes); meta may be nil.
func (c *changeTx) record(action Action, ws *uuid.UUID, target TargetType, targetID string, meta map[string]any) {
	c.events = append(c.events, pendingEvent{action: action, ws: ws, target: target, targetID: targetID, meta: meta})
}

// change runs fn in one transaction on behalf of a, and writes the audit
// events fn recorded in that transaction before it commits: every write
// path of the store goes through it. When fn fails, nothing is written.
func (s *Store) change(ctx context.Context, a Actor, op string, fn func(tx *changeTx) error) error {
	return s.inTx(ctx, op, func(tx pgx.Tx) error {
		c := &changeTx{Tx: tx, actor: a}
		if err := fn(c); err != nil {
			return err
		}
		if err := markCommitted(ctx, tx); err != nil {
			return err
		}
		return c.flush(ctx)
	})
}

// auditOrderLockKey is the transaction advisory lock under which audit
// events are numbered (flush).
const auditOrderLockKey int64 = 0x7072_6178_6175_6401 // "praxaud\x01"

// flush writes the recorded events in one statement.
func (c *changeTx) flush(ctx context.Context) error {
	if len(c.events) == 0 {
		return nil
	}
	n := len(c.events)
	actions, targets, targetIDs, metas := make([]string, n), make([]string, n), make([]string, n), make([]string, n)
	wss := make([]*uuid.UUID, n)
	for i, e := range c.events {
		actions[i], targets[i], targetIDs[i], wss[i] = string(e.action), string(e.target), e.targetID, e.ws
		meta := []byte(`{}`)
		if len(e.meta) > 0 {
			var err error
			if meta, err = json.Marshal(e.meta); err != nil {
				return apperr.Wrap(apperr.Internal, "Internal server error.", err)
			}
		}
		metas[i] = string(meta)
	}
	a := c.actor
	var actorID *uuid.UUID
	if a.ID != uuid.Nil {
		actorID = &a.ID
	}
	// Events take their seq (the cursor's order) one transaction at a
	// time, holding the lock until commit: a seq is never visible while a
	// lower one may still commit, so no event lands behind a cursor a
	// client already holds. Each change's last statement, so the lock is
	// held only for this INSERT and the commit.
	if _, err := c.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, auditOrderLockKey); err != nil {
		return dbErr("write audit events: order lock", err)
	}
	_, err := c.Exec(ctx, `INSERT INTO audit_events (action, actor_type, actor_id, actor_name, impersonator,
			workspace_id, target_type, target_id, metadata, request_id, ip)
		SELECT e.action, $5, $6, `+actorName("$5", "$6", "$7")+`, $8, e.ws, e.target, e.target_id, e.meta::jsonb, $9, $10
		FROM unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $11::text[]) AS e(action, ws, target, target_id, meta)`,
		actions, wss, targets, targetIDs, string(a.Type), actorID, a.Name, nullable(a.Impersonator),
		nullable(a.RequestID), nullable(a.IP), metas)
	return dbErr("write audit events", err)
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// AuditQuery selects a page of the log.
type AuditQuery struct {
	// WorkspaceID limits the page to one workspace's events; nil is every
	// event (platform admins), those of deleted workspaces included.
	WorkspaceID *uuid.UUID
	// Action, when set, is the only action listed.
	Action string
	// Cursor continues after a previous page ("" for the first).
	Cursor string
	Limit  int
}

const auditColumns = `e.id, e.action, e.actor_type, e.actor_id, e.actor_name, e.impersonator, e.workspace_id,
	e.target_type, e.target_id, e.metadata, e.request_id, e.ip, e.created_at, e.seq`

// cursorPrefix versions the opaque cursor.
const cursorPrefix = "a1."

func encodeCursor(seq int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(cursorPrefix + strconv.FormatInt(seq, 10)))
}

func decodeCursor(c string) (int64, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil || !strings.HasPrefix(string(raw), cursorPrefix) {
		return 0, false
	}
	seq, err := strconv.ParseInt(string(raw[len(cursorPrefix):]), 10, 64)
	return seq, err == nil && seq > 0
}

var errBadCursor = apperr.New(apperr.BadRequest, "cursor is not a cursor this API gave.")

// AuditLog returns a page of the log, newest first, and the cursor of the
// next page ("" after the last). The cursor is a position in the log's
// order of writing: events written while a client pages come before its
// first page and never shift, repeat or skip an older page. Returns
// BAD_REQUEST for a malformed cursor or an unknown action,
// SERVICE_UNAVAILABLE.
func (s *Store) AuditLog(ctx context.Context, q AuditQuery) ([]Event, string, error) {
	var after *int64
	if q.Cursor != "" {
		seq, ok := decodeCursor(q.Cursor)
		if !ok {
			return nil, "", errBadCursor
		}
		after = &seq
	}
	if q.Action != "" && !ValidAction(q.Action) {
		return nil, "", apperr.New(apperr.BadRequest, "action is not an action of the audit log.")
	}
	if q.Limit < 1 || q.Limit > maxEventsPerAuditPage {
		q.Limit = 50
	}
	rows, err := s.pool.Query(ctx, `SELECT `+auditColumns+` FROM audit_events e
		WHERE ($1::uuid IS NULL OR e.workspace_id = $1)
		  AND ($2 = '' OR e.action = $2)
		  AND ($3::bigint IS NULL OR e.seq < $3)
		ORDER BY e.seq DESC LIMIT $4`, q.WorkspaceID, q.Action, after, q.Limit+1)
	if err != nil {
		return nil, "", dbErr("audit log", err)
	}
	defer rows.Close()
	var (
		out  []Event
		seqs []int64
	)
	for rows.Next() {
		var (
			e                 Event
			actorType, target string
			actorID           *uuid.UUID
			imp, reqID, ip    *string
			seq               int64
		)
		if err := rows.Scan(&e.ID, &e.Action, &actorType, &actorID, &e.Actor.Name, &imp, &e.WorkspaceID,
			&target, &e.TargetID, &e.Metadata, &reqID, &ip, &e.CreatedAt, &seq); err != nil {
			return nil, "", dbErr("audit log: scan", err)
		}
		e.Actor.Type, e.TargetType = ActorType(actorType), TargetType(target)
		if actorID != nil {
			e.Actor.ID = *actorID
		}
		e.Actor.Impersonator, e.Actor.RequestID, e.Actor.IP = deref(imp), deref(reqID), deref(ip)
		out = append(out, e)
		seqs = append(seqs, seq)
	}
	if err := rows.Err(); err != nil {
		return nil, "", dbErr("audit log", err)
	}
	next := ""
	if len(out) > q.Limit {
		out = out[:q.Limit]
		next = encodeCursor(seqs[q.Limit-1])
	}
	if out == nil {
		out = []Event{}
	}
	return out, next, nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// PruneAuditEvents deletes the events older than retention, in batches,
// and returns how many it deleted. Returns SERVICE_UNAVAILABLE.
func (s *Store) PruneAuditEvents(ctx context.Context, retention time.Duration) (int64, error) {
	return s.deleteInBatches(ctx, "prune audit events", `DELETE FROM audit_events WHERE id IN (
		SELECT id FROM audit_events WHERE created_at < now() - $1::interval LIMIT $2)`, retention)
}
