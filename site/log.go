package site

import (
	"bufio"
	"bytes"
	"fmt"
	"html/template"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/state"
	"github.com/klauspost/compress/gzip"
)

// logFormat changes whenever the markup of a log page's body changes, so
// that log pages already rendered are rendered again.
const logFormat = 1

// Limits of a log page. A log of more than hugeLines lines shows its
// first headLines and its last tailLines; the raw log has everything.
const (
	hugeLines   = 20000
	headLines   = 2000
	tailLines   = 8000
	maxLineShow = 8 << 10   // bytes of one line shown; the rest is cut
	maxInflate  = 512 << 20 // bytes of a log read at most
)

// logSource is one attempt's log to render.
type logSource struct {
	arch, pkg string
	at        state.Attempt
	page, raw string
}

// logJobs lists the log pages to render: every attempt's log that exists,
// except those whose page and raw copy a render with the same log
// templates already made.
func (r *renderer) logJobs() []job {
	r.logs = map[string]bool{}
	same := r.w.prevHeader == r.manifestHeader()
	var jobs []job
	for _, arch := range r.m.arches {
		aports := r.m.st.Arches[arch].Aports
		for _, name := range sortedKeys(aports) {
			for _, at := range aports[name].Attempts {
				page, raw, ok := logPaths(at.Log)
				if !ok {
					if at.Log != "" {
						r.opt.Logger.Warn("log path ignored: not logs/<arch>/<pkgname>/<file>.log.gz", "arch", arch, "aport", name, "log", at.Log)
					}
					continue
				}
				if r.logs[at.Log] {
					continue
				}
				// A log is immutable: once its page and copy are made
				// with these templates, it is not looked at again.
				if same && r.w.kept(page) && r.w.kept(raw) {
					r.logs[at.Log] = true
					r.w.countLog(true)
					continue
				}
				fi, err := os.Lstat(filepath.Join(r.opt.StateDir, at.Log))
				if err != nil || !fi.Mode().IsRegular() {
					continue // pruned, or the run has not compressed it yet
				}
				r.logs[at.Log] = true
				src := logSource{arch: arch, pkg: name, at: at, page: page, raw: raw}
				jobs = append(jobs, func() error { return r.logPage(src) })
			}
		}
	}
	return jobs
}

// logAvailable reports whether the log has a page (after logJobs).
func (r *renderer) logAvailable(log string) bool { return r.logs[log] }

type logView struct {
	Pkg, PkgPage, Arch, Version, Class, Raw string
	N, ExitCode                             int
	Start, End                              time.Time
	DurationMS                              int64
	Errors                                  []errLink
	Body                                    template.HTML
	Lines, Omitted, OmitAfter, Tail         int
	Truncated                               bool
	RawBytes                                int64
}

type errLink struct {
	Text string
	Line int
}

func (r *renderer) logPage(src logSource) error {
	path := filepath.Join(r.opt.StateDir, src.at.Log)
	raw, err := safefile.ReadFile(path, maxInflate)
	if err != nil {
		return fmt.Errorf("render log: %w", err)
	}
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	if err != nil {
		r.opt.Logger.Warn("log is not gzip; shown as it is", "log", path, "err", err)
	}
	var in io.Reader = bytes.NewReader(raw)
	if err == nil {
		in = zr
	}
	v := logView{Pkg: src.pkg, PkgPage: pkgPath(src.pkg), Arch: src.arch, Version: src.at.Version, Class: src.at.Class,
		Raw: src.raw, N: attemptNumber(src.at.Log), ExitCode: src.at.ExitCode, Start: src.at.Start, End: src.at.End,
		DurationMS: src.at.DurationMS, RawBytes: int64(len(raw))}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	res, err := renderLog(buf, in, src.at.ErrorLines)
	if err != nil {
		r.opt.Logger.Warn("log unreadable past a point; shown up to it", "log", path, "err", err)
		res.truncated = true
	}
	v.Body = template.HTML(buf.String())
	v.Lines, v.Omitted, v.OmitAfter, v.Truncated = res.lines, res.omitted, res.omitAfter, res.truncated
	v.Tail = v.Lines - v.Omitted - v.OmitAfter
	for i, e := range src.at.ErrorLines {
		v.Errors = append(v.Errors, errLink{Text: cleanText(e), Line: res.errLine[i]})
	}
	title := fmt.Sprintf("%s %s on %s: log", src.pkg, src.at.Version, src.arch)
	if err := r.exec(src.page, "log.html", title, "", v, false); err != nil {
		return err
	}
	if err := r.w.link(src.raw, path, int64(len(raw))); err != nil {
		return err
	}
	r.w.countLog(false)
	return nil
}

// attemptNumber is n of "<version>-<n>.log.gz", 0 when there is none.
func attemptNumber(log string) int {
	stem := strings.TrimSuffix(filepath.Base(log), ".log.gz")
	n, err := strconv.Atoi(stem[strings.LastIndexByte(stem, '-')+1:])
	if err != nil {
		return 0
	}
	return n
}

type logResult struct {
	lines, omitted, omitAfter int
	truncated                 bool
	// errLine is, per error line, the number of the log line it is, 0
	// when not shown.
	errLine []int
}

// renderLog writes the lines of in as HTML, one element a line with an
// anchor "L<n>", escaped, with ANSI colours turned into classes and every
// other control character, and bytes that are not UTF-8, made harmless.
// A log of more than hugeLines lines keeps its head and tail.
func renderLog(w *bytes.Buffer, in io.Reader, errLines []string) (logResult, error) {
	res := logResult{errLine: make([]int, len(errLines))}
	want := make([][]byte, len(errLines))
	for i, e := range errLines {
		want[i] = []byte(strings.TrimSpace(cleanText(e)))
	}
	br := bufio.NewReaderSize(io.LimitReader(in, maxInflate+1), 64<<10)
	var (
		a       ansi
		read    int64
		headEnd int // bytes of w after headLines lines
		ring    [][]byte
		ringPos int
		long    []byte
		err     error
	)
	for {
		var line []byte
		line, err = br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			// A very long line: gather it (up to the cap shown).
			long = append(long[:0], line...)
			for err == bufio.ErrBufferFull {
				line, err = br.ReadSlice('\n')
				read += int64(len(line))
				if len(long) < maxLineShow {
					long = append(long, line...)
				}
			}
			line = long
		}
		if len(line) == 0 && err != nil {
			break
		}
		read += int64(len(line))
		res.lines++
		n := res.lines
		if n <= hugeLines {
			writeLine(w, &a, n, line, matchErr(line, want, res.errLine, n))
			if n == headLines {
				headEnd = w.Len()
			}
		} else {
			if ring == nil {
				ring = make([][]byte, tailLines)
			}
			ring[ringPos%tailLines] = append(ring[ringPos%tailLines][:0], line[:min(len(line), maxLineShow)]...)
			ringPos++
		}
		if err != nil {
			break
		}
	}
	if read > maxInflate {
		res.truncated = true
	}
	if err == io.EOF {
		err = nil
	}
	if res.lines > hugeLines {
		// Head, a gap, tail: the lines past the head that the ring kept.
		w.Truncate(headEnd)
		kept := min(ringPos, tailLines)
		first := res.lines - kept + 1
		res.omitAfter, res.omitted = headLines, first-headLines-1
		for i := range res.errLine {
			if res.errLine[i] > headLines {
				res.errLine[i] = 0
			}
		}
		fmt.Fprintf(w, `<span class="gap" id="gap">… %d lines not shown: the whole log is in the raw file …</span>`, res.omitted)
		a = ansi{}
		for i := range kept {
			line := ring[(ringPos-kept+i)%tailLines]
			writeLine(w, &a, first+i, line, matchErr(line, want, res.errLine, first+i))
		}
	}
	return res, err
}

// matchErr reports whether line is one of the error lines not yet found,
// and records where.
func matchErr(line []byte, want [][]byte, found []int, n int) bool {
	hit := false
	for i, e := range want {
		if found[i] != 0 || len(e) == 0 {
			continue
		}
		plain := line
		if bytes.IndexByte(line, 0x1b) >= 0 {
			plain = []byte(cleanText(string(line)))
		}
		if bytes.Contains(plain, e) {
			found[i], hit = n, true
		}
	}
	return hit
}

// writeLine writes one log line.
func writeLine(w *bytes.Buffer, a *ansi, n int, line []byte, isErr bool) {
	line = bytes.TrimRight(line, "\n")
	line = bytes.TrimSuffix(line, []byte("\r"))
	if i := bytes.LastIndexByte(line, '\r'); i >= 0 {
		// What a terminal shows after carriage returns: the last part,
		// after the runner's time stamp.
		if n := stampLen(line); n > 0 && i >= n {
			line = append(line[:n:n], line[i+1:]...)
		} else {
			line = line[i+1:]
		}
	}
	if len(line) > maxLineShow {
		line = line[:maxLineShow]
	}
	ns := strconv.Itoa(n)
	if isErr {
		w.WriteString(`<span class="l e" id="L`)
	} else {
		w.WriteString(`<span class="l" id="L`)
	}
	w.WriteString(ns)
	w.WriteString(`"><a href="#L`)
	w.WriteString(ns)
	w.WriteString(`">`)
	w.WriteString(ns)
	w.WriteString(`</a>`)
	a.reopen(w)
	for i := 0; i < len(line); {
		c := line[i]
		switch {
		case c == '<':
			w.WriteString("&lt;")
			i++
		case c == '>':
			w.WriteString("&gt;")
			i++
		case c == '&':
			w.WriteString("&amp;")
			i++
		case c == '\t':
			w.WriteByte(c)
			i++
		case c == 0x1b:
			i += a.escape(w, line[i:])
		case c < 0x20 || c == 0x7f:
			i++ // other control characters: dropped
		case c < 0x80:
			j := i + 1
			for j < len(line) && line[j] >= 0x20 && line[j] < 0x7f && line[j] != '<' && line[j] != '>' && line[j] != '&' {
				j++
			}
			w.Write(line[i:j])
			i = j
		default:
			r, size := utf8.DecodeRune(line[i:])
			switch {
			case r == utf8.RuneError && size <= 1:
				w.WriteString("\uFFFD")
			case r >= 0x80 && r < 0xa0, r == 0x2028, r == 0x2029:
				// C1 controls and line separators: dropped
			default:
				w.Write(line[i : i+size])
			}
			i += size
		}
	}
	a.close(w)
	w.WriteString("</span>")
}

// stampLen is the length of the runner's "[mm:ss] " at the start of a
// log line, 0 when there is none.
func stampLen(line []byte) int {
	end := bytes.Index(line, []byte("] "))
	if len(line) < 8 || line[0] != '[' || end < 3 || end > 12 {
		return 0
	}
	for _, c := range line[1:end] {
		if (c < '0' || c > '9') && c != ':' {
			return 0
		}
	}
	return end + 2
}

// ansi tracks the SGR state (colour, bold) of a log across lines.
type ansi struct {
	fg   int // 0 default, 1..16 the 16 colours
	bold bool
	open bool
}

// escape consumes one escape sequence at the start of s (s[0] is ESC) and
// returns its length. SGR sequences change the state; everything else
// (cursor movement, OSC titles and links) is dropped.
func (a *ansi) escape(w *bytes.Buffer, s []byte) int {
	if len(s) < 2 {
		return len(s)
	}
	switch s[1] {
	case '[':
		j := 2
		for j < len(s) && s[j] >= 0x30 && s[j] <= 0x3f {
			j++
		}
		for j < len(s) && s[j] >= 0x20 && s[j] <= 0x2f {
			j++
		}
		if j >= len(s) {
			return len(s)
		}
		if s[j] == 'm' {
			a.sgr(w, string(s[2:j]))
		}
		return j + 1
	case ']': // OSC: up to BEL or ST
		for j := 2; j < len(s); j++ {
			if s[j] == 0x07 {
				return j + 1
			}
			if s[j] == 0x1b && j+1 < len(s) && s[j+1] == '\\' {
				return j + 2
			}
		}
		return len(s)
	}
	return 2
}

func (a *ansi) sgr(w *bytes.Buffer, params string) {
	fg, bold := a.fg, a.bold
	if params == "" {
		params = "0"
	}
	for _, p := range strings.Split(params, ";") {
		n, err := strconv.Atoi(p)
		if err != nil {
			continue
		}
		switch {
		case n == 0:
			fg, bold = 0, false
		case n == 1:
			bold = true
		case n == 22:
			bold = false
		case n >= 30 && n <= 37:
			fg = n - 29
		case n == 39:
			fg = 0
		case n >= 90 && n <= 97:
			fg = n - 81
		}
	}
	if fg == a.fg && bold == a.bold {
		return
	}
	a.close(w)
	a.fg, a.bold = fg, bold
	a.reopen(w)
}

// reopen opens the span of the current state, if it is not the default.
func (a *ansi) reopen(w *bytes.Buffer) {
	if a.fg == 0 && !a.bold {
		return
	}
	w.WriteString(`<span class="`)
	if a.fg != 0 {
		w.WriteString("c")
		w.WriteString(strconv.Itoa(a.fg))
	}
	if a.bold {
		if a.fg != 0 {
			w.WriteByte(' ')
		}
		w.WriteString("b")
	}
	w.WriteString(`">`)
	a.open = true
}

func (a *ansi) close(w *bytes.Buffer) {
	if a.open {
		w.WriteString("</span>")
		a.open = false
	}
}

// cleanText drops escape sequences and control characters from a line
// the state quotes (error lines), and replaces bytes that are not UTF-8.
func cleanText(s string) string {
	ok := utf8.ValidString(s)
	for i := 0; ok && i < len(s); i++ {
		ok = s[i] >= 0x20 && s[i] != 0x7f || s[i] == '\t'
	}
	if ok {
		return s
	}
	var w bytes.Buffer
	var a ansi
	b := []byte(s)
	for i := 0; i < len(b); {
		c := b[i]
		switch {
		case c == 0x1b:
			var sink bytes.Buffer
			i += a.escape(&sink, b[i:])
		case c < 0x20 && c != '\t' || c == 0x7f:
			i++
		default:
			r, size := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && size <= 1 {
				w.WriteString("\uFFFD")
			} else if r < 0x80 || r >= 0xa0 {
				w.Write(b[i : i+size])
			}
			i += size
		}
	}
	return w.String()
}
