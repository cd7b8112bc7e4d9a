package mirror

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/state"
)

// Pass is one step of a mirror's push, in the order they run.
type Pass string

// The passes of a push.
const (
	PassPackages Pass = "packages" // everything but the indexes, nothing deleted
	PassIndexes  Pass = "indexes"  // the indexes, put in place together
	PassTrees    Pass = "trees"    // the WithTree directories under their sub-paths
	PassDelete   Pass = "delete"   // what the repository no longer has; skipped when there is none
	PassReadBack Pass = "read back"
)

// Option tunes Push and Check.
type Option func(*options)

type options struct {
	rsync      string
	log        *slog.Logger
	trees      []Tree
	client     *http.Client
	indexNames []string
	maxIndex   int64
	afterPass  func(mirror string, p Pass)
}

// Tree is a directory pushed to every mirror after the indexes, under the
// sub-path Dest of the mirror's root (one path component, such as
// "status"), replacing what was there.
type Tree struct {
	Src  string
	Dest string
}

// DefaultMaxIndex caps the size of an index read from the repository or a
// mirror.
const DefaultMaxIndex = 64 << 20

// WithTree pushes directory src to dest below each mirror's root after the
// indexes (the status site, so that it never describes packages a mirror
// does not have yet). dest is one path component the repository does not
// use, such as "status". May be given more than once.
func WithTree(src, dest string) Option {
	return func(o *options) { o.trees = append(o.trees, Tree{Src: src, Dest: dest}) }
}

// WithLogger logs each mirror's outcome (Info), retries (Warn) and passes
// (Debug) to l. Default: nothing is logged.
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.log = l } }

// WithRsync runs this rsync program instead of "rsync" found on PATH.
func WithRsync(path string) Option { return func(o *options) { o.rsync = path } }

// WithHTTPClient reads check_url indexes with c (default: a plain client;
// each read is bounded by the mirror's timeout either way).
func WithHTTPClient(c *http.Client) Option { return func(o *options) { o.client = c } }

// WithIndexNames names the index files, pushed in the indexes pass and
// read back (default "APKINDEX.tar.gz"; those of that name have their
// signatures checked, others are compared by bytes only).
func WithIndexNames(names ...string) Option {
	return func(o *options) { o.indexNames = slices.Clone(names) }
}

// WithAfterPass calls f after each pass of each mirror completes, from the
// goroutine pushing that mirror (progress, and tests that look at a mirror
// between passes). Passes that have nothing to do are not run: indexes
// without indexes, trees without WithTree, delete when pass 1 found
// nothing to delete; PassReadBack comes only when the mirror reads back
// right.
func WithAfterPass(f func(mirror string, p Pass)) Option {
	return func(o *options) { o.afterPass = f }
}

func newOptions(opts []Option) *options {
	o := &options{rsync: "rsync", indexNames: []string{indexName}, maxIndex: DefaultMaxIndex}
	for _, f := range opts {
		f(o)
	}
	if o.log == nil {
		o.log = slog.New(slog.DiscardHandler)
	}
	if o.client == nil {
		o.client = &http.Client{}
	}
	return o
}

const indexName = "APKINDEX.tar.gz"

// source is the repository as Push found it.
type source struct {
	dir     string // absolute
	indexes []index
	trees   []Tree // Src absolute
	keys    *apk.Keyring
}

type index struct {
	rel string // slash path below dir
	b   []byte
}

// Push pushes the repository directory src to every target at once and
// returns one result per target, in order. keys are the public keys the
// repository's indexes are signed with: an index of src that does not
// verify is pushed nowhere. Push never returns early for a failing
// mirror; cancelling ctx kills every push under way.
func Push(ctx context.Context, src string, targets []Target, keys *apk.Keyring, opts ...Option) []state.MirrorResult {
	o := newOptions(opts)
	results := make([]state.MirrorResult, len(targets))
	s, err := o.scan(src, keys)
	if err != nil {
		now := time.Now().UTC()
		for i, t := range targets {
			results[i] = state.MirrorResult{Name: t.Name, URL: t.URL.String(), Start: now, End: now,
				Error: fmt.Sprintf("mirror %q: %v (nothing pushed)", t.Name, err)}
		}
		return results
	}
	var wg sync.WaitGroup
	for i := range targets {
		wg.Go(func() { results[i] = o.push(ctx, s, targets[i]) })
	}
	wg.Wait()
	return results
}

// scan finds and checks the repository's indexes and the trees.
func (o *options) scan(dir string, keys *apk.Keyring) (*source, error) {
	if keys == nil {
		return nil, errors.New("scan repository: no keys to check its indexes with")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("scan repository: %w", err)
	}
	s := &source{dir: abs, keys: keys}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		return nil, fmt.Errorf("scan repository: %q is not a directory", dir)
	}
	for _, t := range o.trees {
		if t.Dest == "" || t.Dest == "." || t.Dest == ".." || strings.ContainsAny(t.Dest, "/\\*?[") || slices.Contains(o.indexNames, t.Dest) {
			return nil, fmt.Errorf("push tree %q: sub-path %q must be one plain path component, such as \"status\"", t.Src, t.Dest)
		}
		if fi, err := os.Stat(t.Src); err != nil || !fi.IsDir() {
			return nil, fmt.Errorf("push tree %q: not a directory", t.Src)
		}
		if _, err := os.Lstat(filepath.Join(abs, t.Dest)); err == nil {
			return nil, fmt.Errorf("push tree %q: the repository has its own %q: choose another sub-path", t.Src, t.Dest)
		}
		tsrc, err := filepath.Abs(t.Src)
		if err != nil {
			return nil, fmt.Errorf("push tree %q: %w", t.Src, err)
		}
		s.trees = append(s.trees, Tree{Src: tsrc, Dest: t.Dest})
	}
	err = filepath.WalkDir(abs, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() || !slices.Contains(o.indexNames, d.Name()) {
			return nil
		}
		rel, _ := filepath.Rel(abs, p)
		rel = filepath.ToSlash(rel)
		b, err := safefile.ReadFile(p, o.maxIndex)
		if err != nil {
			return err
		}
		if d.Name() == indexName {
			if err := keys.VerifyIndex(b, rel); err != nil {
				return fmt.Errorf("repository index %w", err)
			}
		}
		s.indexes = append(s.indexes, index{rel: rel, b: b})
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("scan repository %s: %w", dir, err)
	}
	return s, nil
}

// errTimeout is the cause of a push's context ending at its timeout.
var errTimeout = errors.New("mirror timeout")

// passError says which pass failed.
type passError struct {
	pass Pass
	err  error
}

func (e *passError) Error() string { return string(e.pass) + ": " + e.err.Error() }
func (e *passError) Unwrap() error { return e.err }

// push pushes s to t with retries, then reads t back.
func (o *options) push(parent context.Context, s *source, t Target) state.MirrorResult {
	res := state.MirrorResult{Name: t.Name, URL: t.URL.String(), Start: time.Now().UTC()}
	ctx, cancel := context.WithTimeoutCause(parent, t.Timeout, errTimeout)
	defer cancel()
	err := t.preflight()
	for attempt := 0; err == nil; attempt++ {
		res.Attempts++
		var sent int64
		sent, err = o.passes(ctx, s, t)
		res.BytesSent += sent
		if err == nil || attempt >= t.Retries || permanent(err) || ctx.Err() != nil {
			break
		}
		wait := 5 * time.Minute
		if attempt < 16 {
			wait = min(t.Backoff<<attempt, wait)
		}
		o.log.Warn("mirror push failed, retrying", "mirror", t.Name, "attempt", res.Attempts, "in", wait, "err", err)
		if !sleep(ctx, wait) {
			break
		}
		err = nil
	}
	if err == nil {
		err = o.readBack(ctx, s, t, &res)
	}
	res.End = time.Now().UTC()
	if err != nil {
		res.Error = o.explain(ctx, t, err, res.Attempts)
		o.log.Warn("mirror failed", "mirror", t.Name, "url", res.URL, "attempts", res.Attempts,
			"lagging", res.Lagging, "err", res.Error)
		return res
	}
	res.OK = true
	o.log.Info("mirror pushed", "mirror", t.Name, "url", res.URL, "attempts", res.Attempts,
		"bytes_sent", res.BytesSent, "took", res.End.Sub(res.Start).Round(time.Millisecond))
	return res
}

// explain is a failed push's error as the result says it: naming the
// mirror, and saying so when the push ran out of time or was cancelled
// (the killed rsync's own error says nothing then).
func (o *options) explain(ctx context.Context, t Target, err error, attempts int) string {
	where := ""
	var pe *passError
	if errors.As(err, &pe) {
		where = " in pass " + string(pe.pass)
	}
	tries := fmt.Sprintf("%d attempt", attempts)
	if attempts != 1 {
		tries += "s"
	}
	if attempts == 0 {
		return fmt.Sprintf("mirror %q: %v (nothing pushed)", t.Name, err)
	}
	switch {
	case errors.Is(context.Cause(ctx), errTimeout):
		return fmt.Sprintf("mirror %q: timed out after %s%s (%s, killed)", t.Name, t.Timeout, where, tries)
	case ctx.Err() != nil:
		return fmt.Sprintf("mirror %q: cancelled%s (%s): %v", t.Name, where, tries, context.Cause(ctx))
	}
	return fmt.Sprintf("mirror %q: %v (%s)", t.Name, err, tries)
}

// passes runs the four passes of one attempt and returns the bytes rsync
// sent.
func (o *options) passes(ctx context.Context, s *source, t Target) (int64, error) {
	common := append(t.transportArgs(t.ioTimeout()), "--stats", "--no-h")
	// Copies: recursive, symbolic links as links (never one pointing out
	// of the tree), times (so that an unchanged file is skipped by size and
	// time), and modes a web server can read whatever the repository's.
	copies := []string{"-rlt", "--safe-links", "--perms", "--chmod=D755,F644"}
	var sent int64
	pending := false // deletions pass 1 found and left to pass 4
	run := func(p Pass, stdin []byte, args ...string) error {
		st, err := rsync(ctx, o.rsync, slices.Concat(common, args), stdin)
		sent += st.BytesSent
		pending = pending || st.DeletesHeld
		if err != nil {
			return &passError{p, err}
		}
		o.log.Debug("mirror pass done", "mirror", t.Name, "pass", p, "bytes_sent", st.BytesSent)
		if o.afterPass != nil {
			o.afterPass(t.Name, p)
		}
		return nil
	}
	var keepTrees []string // the trees' sub-paths: not the repository's
	for _, tr := range s.trees {
		keepTrees = append(keepTrees, "--exclude=/"+tr.Dest+"/")
	}
	var noIndexes []string // each index of the repository, by its path
	var list []byte        // the same, for --files-from
	for _, ix := range s.indexes {
		noIndexes = append(noIndexes, "--exclude=/"+escapePattern(ix.rel))
		list = append(append(list, ix.rel...), 0)
	}
	root := t.dest("")
	// --delete --max-delete=0 deletes nothing but says whether there is
	// anything to delete, so that pass 4, a second walk of both sides, runs
	// only then. What is excluded here is also kept from
	// deletion.
	err := run(PassPackages, nil, slices.Concat(copies, []string{"--delete", "--max-delete=0"}, keepTrees, noIndexes,
		[]string{s.dir + "/", root})...)
	if err != nil {
		return sent, err
	}
	if len(s.indexes) > 0 {
		// --checksum: an index rewritten within the second it was last
		// pushed, at the same size, is still sent.
		err := run(PassIndexes, list, "-lt", "--perms", "--chmod=D755,F644", "--checksum", "--delay-updates",
			"--from0", "--files-from=-", s.dir+"/", root)
		if err != nil {
			return sent, err
		}
	}
	for _, tr := range s.trees {
		err := run(PassTrees, nil, slices.Concat(copies, []string{"--checksum", "--delay-updates", "--delete-after",
			tr.Src + "/", t.dest(tr.Dest)})...)
		if err != nil {
			return sent, err
		}
	}
	if !pending {
		return sent, nil
	}
	// Delete only: --existing --ignore-existing send nothing.
	err = run(PassDelete, nil, slices.Concat(copies, []string{"--existing", "--ignore-existing", "--delete"},
		keepTrees, []string{s.dir + "/", root})...)
	return sent, err
}

// escapePattern makes a path an rsync filter pattern that matches only
// itself.
func escapePattern(p string) string {
	return strings.NewReplacer(`\`, `\\`, "*", `\*`, "?", `\?`, "[", `\[`).Replace(p)
}

// sleep waits d, or less when ctx ends first (then it returns false).
func sleep(ctx context.Context, d time.Duration) bool {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}
