package builder

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/apkfarm/apkfarm/internal/safefile"
)

// maxErrorLines is how many error-looking lines an attempt keeps; each is
// cut at maxErrorLineLen bytes.
const (
	maxErrorLines   = 10
	maxErrorLineLen = 300
)

// errorMarkers make a log line "error-looking" (case-sensitive).
var errorMarkers = [][]byte{
	[]byte("error:"), []byte("Error:"), []byte("ERROR:"), // gcc, abuild's ">>> ERROR:", Python, ...
	[]byte(">>> ERROR"),
	[]byte("undefined reference"),
	[]byte("No such file or directory"),
	[]byte("fatal error"),
	[]byte("command not found"),
	[]byte("Segmentation fault"),
	[]byte("uncaught target signal"),
	[]byte(": ***"), // make: *** [...] Error 1
}

func errorLooking(line []byte) bool {
	for _, m := range errorMarkers {
		if bytes.Contains(line, m) {
			return true
		}
	}
	return false
}

// logWriter is one attempt's log: every line stamped with the time since
// start, written straight to the file (so that it survives the runner), cut
// off past max bytes. It also remembers when output last came (for the idle
// timeout), the first error-looking lines and whether qemu reported an
// uncaught target signal. Safe for concurrent use (stdout and stderr).
type logWriter struct {
	mu        sync.Mutex
	f         *os.File
	start     time.Time
	max       int64
	written   int64
	truncated bool
	lineStart bool
	fileNL    bool   // the file ends with a newline (or is empty)
	line      []byte // the current line's text so far (at most maxErrorLineLen)
	lineStamp []byte // the current line's stamp
	errLines  []string
	qemuCrash bool
	err       error // first write error
	buf       []byte

	last atomic.Int64 // unix nanoseconds of the last output
}

func newLogWriter(f *os.File, start time.Time, max int64) *logWriter {
	l := &logWriter{f: f, start: start, max: max, lineStart: true, fileNL: true}
	l.last.Store(start.UnixNano())
	return l
}

func (l *logWriter) stamp(now time.Time) []byte {
	d := max(now.Sub(l.start), 0)
	secs := int64(d / time.Second)
	return fmt.Appendf(nil, "[%02d:%02d] ", secs/60, secs%60)
}

// Write takes command output. It never fails, so that a full disk or the
// cap do not disturb the build; a write error is kept for Err.
func (l *logWriter) Write(p []byte) (int, error) {
	now := time.Now()
	l.last.Store(now.UnixNano())
	l.mu.Lock()
	defer l.mu.Unlock()
	l.write(p, now)
	return len(p), nil
}

func (l *logWriter) write(p []byte, now time.Time) {
	l.buf = l.buf[:0]
	var stamp []byte
	for len(p) > 0 {
		if l.lineStart {
			if stamp == nil {
				stamp = l.stamp(now)
			}
			l.buf = append(l.buf, stamp...)
			l.lineStamp = append(l.lineStamp[:0], stamp...)
			l.lineStart = false
		}
		i := bytes.IndexByte(p, '\n')
		chunk := p
		if i >= 0 {
			chunk = p[:i+1]
		}
		l.buf = append(l.buf, chunk...)
		text := bytes.TrimSuffix(chunk, []byte("\n"))
		if room := maxErrorLineLen - len(l.line); room > 0 {
			l.line = append(l.line, text[:min(room, len(text))]...)
		}
		if i >= 0 {
			l.endLine()
			l.lineStart = true
		}
		p = p[len(chunk):]
	}
	l.emit(l.buf)
}

// endLine looks at the finished line.
func (l *logWriter) endLine() {
	line := bytes.TrimRight(l.line, "\r")
	if bytes.Contains(line, []byte("uncaught target signal")) {
		l.qemuCrash = true
	}
	if len(l.errLines) < maxErrorLines && errorLooking(line) {
		l.errLines = append(l.errLines, strings.ToValidUTF8(string(l.lineStamp)+string(bytes.TrimSpace(line)), "?"))
	}
	l.line = l.line[:0]
}

// emit writes b to the file unless the cap is reached. At the cap the log
// is cut after the last whole line that fits, and the marker line follows.
func (l *logWriter) emit(b []byte) {
	if l.truncated || len(b) == 0 {
		return
	}
	if l.written+int64(len(b)) > l.max {
		fits := b[:max(l.max-l.written, 0)]
		if i := bytes.LastIndexByte(fits, '\n'); i >= 0 {
			l.put(fits[:i+1])
		}
		l.truncated = true
		marker := fmt.Appendf(nil, "%sapkfarm: log truncated at %d bytes; further output discarded\n",
			l.stamp(time.Now()), l.max)
		if !l.fileNL {
			marker = append([]byte("\n"), marker...)
		}
		l.put(marker)
		return
	}
	l.put(b)
}

func (l *logWriter) put(b []byte) {
	if l.err != nil || len(b) == 0 {
		return
	}
	n, err := l.f.Write(b)
	l.written += int64(n)
	if n > 0 {
		l.fileNL = b[n-1] == '\n'
	}
	if err != nil {
		l.err = err
	}
}

// Notef writes a line of the runner's own, "apkfarm: ...", starting on a
// line of its own. Runner lines are written even past the cap, so that a
// truncated log still says how the attempt ended.
func (l *logWriter) Notef(format string, args ...any) {
	now := time.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	var b []byte
	if !l.lineStart {
		// The output's unfinished line ends here.
		l.line = l.line[:0]
		l.lineStart = true
	}
	if !l.fileNL {
		b = append(b, '\n')
	}
	b = append(b, l.stamp(now)...)
	b = append(b, "apkfarm: "...)
	b = fmt.Appendf(b, format, args...)
	b = append(b, '\n')
	if l.truncated {
		l.put(b)
		return
	}
	l.emit(b)
}

// Idle returns how long no output came.
func (l *logWriter) Idle(now time.Time) time.Duration {
	return now.Sub(time.Unix(0, l.last.Load()))
}

// ErrorLines returns the first error-looking lines.
func (l *logWriter) ErrorLines() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]string(nil), l.errLines...)
}

// QemuCrash reports whether qemu said "uncaught target signal".
func (l *logWriter) QemuCrash() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.qemuCrash
}

// Err returns the first error writing the file.
func (l *logWriter) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// logDir returns the directory of (arch, pkgname)'s logs.
func logDir(stateDir, arch, pkgname string) string {
	return filepath.Join(stateDir, "logs", arch, pkgname)
}

// nextAttempt returns 1 + the highest attempt number of version found in
// dir, as <version>-<n>.log or .log.gz.
func nextAttempt(dir, version string) (int, error) {
	ents, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		return 0, err
	}
	n := 0
	for _, e := range ents {
		name := e.Name()
		name = strings.TrimSuffix(name, ".gz")
		rest, ok := strings.CutSuffix(name, ".log")
		if !ok {
			continue
		}
		rest, ok = strings.CutPrefix(rest, version+"-")
		if !ok {
			continue
		}
		if k, err := strconv.Atoi(rest); err == nil && k > n {
			n = k
		}
	}
	return n + 1, nil
}

// gzipLog compresses path into path+".gz" (written to a temporary file and
// renamed) and removes path.
func gzipLog(path string) error {
	in, err := os.Open(path)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := safefile.Create(path+".gz", 0o644)
	if err != nil {
		return err
	}
	zw, err := gzip.NewWriterLevel(out, gzip.DefaultCompression)
	if err == nil {
		_, err = io.Copy(zw, in)
	}
	if err == nil {
		err = zw.Close()
	}
	if err == nil {
		err = out.Commit()
	}
	if err != nil {
		out.Abort()
		return err
	}
	return os.Remove(path)
}

// touch restarts the idle clock (before a step that prints nothing, such
// as a copy).
func (l *logWriter) touch() { l.last.Store(time.Now().UnixNano()) }
