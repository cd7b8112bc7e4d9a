package site

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"

	"github.com/apkfarm/apkfarm/internal/safefile"
)

// manifestName lists every file of the site, one path a line after a
// header line: the next render deletes what it lists and no longer makes,
// and nothing else, so a site rendered into a directory with other files
// leaves them alone.
const manifestName = ".apkfarm-site"

// writer puts files into the output directory, leaving alone those whose
// bytes are already right.
type writer struct {
	out string

	mu       sync.Mutex
	files    map[string]bool
	written  int
	logs     int
	logsKept int

	// prev is the previous render's manifest: its files and header.
	prev       []string
	prevHeader string
}

func newWriter(out string) *writer {
	w := &writer{out: out, files: map[string]bool{}}
	b, err := safefile.ReadFile(filepath.Join(out, manifestName), 64<<20)
	if err == nil {
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		first := true
		for sc.Scan() {
			if first {
				w.prevHeader, first = sc.Text(), false
				continue
			}
			if p := sc.Text(); safeRel(p) {
				w.prev = append(w.prev, p)
			}
		}
	}
	return w
}

// put makes rel hold b.
func (w *writer) put(rel string, b []byte) error {
	w.keep(rel)
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

// keep records rel as a file of the site without writing it.
func (w *writer) keep(rel string) {
	w.mu.Lock()
	w.files[rel] = true
	w.mu.Unlock()
}

// exists reports whether rel is a regular file in the output.
func (w *writer) exists(rel string) bool {
	fi, err := os.Lstat(filepath.Join(w.out, rel))
	return err == nil && fi.Mode().IsRegular()
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
	return Stats{Files: len(w.files), Written: w.written, Logs: w.logs, LogsKept: w.logsKept}
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
	b.WriteString(header + "\n")
	for _, p := range paths {
		b.WriteString(p + "\n")
	}
	for _, p := range w.prev {
		if w.files[p] {
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
	if err := w.put(manifestName, []byte(b.String())); err != nil {
		return removed, err
	}
	return removed, nil
}

// safeRel accepts a clean relative path that stays inside its root.
func safeRel(p string) bool {
	return p != "" && !filepath.IsAbs(p) && filepath.Clean(p) == p && p != ".." && !strings.HasPrefix(p, "../")
}
