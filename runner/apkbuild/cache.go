package apkbuild

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"

	"github.com/apkfarm/apkfarm/internal/safefile"
)

// The cache is one index file per tree root in the cache directory,
// index-<hash of the root's absolute path>.bin, rewritten atomically
// (temporary file, then rename) after a scan that changed anything. It
// holds, per aport path: the APKBUILD's content hash, the file's size,
// modification and change times and inode (when they all match, the hash
// is taken as it is, as git does with its index), and the encoded results
// per arch. The header carries cacheFormat and EvaluatorVersion: a
// mismatch discards the whole index, so a code change invalidates it.
//
// Results are encoded in a small binary form (encodeAport) and decoded only
// when used: a warm scan of a 15,000-aport tree reads one file.

// cacheFormat changes when the file layout changes.
const cacheFormat = 2

const cacheMagic = "apkfarm-apkbuild-cache\n"

// fileStamp is what a stat of an APKBUILD says; equal stamps mean an
// unchanged file.
type fileStamp struct {
	size, mtime, ctime int64
	ino                uint64
}

func stampOf(fi fs.FileInfo) fileStamp {
	st := fileStamp{size: fi.Size(), mtime: fi.ModTime().UnixNano()}
	if sys, ok := fi.Sys().(*syscall.Stat_t); ok {
		st.ctime = sys.Ctim.Sec*1e9 + sys.Ctim.Nsec
		st.ino = sys.Ino
	}
	return st
}

// cacheEntry is one aport's cached results.
type cacheEntry struct {
	rel     string
	hash    string
	stamp   fileStamp
	results map[string][]byte // arch → encodeAport
}

// indexCache is the loaded index plus the entries of this scan.
type indexCache struct {
	file string
	old  map[string]*cacheEntry // rel → entry, as loaded

	mu      sync.Mutex
	fresh   map[string]*cacheEntry // rel → entry, for every aport of this scan
	changed bool
}

func openIndexCache(dir, root string) (*indexCache, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("scan aports: create cache: %w", err)
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("scan aports: %w", err)
	}
	sum := sha256.Sum256([]byte(abs))
	c := &indexCache{
		file:  filepath.Join(dir, "index-"+hex.EncodeToString(sum[:8])+".bin"),
		old:   map[string]*cacheEntry{},
		fresh: map[string]*cacheEntry{},
	}
	b, err := safefile.ReadFile(c.file, 0) // a FIFO is an error, not a wait
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("scan aports: read cache: %w", err)
		}
		return c, nil
	}
	if entries, err := decodeIndex(b); err == nil {
		c.old = entries
	} // a corrupt or outdated index is ignored: it is rewritten
	return c, nil
}

// lookup returns the cached entry for rel if the file's stamp matches.
func (c *indexCache) lookup(rel string, st fileStamp) *cacheEntry {
	e := c.old[rel]
	if e == nil || e.stamp != st {
		return nil
	}
	return e
}

// byHash returns the cached entry for rel if its content hash matches.
func (c *indexCache) byHash(rel, hash string) *cacheEntry {
	e := c.old[rel]
	if e == nil || e.hash != hash {
		return nil
	}
	return e
}

// keep records the entry of one aport of this scan.
func (c *indexCache) keep(e *cacheEntry, changed bool) {
	c.mu.Lock()
	c.fresh[e.rel] = e
	if changed {
		c.changed = true
	}
	c.mu.Unlock()
}

// save writes the index when this scan changed it. Entries of aports this
// scan did not visit are kept when filtered is set (they may be outside
// the filters), and dropped otherwise (the aport is gone).
func (c *indexCache) save(filtered bool) error {
	all := c.fresh
	if filtered {
		for rel, e := range c.old {
			if _, ok := all[rel]; !ok {
				all[rel] = e
			}
		}
	}
	if !c.changed && len(all) == len(c.old) {
		return nil
	}
	b := encodeIndex(all)
	if err := safefile.Write(c.file, b, 0o644); err != nil {
		return fmt.Errorf("write cache: %w", err)
	}
	return nil
}

func encodeIndex(entries map[string]*cacheEntry) []byte {
	rels := make([]string, 0, len(entries))
	for rel := range entries {
		rels = append(rels, rel)
	}
	sort.Strings(rels)
	var w encoder
	w.buf = append(w.buf, cacheMagic...)
	w.uint(cacheFormat)
	w.str(EvaluatorVersion)
	w.uint(uint64(len(rels)))
	for _, rel := range rels {
		e := entries[rel]
		w.str(e.rel)
		w.str(e.hash)
		w.int(e.stamp.size)
		w.int(e.stamp.mtime)
		w.int(e.stamp.ctime)
		w.uint(e.stamp.ino)
		arches := make([]string, 0, len(e.results))
		for a := range e.results {
			arches = append(arches, a)
		}
		sort.Strings(arches)
		w.uint(uint64(len(arches)))
		for _, a := range arches {
			w.str(a)
			w.bytes(e.results[a])
		}
	}
	return w.buf
}

var errCorrupt = errors.New("corrupt cache index")

func decodeIndex(b []byte) (map[string]*cacheEntry, error) {
	if !bytes.HasPrefix(b, []byte(cacheMagic)) {
		return nil, errCorrupt
	}
	r := decoder{buf: b[len(cacheMagic):]}
	if r.uint() != cacheFormat || r.str() != EvaluatorVersion {
		return nil, errors.New("outdated cache index")
	}
	n := r.uint()
	if r.err != nil || n > uint64(len(b)) {
		return nil, errCorrupt
	}
	out := make(map[string]*cacheEntry, n)
	for i := uint64(0); i < n && r.err == nil; i++ {
		e := &cacheEntry{rel: r.str(), hash: r.str()}
		e.stamp = fileStamp{size: r.int(), mtime: r.int(), ctime: r.int(), ino: r.uint()}
		na := r.uint()
		if na > uint64(len(b)) {
			return nil, errCorrupt
		}
		e.results = make(map[string][]byte, na)
		for j := uint64(0); j < na && r.err == nil; j++ {
			arch := r.str()
			e.results[arch] = r.bytes()
		}
		out[e.rel] = e
	}
	if r.err != nil {
		return nil, r.err
	}
	return out, nil
}

// encoder and decoder write and read uvarints, varints and
// length-prefixed strings.
type encoder struct{ buf []byte }

func (w *encoder) uint(v uint64)  { w.buf = binary.AppendUvarint(w.buf, v) }
func (w *encoder) int(v int64)    { w.buf = binary.AppendVarint(w.buf, v) }
func (w *encoder) str(s string)   { w.uint(uint64(len(s))); w.buf = append(w.buf, s...) }
func (w *encoder) bytes(b []byte) { w.uint(uint64(len(b))); w.buf = append(w.buf, b...) }
func (w *encoder) bool(b bool) {
	if b {
		w.uint(1)
	} else {
		w.uint(0)
	}
}
func (w *encoder) list(l []string) {
	w.uint(uint64(len(l)))
	for _, s := range l {
		w.str(s)
	}
}

type decoder struct {
	buf []byte
	err error
}

func (r *decoder) uint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.buf)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *decoder) int() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.buf)
	if n <= 0 {
		r.err = errCorrupt
		return 0
	}
	r.buf = r.buf[n:]
	return v
}

func (r *decoder) bytes() []byte {
	n := r.uint()
	if r.err != nil || n > uint64(len(r.buf)) {
		r.err = errCorrupt
		return nil
	}
	b := r.buf[:n:n]
	r.buf = r.buf[n:]
	return b
}

func (r *decoder) str() string { return string(r.bytes()) }
func (r *decoder) bool() bool  { return r.uint() != 0 }

func (r *decoder) list() []string {
	n := r.uint()
	if r.err != nil || n > uint64(len(r.buf)) {
		r.err = errCorrupt
		return []string{}
	}
	l := make([]string, n)
	for i := range l {
		l[i] = r.str()
	}
	return l
}

// encodeAport encodes every field of a (TestAportEncodingCoversFields
// fails when a field is added to Aport or Subpackage and not here).
func encodeAport(a *Aport) []byte {
	var w encoder
	for _, s := range []string{a.Path, a.Hash, a.Arch, a.Pkgname, a.Pkgver, a.Pkgrel, a.Pkgdesc, a.URL, a.License, a.ProviderPriority, a.Error} {
		w.str(s)
	}
	for _, l := range [][]string{a.Arches, a.Depends, a.Makedepends, a.MakedependsBuild, a.MakedependsHost,
		a.Checkdepends, a.Provides, a.Replaces, a.InstallIf, a.Options, a.Source, a.Warnings} {
		w.list(l)
	}
	w.bool(a.Applies)
	w.uint(uint64(len(a.Subpackages)))
	for _, sp := range a.Subpackages {
		w.str(sp.Name)
		w.str(sp.Func)
		w.str(sp.Pkgdesc)
		w.bool(sp.Arches != nil)
		w.list(sp.Arches)
		w.list(sp.Depends)
		w.list(sp.Provides)
		w.list(sp.InstallIf)
	}
	return w.buf
}

func decodeAport(b []byte) (*Aport, error) {
	r := decoder{buf: b}
	a := &Aport{}
	for _, p := range []*string{&a.Path, &a.Hash, &a.Arch, &a.Pkgname, &a.Pkgver, &a.Pkgrel, &a.Pkgdesc, &a.URL, &a.License, &a.ProviderPriority, &a.Error} {
		*p = r.str()
	}
	for _, p := range []*[]string{&a.Arches, &a.Depends, &a.Makedepends, &a.MakedependsBuild, &a.MakedependsHost,
		&a.Checkdepends, &a.Provides, &a.Replaces, &a.InstallIf, &a.Options, &a.Source, &a.Warnings} {
		*p = r.list()
	}
	if len(a.Warnings) == 0 {
		a.Warnings = nil
	}
	a.Applies = r.bool()
	n := r.uint()
	if r.err != nil || n > uint64(len(b)) {
		return nil, errCorrupt
	}
	a.Subpackages = make([]Subpackage, n)
	for i := range a.Subpackages {
		sp := &a.Subpackages[i]
		sp.Name, sp.Func, sp.Pkgdesc = r.str(), r.str(), r.str()
		hasArch := r.bool()
		sp.Arches = r.list()
		if !hasArch {
			sp.Arches = nil
		}
		sp.Depends, sp.Provides, sp.InstallIf = r.list(), r.list(), r.list()
	}
	if r.err != nil || len(r.buf) != 0 {
		return nil, errCorrupt
	}
	return a, nil
}
