package store

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgtype"
)

// row reads one result row column by column, in order, from the values as
// they came off the wire. pgx's Scan plans every column of every query by
// reflection (about 60 allocations for the 28 columns of the auth query);
// the queries of rows every request reads (the principal) decode the
// binary format directly instead. A column in text format (QueryExecModeExec
// or the simple protocol, used behind some PgBouncers) is decoded by the
// connection's type map, as Scan would.
type row struct {
	vals [][]byte
	fds  []pgconn.FieldDescription
	m    *pgtype.Map
	i    int
	err  error
}

// pgEpoch is PostgreSQL's timestamp epoch.
var pgEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

// next returns the next column's raw value and whether it is in binary
// format; nil for NULL.
func (r *row) next() ([]byte, bool) {
	if r.i >= len(r.vals) {
		r.fail(fmt.Errorf("store: row has %d columns, read past them", len(r.vals)))
		return nil, true
	}
	v, binary := r.vals[r.i], r.fds[r.i].Format == pgtype.BinaryFormatCode
	r.i++
	return v, binary
}

func (r *row) fail(err error) {
	if r.err == nil {
		r.err = err
	}
}

// decode falls back to the type map for a column not in binary format.
func (r *row) decode(src []byte, dst any) {
	fd := r.fds[r.i-1]
	if err := r.m.Scan(fd.DataTypeOID, fd.Format, src, dst); err != nil {
		r.fail(fmt.Errorf("store: column %s: %w", fd.Name, err))
	}
}

func (r *row) uuid() uuid.UUID {
	v, bin := r.next()
	switch {
	case v == nil:
		r.fail(errors.New("store: NULL uuid"))
	case bin && len(v) == 16:
		return uuid.UUID(v)
	default:
		var id uuid.UUID // escapes to the heap: declared here, off the binary path
		r.decode(v, &id)
		return id
	}
	return uuid.UUID{}
}

func (r *row) uuidPtr() *uuid.UUID {
	v, _ := r.peek()
	if v == nil {
		r.i++
		return nil
	}
	id := r.uuid()
	return &id
}

func (r *row) peek() ([]byte, bool) {
	if r.i >= len(r.vals) {
		return nil, true
	}
	return r.vals[r.i], r.fds[r.i].Format == pgtype.BinaryFormatCode
}

// text returns a text column; the common short values of enumerated
// columns are not copied.
func (r *row) text() string {
	v, _ := r.next()
	if v == nil {
		r.fail(errors.New("store: NULL text"))
		return ""
	}
	return intern(v)
}

func (r *row) textPtr() *string {
	v, _ := r.next()
	if v == nil {
		return nil
	}
	s := intern(v)
	return &s
}

// interned are values of enumerated columns (roles, statuses, plans) that
// every request reads.
var interned = map[string]string{}

func init() {
	for _, s := range []string{RoleOwner, RoleAdmin, RoleMember, StatusPending, StatusActive, StatusSuspended,
		"trial", "pro", "growth", "power", "trialing", "active", "past_due", "canceled", ""} {
		interned[s] = s
	}
}

func intern(b []byte) string {
	if s, ok := interned[string(b)]; ok { // no allocation for the look-up
		return s
	}
	return string(b)
}

func (r *row) bool() bool {
	v, bin := r.next()
	switch {
	case v == nil:
		r.fail(errors.New("store: NULL bool"))
	case bin && len(v) == 1:
		return v[0] == 1
	default:
		var b bool
		r.decode(v, &b)
		return b
	}
	return false
}

func (r *row) time() time.Time {
	v, bin := r.next()
	switch {
	case v == nil:
		r.fail(errors.New("store: NULL timestamptz"))
	case bin && len(v) == 8:
		us := int64(binary.BigEndian.Uint64(v))
		return pgEpoch.Add(time.Duration(us) * time.Microsecond)
	default:
		var t time.Time
		r.decode(v, &t)
		return t.UTC()
	}
	return time.Time{}
}

func (r *row) timePtr() *time.Time {
	v, _ := r.peek()
	if v == nil {
		r.i++
		return nil
	}
	t := r.time()
	return &t
}

// queryRow runs sql, which selects at most one row, and reads that row with
// read. Returns pgx.ErrNoRows when there is none.
func queryRow(ctx context.Context, q querier, sql string, args []any, read func(r *row)) error {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	if !rows.Next() {
		if err := rows.Err(); err != nil {
			return err
		}
		return pgx.ErrNoRows
	}
	r := row{vals: rows.RawValues(), fds: rows.FieldDescriptions(), m: rows.Conn().TypeMap()}
	read(&r)
	if r.err != nil {
		return r.err
	}
	if r.i != len(r.vals) {
		return fmt.Errorf("store: read %d of %d columns", r.i, len(r.vals))
	}
	rows.Close()
	return rows.Err()
}

func (r *row) int() int {
	v, bin := r.next()
	switch {
	case v == nil:
		r.fail(errors.New("store: NULL integer"))
	case bin && len(v) == 4:
		return int(int32(binary.BigEndian.Uint32(v)))
	case bin && len(v) == 8:
		return int(int64(binary.BigEndian.Uint64(v)))
	default:
		var n int64
		r.decode(v, &n)
		return int(n)
	}
	return 0
}

// json returns a json or jsonb column's text (jsonb's binary format is a
// version byte, 1, then the text).
func (r *row) json() []byte {
	v, bin := r.next()
	if v == nil {
		r.fail(errors.New("store: NULL json"))
		return nil
	}
	if bin && r.fds[r.i-1].DataTypeOID == pgtype.JSONBOID {
		if len(v) == 0 || v[0] != 1 {
			r.fail(errors.New("store: unknown jsonb version"))
			return nil
		}
		v = v[1:]
	}
	return append([]byte(nil), v...)
}

// queryRows runs sql and reads every row with read.
func queryRows[T any](ctx context.Context, q querier, sql string, args []any, read func(r *row) T) ([]T, error) {
	rows, err := q.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []T{}
	m := rows.Conn().TypeMap()
	for rows.Next() {
		r := row{vals: rows.RawValues(), fds: rows.FieldDescriptions(), m: m}
		v := read(&r)
		if r.err != nil {
			return nil, r.err
		}
		if r.i != len(r.vals) {
			return nil, fmt.Errorf("store: read %d of %d columns", r.i, len(r.vals))
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// uuidArg is a google/uuid.UUID as pgx's UUID codec takes it. Without it, a
// uuid.UUID argument fails the binary encode plan (pgx builds an error with
// fmt.Errorf) and falls back to driver.Valuer and text, on every query.
type uuidArg uuid.UUID

// UUIDValue implements pgtype.UUIDValuer.
func (u uuidArg) UUIDValue() (pgtype.UUID, error) { return pgtype.UUID{Bytes: u, Valid: true}, nil }

// wrapUUIDEncode passes a uuid.UUID argument on as a uuidArg.
type wrapUUIDEncode struct{ next pgtype.EncodePlan }

func (p *wrapUUIDEncode) SetNext(next pgtype.EncodePlan) { p.next = next }

func (p *wrapUUIDEncode) Encode(value any, buf []byte) ([]byte, error) {
	return p.next.Encode(uuidArg(value.(uuid.UUID)), buf)
}

// registerUUID teaches a connection's type map to encode uuid.UUID
// arguments in binary directly.
func registerUUID(m *pgtype.Map) {
	m.TryWrapEncodePlanFuncs = append([]pgtype.TryWrapEncodePlanFunc{
		func(value any) (pgtype.WrappedEncodePlanNextSetter, any, bool) {
			if u, ok := value.(uuid.UUID); ok {
				return &wrapUUIDEncode{}, uuidArg(u), true
			}
			return nil, nil, false
		},
	}, m.TryWrapEncodePlanFuncs...)
}
