package app_test

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/praxiom/praxiom-api/internal/app"
)

// countingBuffer is an output that counts its writes.
type countingBuffer struct {
	mu     sync.Mutex
	b      bytes.Buffer
	writes int
}

func (l *countingBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.writes++
	return l.b.Write(p)
}

func (l *countingBuffer) state() (string, int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String(), l.writes
}

// TestLogWriterBuffers: info lines reach the output together, within the
// flush delay; a warning or an error at once, with what was before it;
// Close writes the rest.
func TestLogWriterBuffers(t *testing.T) {
	out := &countingBuffer{}
	lw := app.NewLogWriter(out)
	log := app.NewLogger(lw, "info")
	for i := range 100 {
		log.Info("request", "n", i)
	}
	if s, _ := out.state(); s != "" {
		t.Fatalf("info lines written at once: %q", s)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		s, writes := out.state()
		if strings.Count(s, "\n") == 100 {
			if writes != 1 {
				t.Errorf("100 lines in %d writes, want 1", writes)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 2s the output holds %d lines, want 100", strings.Count(s, "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}

	log.Info("before")
	log.Error("failed")
	if s, _ := out.state(); !strings.HasSuffix(s, `"msg":"failed"}`+"\n") || !strings.Contains(s, `"msg":"before"`) {
		t.Fatalf("the error was not written at once with the line before it:\n%s", s)
	}
	log.Warn("warned")
	if s, _ := out.state(); !strings.Contains(s, `"msg":"warned"`) {
		t.Fatal("the warning was not written at once")
	}
	log.Info("last")
	if err := lw.Close(); err != nil {
		t.Fatal(err)
	}
	if s, _ := out.state(); !strings.Contains(s, `"msg":"last"`) {
		t.Fatal("Close did not write the buffered line")
	}
}
