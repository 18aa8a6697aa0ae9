package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

// The sink counts every line by its level whatever the reads cut, ignores
// a level named inside a message, and keeps the end of the output.
func TestLogSinkCountsLevels(t *testing.T) {
	var out bytes.Buffer
	want := map[string]int{}
	levels := []string{"INFO", "INFO", "WARN", "ERROR", "DEBUG", "INFO"}
	for i := range 5000 {
		lv := levels[i%len(levels)]
		msg := fmt.Sprintf(`request %d "level":"ERROR" quoted`, i) // escaped in the line: not a level
		line, err := json.Marshal(map[string]any{"time": "2026-12-05T10:00:00Z", "level": lv, "msg": msg,
			"pad": strings.Repeat("x", i%300)})
		if err != nil {
			t.Fatal(err)
		}
		out.Write(append(line, '\n'))
		want[lv]++
	}
	all := out.Bytes()
	for name, r := range map[string]io.Reader{
		"whole":    bytes.NewReader(all),
		"one byte": iotest.OneByteReader(bytes.NewReader(all)),
		"halves":   iotest.HalfReader(bytes.NewReader(all)),
		"no final newline": io.MultiReader(bytes.NewReader(all),
			strings.NewReader(`{"level":"WARN","msg":"cut"}`)),
	} {
		l := &logSink{levels: map[string]int{}}
		l.read(r)
		w := want
		tail := all[len(all)-sinkTail:]
		if name == "no final newline" {
			w = map[string]int{"INFO": want["INFO"], "WARN": want["WARN"] + 1, "ERROR": want["ERROR"], "DEBUG": want["DEBUG"]}
			tail = append(append([]byte{}, all...), `{"level":"WARN","msg":"cut"}`...)
			tail = tail[len(tail)-sinkTail:]
		}
		got := l.Levels()
		for _, lv := range logLevels {
			if got[lv] != w[lv] {
				t.Errorf("%s: %d %s lines, want %d", name, got[lv], lv, w[lv])
			}
		}
		if l.Tail() != string(tail) {
			t.Errorf("%s: the tail is %d bytes, not the output's last %d", name, len(l.Tail()), sinkTail)
		}
	}
}

// BenchmarkLogSink reads request log lines as the server writes them
// (64 KiB at a time); SetBytes makes the figure MB/s of log.
func BenchmarkLogSink(b *testing.B) {
	line := `{"time":"2026-12-05T10:00:00.123456789Z","level":"INFO","msg":"request","request_id":"0b8f6c1e-5a4d-4c59-9d0e-2f8c1b7a6e3d","method":"GET","path":"/api/workspaces/4f1c2b9e-7a3d-4e8b-9c2f-1d6e5a4b3c2d","route":"/api/workspaces/{workspace_id}","status":200,"bytes":412,"duration_ms":1.234,"user_id":"8e2d4c6a-1b3f-4a5e-9d7c-0f1e2d3c4b5a"}` + "\n"
	chunk := bytes.Repeat([]byte(line), 64<<10/len(line))
	b.SetBytes(int64(len(chunk)))
	for b.Loop() {
		l := &logSink{levels: map[string]int{}}
		l.read(bytes.NewReader(chunk))
	}
}
