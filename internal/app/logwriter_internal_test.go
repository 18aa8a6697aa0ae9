package app

import (
	"bytes"
	"context"
	"log/slog"
	"testing"
	"time"
)

// TestUrgent: a line is urgent when the record's level is WARN or ERROR,
// whatever its attributes and message say.
func TestUrgent(t *testing.T) {
	var buf bytes.Buffer
	log := NewLogger(&buf, "debug")
	line := func(f func()) []byte {
		buf.Reset()
		f()
		return bytes.Clone(buf.Bytes())
	}
	for _, c := range []struct {
		name string
		line []byte
		want bool
	}{
		{"debug", line(func() { log.Debug("d") }), false},
		{"info", line(func() { log.Info("request", "status", 200) }), false},
		{"warn", line(func() { log.Warn("w") }), true},
		{"error", line(func() { log.Error("e", "error", "boom") }), true},
		{"info with an attribute named level", line(func() { log.Info("i", "level", "ERROR") }), false},
		{"info quoting a level", line(func() { log.Info(`"level":"ERROR"`, "v", `"level":"WARN"`) }), false},
		{"error without a time", line(func() {
			_ = log.Handler().Handle(context.Background(), slog.NewRecord(time.Time{}, slog.LevelError, "e", 0))
		}), true},
		{"the request line at ERROR", []byte(`{"time":"2026-03-14T15:09:26.535897932Z","level":"ERROR","msg":"request","status":503}` + "\n"), true},
		{"not a log line", []byte("level ERROR\n"), false},
	} {
		if got := urgent(c.line); got != c.want {
			t.Errorf("%s: urgent(%s) = %v, want %v", c.name, c.line, got, c.want)
		}
	}
}

// BenchmarkUrgent: the check of an info request line, the most common
// write.
func BenchmarkUrgent(b *testing.B) {
	line := []byte(`{"time":"2026-03-14T15:09:26.535897932+01:00","level":"INFO","msg":"request",` +
		`"request_id":"0f8fad5b-d9cb-469f-a165-70867728950e","method":"GET","route":"/api/workspaces/{workspace_id}",` +
		`"status":200,"bytes":512,"latency":1234567}` + "\n")
	for b.Loop() {
		if urgent(line) {
			b.Fatal("urgent")
		}
	}
}
