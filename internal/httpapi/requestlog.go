package httpapi

import (
	"context"
	"log/slog"
	"strconv"
	"sync"
	"time"
)

// requestLine is what a request's log line says (record): its
// attributes in their order on the line, impersonator and traceID left out
// when empty.
type requestLine struct {
	requestID, method, route string
	status, bytes            int
	latency                  time.Duration
	impersonator, traceID    string
}

// requestMsg is the message of the request log line.
const requestMsg = "request"

// attrs are the line's attributes for slog, in buf.
func (l *requestLine) attrs(buf *[8]slog.Attr) []slog.Attr {
	attrs := append(buf[:0],
		slog.String("request_id", l.requestID),
		slog.String("method", l.method),
		slog.String("route", l.route),
		slog.Int("status", l.status),
		slog.Int("bytes", l.bytes),
		slog.Duration("latency", l.latency),
	)
	if l.impersonator != "" {
		attrs = append(attrs, slog.String("impersonator", l.impersonator))
	}
	if l.traceID != "" {
		attrs = append(attrs, slog.String("trace_id", l.traceID))
	}
	return attrs
}

// appendJSON appends the line, newline included, exactly as slog's
// JSONHandler (no options but its level) writes a record of time now, level
// and message requestMsg with l's attrs: the time as RFC 3339 with
// nanoseconds, the level's name, the numbers in decimal, the latency in
// nanoseconds. It appends only strings
// that need no escaping (printable ASCII without '"' and '\'); ok is false,
// and b returned as it came, when a string would need escaping or the time
// is outside the years 0001–9999 give or take a day (slog omits a zero
// time and writes an error for a year outside 0–9999): the caller then
// logs through slog.
func (l *requestLine) appendJSON(b []byte, now time.Time, level slog.Level) (_ []byte, ok bool) {
	lvl := level.String()
	if u := now.Unix(); u < minLineUnix || u > maxLineUnix ||
		!plain(lvl) || !plain(l.requestID) || !plain(l.method) || !plain(l.route) ||
		!plain(l.impersonator) || !plain(l.traceID) {
		return b, false
	}
	b = append(b, `{"time":"`...)
	b = now.AppendFormat(b, time.RFC3339Nano)
	b = append(b, `","level":"`...)
	b = append(b, lvl...)
	b = append(b, `","msg":"`+requestMsg+`","request_id":"`...)
	b = append(b, l.requestID...)
	b = append(b, `","method":"`...)
	b = append(b, l.method...)
	b = append(b, `","route":"`...)
	b = append(b, l.route...)
	b = append(b, `","status":`...)
	b = strconv.AppendInt(b, int64(l.status), 10)
	b = append(b, `,"bytes":`...)
	b = strconv.AppendInt(b, int64(l.bytes), 10)
	b = append(b, `,"latency":`...)
	b = strconv.AppendInt(b, int64(l.latency), 10)
	if l.impersonator != "" {
		b = append(b, `,"impersonator":"`...)
		b = append(b, l.impersonator...)
		b = append(b, '"')
	}
	if l.traceID != "" {
		b = append(b, `,"trace_id":"`...)
		b = append(b, l.traceID...)
		b = append(b, '"')
	}
	return append(b, "}\n"...), true
}

// minLineUnix and maxLineUnix bound the times appendJSON writes: a day
// inside the years 0001 and 9999 of UTC, so that the year is in range in
// every zone (offsets are under a day) without computing it.
const (
	minLineUnix = -62135596800 + 86400 // 0001-01-02T00:00:00Z
	maxLineUnix = 253402300799 - 86400 // 9999-12-30T23:59:59Z
)

// plain reports whether s is printable ASCII without '"' and '\', which
// JSON (and slog) writes as it is.
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c > 0x7e || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// lineBufs are the buffers request log lines are appended in. A buffer that
// grew past maxLineBuf (a line with a long impersonator) is not kept.
var lineBufs = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

const maxLineBuf = 4 << 10

// logRequest writes the request log line l at level, unless the logger
// drops that level: appended by hand and written in one Write to
// s.requestLog when it is set and l needs no escaping, through the logger
// otherwise.
func (s *Server) logRequest(ctx context.Context, level slog.Level, now time.Time, l *requestLine) {
	if !s.log.Enabled(ctx, level) {
		return
	}
	if s.requestLog != nil {
		bp := lineBufs.Get().(*[]byte)
		b, ok := l.appendJSON((*bp)[:0], now, level)
		if ok {
			_, _ = s.requestLog.Write(b) // as slog.Logger, which drops its handler's error
		}
		if cap(b) <= maxLineBuf {
			*bp = b[:0]
			lineBufs.Put(bp)
		}
		if ok {
			return
		}
	}
	var buf [8]slog.Attr
	s.log.LogAttrs(ctx, level, requestMsg, l.attrs(&buf)...)
}
