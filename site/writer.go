package site

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/apkfarm/apkfarm/internal/safefile"
)

// manifestName lists every file of the site after a header line, one a
// line: its path, a tab and a hash of its content. The next render deletes
// what it lists and no longer makes, and nothing else, so a site rendered
// into a directory with other files leaves them alone; and it trusts a
// listed hash, so a file whose new content has that hash is not even
// looked at. Deleting the manifest makes the next render check every file.
const manifestName = ".apkfarm-site"

// writer puts files into the output directory, leaving alone those whose
// bytes are already right.
type writer struct {
	out string

	mu       sync.Mutex
	files    map[string]string // path → content hash
	written  int
	logs     int
	logsKept int

	// prev is the previous render's manifest: its files and header.
	prev       map[string]string
	prevHeader string
	prevRaw    []byte
}

func newWriter(out string) *writer {
	w := &writer{out: out, files: map[string]string{}, prev: map[string]string{}}
	b, err := safefile.ReadFile(filepath.Join(out, manifestName), 64<<20)
	if err == nil {
		w.prevRaw = b
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		first := true
		for sc.Scan() {
			if first {
				w.prevHeader, first = sc.Text(), false
				continue
			}
			p, h, _ := strings.Cut(sc.Text(), "\t")
			if safeRel(p) {
				w.prev[p] = h
			}
		}
	}
	return w
}

// put makes rel hold b.
func (w *writer) put(rel string, b []byte) error {
	sum := sha256.Sum256(b)
	h := hex.EncodeToString(sum[:12])
	if w.keepIf(rel, h) {
		return nil
	}
	return w.write(rel, b)
}

// write makes rel hold b, unless it does already.
func (w *writer) write(rel string, b []byte) error {
	full := filepath.Join(w.out, rel)
	if fi, err := os.Lstat(full); err == nil && fi.Mode().IsRegular() && fi.Size() == int64(len(b)) {
		if old, err := os.ReadFile(full); err == nil && bytes.Equal(old, b) {
			return nil
		}
	}
	if err := safefile.WriteUnsynced(full, b, 0o644); err != nil {
		return fmt.Errorf("render site: %w", err)
	}
	w.mu.Lock()
	w.written++
	w.mu.Unlock()
	return nil
}

// link makes rel a hard link to src (a file that is never changed in
// place), or a copy, readable by all, where a link cannot be made (another
// filesystem) or src is not readable by all. An existing rel of the same
// size is kept.
func (w *writer) link(rel, src string, size int64) error {
	if w.keepIf(rel, "size:"+strconv.FormatInt(size, 10)) {
		return nil
	}
	full := filepath.Join(w.out, rel)
	if fi, err := os.Lstat(full); err == nil && fi.Mode().IsRegular() && fi.Size() == size {
		return nil
	}
	os.Remove(full)
	err := errors.New("not world-readable: copied")
	if sfi, serr := os.Lstat(src); serr == nil && sfi.Mode().Perm()&0o004 != 0 {
		err = os.Link(src, full)
	}
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(filepath.Dir(full), 0o755); err == nil {
			err = os.Link(src, full)
		}
	}
	if err != nil {
		b, rerr := safefile.ReadFile(src, maxInflate)
		if rerr != nil {
			return fmt.Errorf("render site: %w", rerr)
		}
		if err := safefile.WriteUnsynced(full, b, 0o644); err != nil {
			return fmt.Errorf("render site: %w", err)
		}
	}
	w.mu.Lock()
	w.written++
	w.mu.Unlock()
	return nil
}

// keepIf records rel with content hash h, and reports whether the previous
// render made it with the same hash (so it need not be written).
func (w *writer) keepIf(rel, h string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.files[rel] = h
	return w.prev[rel] == h
}

// kept records rel as it was in the previous render, and reports whether
// it was there.
func (w *writer) kept(rel string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	h, ok := w.prev[rel]
	if ok {
		w.files[rel] = h
	}
	return ok
}

func (w *writer) countLog(kept bool) {
	w.mu.Lock()
	if kept {
		w.logsKept++
	} else {
		w.logs++
	}
	w.mu.Unlock()
}

func (w *writer) stats() Stats {
	w.mu.Lock()
	defer w.mu.Unlock()
	return Stats{Files: len(w.files) + 1, Written: w.written, Logs: w.logs, LogsKept: w.logsKept}
}

// finish writes the manifest (header first) and deletes the files of the
// previous manifest that this render did not make, and directories left
// empty by that.
func (w *writer) finish(header string) (removed int, err error) {
	paths := make([]string, 0, len(w.files))
	for p := range w.files {
		paths = append(paths, p)
	}
	slices.Sort(paths)
	var b strings.Builder
	b.Grow(len(paths) * 80)
	b.WriteString(header + "\n")
	for _, p := range paths {
		b.WriteString(p)
		b.WriteByte('\t')
		b.WriteString(w.files[p])
		b.WriteByte('\n')
	}
	for p := range w.prev {
		if _, ok := w.files[p]; ok || p == manifestName {
			continue
		}
		full := filepath.Join(w.out, p)
		if err := os.Remove(full); err != nil && !isNotExist(err) {
			return removed, fmt.Errorf("render site: remove stale file: %w", err)
		}
		removed++
		for dir := filepath.Dir(p); dir != "." && dir != "/"; dir = filepath.Dir(dir) {
			if os.Remove(filepath.Join(w.out, dir)) != nil {
				break // not empty
			}
		}
	}
	if b.String() == string(w.prevRaw) {
		return removed, nil
	}
	if err := safefile.WriteUnsynced(filepath.Join(w.out, manifestName), []byte(b.String()), 0o644); err != nil {
		return removed, fmt.Errorf("render site: %w", err)
	}
	w.mu.Lock()
	w.written++
	w.mu.Unlock()
	return removed, nil
}

// safeRel accepts a clean relative path that stays inside its root.
func safeRel(p string) bool {
	return p != "" && !filepath.IsAbs(p) && filepath.Clean(p) == p && p != ".." && !strings.HasPrefix(p, "../")
}
