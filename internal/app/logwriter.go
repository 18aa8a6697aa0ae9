package app

import (
	"bufio"
	"bytes"
	"io"
	"sync"
	"time"
)

// logFlushDelay is how long a log line may wait in the buffer.
const logFlushDelay = 100 * time.Millisecond

// LogWriter buffers the service's log lines so that a busy server makes one
// write to its output every logFlushDelay (or every 64 KiB) instead of one
// per request: the request log at info costs one system call per request
// otherwise. A line of level WARN or ERROR is written at once, with
// everything before it. Close writes what is left; a process that dies
// without Close (SIGKILL, a fatal runtime error) loses at most the last
// logFlushDelay of lines, never a warning or an error.
type LogWriter struct {
	mu    sync.Mutex
	buf   *bufio.Writer
	timer *time.Timer // armed while the buffer holds lines
	err   error       // the first write error, returned by Close
}

// NewLogWriter buffers writes to w. Each Write must be whole lines, as
// slog's handlers make them.
func NewLogWriter(w io.Writer) *LogWriter {
	l := &LogWriter{buf: bufio.NewWriterSize(w, 64<<10)}
	l.timer = time.AfterFunc(time.Hour, l.flushNow)
	l.timer.Stop()
	return l
}

// urgent reports whether line, a JSON line of slog's, is a warning or an
// error: the value of its first "level" key, the record's level (slog
// writes it before any attribute, and escapes the quotes of every string),
// is WARN or ERROR. The search stops at that key, within the first fifty
// bytes of a line: the request line, one per request, is not scanned to
// its end.
func urgent(line []byte) bool {
	i := bytes.Index(line, levelKey)
	if i < 0 {
		return false
	}
	v := line[i+len(levelKey):]
	return bytes.HasPrefix(v, levelWarn) || bytes.HasPrefix(v, levelError)
}

var (
	levelKey   = []byte(`"level":"`)
	levelWarn  = []byte(`WARN"`)
	levelError = []byte(`ERROR"`)
)

// Write buffers p; it flushes at once when p is a warning or an error.
func (l *LogWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	empty := l.buf.Buffered() == 0
	n, err := l.buf.Write(p)
	if err != nil {
		l.keep(err)
		return n, err
	}
	if urgent(p) {
		l.keep(l.buf.Flush())
		l.timer.Stop()
		return n, nil
	}
	if empty && l.buf.Buffered() > 0 {
		l.timer.Reset(logFlushDelay)
	}
	return n, nil
}

func (l *LogWriter) flushNow() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.keep(l.buf.Flush())
}

func (l *LogWriter) keep(err error) {
	if err != nil && l.err == nil {
		l.err = err
	}
}

// Close writes the buffered lines and returns the first write error.
func (l *LogWriter) Close() error {
	l.timer.Stop()
	l.flushNow()
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}
