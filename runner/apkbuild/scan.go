package apkbuild

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ScanOptions are the knobs of Scan.
type ScanOptions struct {
	// Arches to evaluate every aport for (required).
	Arches []string
	// Include, when not empty, keeps only aports whose directory, relative
	// to the root with slashes, or one of its parent directories, matches
	// one of these path.Match globs ("main/*", "device/testing").
	Include []string
	// Exclude skips aports whose directory or a parent matches one of
	// these globs ("device/archived").
	Exclude []string
	// CacheDir, when set, holds evaluated results keyed by the APKBUILD's
	// content and file stamp (see cache.go); an unchanged APKBUILD is not
	// evaluated again.
	CacheDir string
	// Jobs is the number of aports evaluated at once (default: all cores).
	Jobs int
	// Timeout per aport and arch (default DefaultTimeout).
	Timeout time.Duration
	// Limits for each APKBUILD (zero fields: defaults).
	Limits Limits
	// Logger receives progress at debug level and a summary at info level;
	// nil logs nothing.
	Logger *slog.Logger
}

// scanBallast is the size of the heap ballast Scan holds (see Scan).
var scanBallast = 64 << 20

// ScanResult is what a tree declares.
type ScanResult struct {
	// Aports maps each arch to every aport's result for it, sorted by
	// path. Aports that do not apply to the arch are included (Applies is
	// false), and so are aports that could not be read (Error is set).
	Aports map[string][]*Aport
	// Duplicates are package names produced by more than one aport.
	Duplicates []Duplicate
	// Evaluated and Cached count the aports evaluated by this scan and
	// those whose results all came from the cache.
	Evaluated, Cached int
}

// Duplicate is a package name (a pkgname or a subpackage) that more than
// one aport produces for the same arch.
type Duplicate struct {
	Name   string   `json:"name"`
	Paths  []string `json:"paths"`  // the aports, sorted
	Arches []string `json:"arches"` // the arches where all of them apply
}

func (d Duplicate) String() string {
	return fmt.Sprintf("package %q is produced by %s (%s)", d.Name, strings.Join(d.Paths, " and "), strings.Join(d.Arches, ", "))
}

// Errors returns the aports, for any arch, that could not be read, once
// per path.
func (r *ScanResult) Errors() []*Aport {
	seen := map[string]bool{}
	var out []*Aport
	for _, arch := range slices.Sorted(maps.Keys(r.Aports)) {
		for _, a := range r.Aports[arch] {
			if a.Error != "" && !seen[a.Path] {
				seen[a.Path] = true
				out = append(out, a)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Path < out[j].Path })
	return out
}

// Scan finds every APKBUILD under root (root itself may be an aport),
// evaluates each for every arch in opts.Arches, in parallel, with results
// cached by content, and reports package names produced twice. A bad
// APKBUILD is a result with Error set; Scan's error is for a root or cache
// directory that cannot be used.
func Scan(ctx context.Context, root string, opts ScanOptions) (*ScanResult, error) {
	if len(opts.Arches) == 0 {
		return nil, errors.New("scan aports: no arch given")
	}
	for _, a := range opts.Arches {
		if _, ok := Hostspec(a); !ok {
			return nil, fmt.Errorf("scan aports: unknown arch %q", a)
		}
	}
	for _, g := range append(slices.Clone(opts.Include), opts.Exclude...) {
		if _, err := path.Match(g, ""); err != nil {
			return nil, fmt.Errorf("scan aports: bad glob %q: %w", g, err)
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	jobs := opts.Jobs
	if jobs <= 0 {
		jobs = runtime.GOMAXPROCS(0)
	}
	var cache *indexCache
	if opts.CacheDir != "" {
		var err error
		if cache, err = openIndexCache(opts.CacheDir, root); err != nil {
			return nil, err
		}
	}
	start := time.Now()

	// Evaluation allocates about 200 KB per aport and arch, nearly all of
	// it garbage at once, while the live heap stays small (results are kept
	// encoded): the collector would run every few megabytes. A pointer-free
	// ballast, never touched (so it takes address space, not memory), raises
	// its target for the time of the scan.
	ballast := make([]byte, scanBallast)
	defer runtime.KeepAlive(ballast)

	// The tree is walked while the aports found so far are evaluated;
	// results are put in path order at the end.
	var (
		mu      sync.Mutex // guards dirs and results
		dirs    []aportDir // in the order found
		results [][][]byte // per aport (dirs order), per arch (opts.Arches order), encoded
	)
	todo := make(chan int, 256) // indexes of dirs
	var evaluated, cached atomic.Int64
	var wg sync.WaitGroup
	for range jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range todo {
				if ctx.Err() != nil {
					continue // the walk stops too
				}
				mu.Lock()
				d := dirs[i]
				mu.Unlock()
				res, hit := scanOne(ctx, root, d.rel, d.fi, opts, cache)
				if hit {
					cached.Add(1)
				} else {
					evaluated.Add(1)
				}
				mu.Lock()
				results[i] = res
				mu.Unlock()
			}
		}()
	}
	err := walkAports(root, opts.Include, opts.Exclude, func(d aportDir) error {
		mu.Lock()
		dirs = append(dirs, d)
		results = append(results, nil)
		i := len(dirs) - 1
		mu.Unlock()
		select {
		case todo <- i:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	})
	close(todo)
	wg.Wait()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("scan aports: %w", err)
	}
	if err != nil {
		return nil, err
	}
	order := make([]int, len(dirs))
	for i := range order {
		order[i] = i
	}
	sort.Slice(order, func(a, b int) bool { return dirs[order[a]].rel < dirs[order[b]].rel })
	if cache != nil {
		if err := cache.save(len(opts.Include)+len(opts.Exclude) > 0); err != nil {
			log.Warn("apkbuild cache not saved", "dir", opts.CacheDir, "err", err)
		}
	}
	out := &ScanResult{Aports: map[string][]*Aport{}, Evaluated: int(evaluated.Load()), Cached: int(cached.Load())}
	for ai, arch := range opts.Arches {
		list := make([]*Aport, len(dirs))
		parallel(jobs, len(order), func(li int) {
			i := order[li]
			a, err := decodeAport(results[i][ai])
			if err != nil {
				// Only a damaged cache entry can do this: evaluate again.
				res, _ := scanOne(ctx, root, dirs[i].rel, dirs[i].fi, opts, nil)
				if a, err = decodeAport(res[ai]); err != nil {
					a = &Aport{Path: dirs[i].rel, Arch: arch, Error: fmt.Sprintf("%s/APKBUILD: scan aports: %v", dirs[i].rel, err)}
					normalize(a)
				}
			}
			normalize(a)
			list[li] = a
		})
		out.Aports[arch] = list
	}
	out.Duplicates = duplicates(out.Aports)
	log.Info("scanned aports", "root", root, "aports", len(dirs), "arches", opts.Arches,
		"evaluated", out.Evaluated, "cached", out.Cached, "duplicates", len(out.Duplicates),
		"errors", len(out.Errors()), "elapsed", time.Since(start).Round(time.Millisecond))
	return out, nil
}

// parallel calls fn for 0 to n-1 on jobs goroutines, in blocks.
func parallel(jobs, n int, fn func(int)) {
	var wg sync.WaitGroup
	per := (n + jobs - 1) / jobs
	for lo := 0; lo < n; lo += per {
		hi := min(lo+per, n)
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				fn(i)
			}
		})
	}
	wg.Wait()
}

// aportDir is an aport found by findAports: its directory relative to the
// root, with slashes, and the Lstat of its APKBUILD.
type aportDir struct {
	rel string
	fi  fs.FileInfo
}

// findAports returns the aports under root, sorted by path (see
// walkAports).
func findAports(root string, include, exclude []string) ([]aportDir, error) {
	var out []aportDir
	err := walkAports(root, include, exclude, func(d aportDir) error {
		out = append(out, d)
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(out, func(i, j int) bool { return out[i].rel < out[j].rel })
	return out, nil
}

// walkAports calls found for every aport under root, in no particular
// order, and stops at its first error. A directory holding an APKBUILD
// is an aport and is not searched further; hidden directories and
// symbolic links are not followed. Each aport costs one lstat: aport
// directories themselves are never listed.
func walkAports(root string, include, exclude []string, found func(aportDir) error) error {
	fi, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("scan aports: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("scan aports: %q is not a directory", root)
	}
	if afi, err := os.Lstat(filepath.Join(root, "APKBUILD")); err == nil {
		return found(aportDir{rel: ".", fi: afi})
	}
	var walk func(dir, rel string) error
	walk = func(dir, rel string) error {
		entries, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, d := range entries {
			if !d.IsDir() || strings.HasPrefix(d.Name(), ".") {
				continue
			}
			crel := d.Name()
			if rel != "." {
				crel = rel + "/" + d.Name()
			}
			if matchAny(exclude, crel) {
				continue
			}
			cdir := filepath.Join(dir, d.Name())
			if afi, err := os.Lstat(filepath.Join(cdir, "APKBUILD")); err == nil {
				if len(include) == 0 || matchAny(include, crel) {
					if err := found(aportDir{rel: crel, fi: afi}); err != nil {
						return err
					}
				}
				continue
			}
			if err := walk(cdir, crel); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(root, "."); err != nil {
		return fmt.Errorf("scan aports: %w", err)
	}
	return nil
}

// matchAny reports whether rel or one of its parent directories matches
// one of the globs.
func matchAny(globs []string, rel string) bool {
	for _, g := range globs {
		g = strings.TrimSuffix(g, "/")
		for p := rel; p != "." && p != ""; p = path.Dir(p) {
			if ok, _ := path.Match(g, p); ok {
				return true
			}
			if !strings.Contains(p, "/") {
				break
			}
		}
	}
	return false
}

// scanOne reads, and evaluates or finds in the cache, one aport for every
// arch. Results are returned encoded (encodeAport): a byte slice holds no
// pointers, so thousands of results waiting for the end of the scan cost
// the garbage collector nothing. hit reports that nothing was evaluated.
func scanOne(ctx context.Context, root, rel string, fi fs.FileInfo, opts ScanOptions, cache *indexCache) (res [][]byte, hit bool) {
	limits := opts.Limits.withDefaults()
	res = make([][]byte, len(opts.Arches))
	name := path.Join(rel, "APKBUILD")
	failAll := func(hash, msg string) ([][]byte, bool) {
		for i, arch := range opts.Arches {
			a := &Aport{Path: rel, Hash: hash, Arch: arch, Error: msg}
			normalize(a)
			res[i] = encodeAport(a)
		}
		return res, false
	}
	file := filepath.Join(root, filepath.FromSlash(rel), "APKBUILD")
	if !fi.Mode().IsRegular() {
		// A symbolic link could point outside the tree.
		return failAll("", fmt.Sprintf("%s: read APKBUILD: not a regular file (mode %v)", name, fi.Mode().Type()))
	}
	stamp := stampOf(fi)
	if cache != nil {
		if entry := cache.lookup(rel, stamp); entry != nil && fromCache(entry, opts.Arches, res) {
			cache.keep(entry, false)
			return res, true
		}
	}
	buf := readBufs.Get().(*[]byte)
	src, err := readAPKBUILD(file, limits.MaxFileSize, *buf)
	defer func() {
		if src != nil {
			*buf = src[:0]
		}
		if cap(*buf) <= 256<<10 { // the odd huge APKBUILD's is not kept
			readBufs.Put(buf)
		}
	}()
	if err != nil {
		return failAll("", fmt.Sprintf("%s: read APKBUILD: %v", name, err))
	}
	sum := sha256.Sum256(src)
	hash := hex.EncodeToString(sum[:])
	fresh := &cacheEntry{rel: rel, hash: hash, stamp: stamp, results: map[string][]byte{}}
	if cache != nil {
		if old := cache.byHash(rel, hash); old != nil {
			// Same content, new stamp (touched, checked out again).
			maps.Copy(fresh.results, old.results)
			if fromCache(fresh, opts.Arches, res) {
				cache.keep(fresh, true)
				return res, true
			}
		}
	}
	f, perr := parse(rel, src, hash, limits) // src is not kept
	evaluated := false
	for i, arch := range opts.Arches {
		if b, ok := fresh.results[arch]; ok {
			res[i] = b
			continue
		}
		var a *Aport
		if perr != nil {
			a = &Aport{Path: rel, Hash: hash, Arch: arch, Error: perr.Error()}
			normalize(a)
		} else {
			a = f.EvalWith(ctx, arch, EvalOptions{Rel: evalRel(root, rel), Timeout: opts.Timeout})
		}
		if ctx.Err() != nil {
			return res, false // cancelled: do not cache a result cut short
		}
		evaluated = true
		res[i] = encodeAport(a)
		if !strings.Contains(a.Error, timeLimitMsg) {
			fresh.results[arch] = res[i] // a time limit depends on the machine's load: try again next time
		}
	}
	if cache != nil {
		cache.keep(fresh, true)
	}
	return res, !evaluated
}

// evalRel is the path that sets $startdir: rel, or for a root that is an
// aport itself its last two path elements (repo/aport), so that idioms
// such as ${startdir%/*} see what they would in the tree.
func evalRel(root, rel string) string {
	if rel != "." {
		return rel
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return rel
	}
	abs = filepath.ToSlash(abs)
	parent := path.Dir(abs)
	return path.Join(path.Base(parent), path.Base(abs))
}

// fromCache fills res from the entry's results; false when an arch is
// missing.
func fromCache(e *cacheEntry, arches []string, res [][]byte) bool {
	for i, arch := range arches {
		b, ok := e.results[arch]
		if !ok {
			return false
		}
		res[i] = b
	}
	return true
}

// readBufs holds the buffers APKBUILDs are read into.
var readBufs = sync.Pool{New: func() any { return new([]byte) }}

// readAPKBUILD reads an APKBUILD into buf's space, refusing anything
// larger than limit or not a regular file (opened without blocking: a
// FIFO is refused, not waited on). It makes the system calls itself:
// os.File would first try to register the file with the network poller,
// five more calls per file.
func readAPKBUILD(p string, limit int, buf []byte) ([]byte, error) {
	fd, err := syscall.Open(p, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	for err == syscall.EINTR {
		fd, err = syscall.Open(p, syscall.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	}
	if err != nil {
		return nil, &fs.PathError{Op: "open", Path: p, Err: err}
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, &fs.PathError{Op: "stat", Path: p, Err: err}
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, fmt.Errorf("not a regular file (mode %v)", modeType(st.Mode))
	}
	if st.Size > int64(limit) {
		return nil, fmt.Errorf("%d bytes is over the limit of %d", st.Size, limit)
	}
	b := slices.Grow(buf[:0], int(st.Size)+512) // one read, and one to see the end
	for len(b) <= limit {                       // up to limit+1 bytes: a file that grew is seen
		if len(b) == cap(b) {
			b = slices.Grow(b, 4096)
		}
		n, err := syscall.Read(fd, b[len(b):min(cap(b), limit+1)])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, &fs.PathError{Op: "read", Path: p, Err: err}
		}
		if n == 0 {
			break
		}
		b = b[:len(b)+n]
	}
	if len(b) > limit {
		return nil, fmt.Errorf("over the limit of %d bytes", limit)
	}
	return b, nil
}

// modeType is the type bits of a stat mode, as fs.FileMode.Type gives
// them.
func modeType(mode uint32) fs.FileMode {
	switch mode & syscall.S_IFMT {
	case syscall.S_IFDIR:
		return fs.ModeDir
	case syscall.S_IFLNK:
		return fs.ModeSymlink
	case syscall.S_IFIFO:
		return fs.ModeNamedPipe
	case syscall.S_IFSOCK:
		return fs.ModeSocket
	case syscall.S_IFCHR:
		return fs.ModeDevice | fs.ModeCharDevice
	case syscall.S_IFBLK:
		return fs.ModeDevice
	}
	return 0
}

// duplicates finds names produced by more than one aport that applies to
// the same arch.
func duplicates(byArch map[string][]*Aport) []Duplicate {
	type key struct{ name, paths string }
	found := map[key]*Duplicate{}
	for _, arch := range slices.Sorted(maps.Keys(byArch)) {
		owners := map[string][]string{}
		for _, a := range byArch[arch] {
			if a.Error != "" || !a.Applies {
				continue
			}
			names := []string{a.Pkgname}
			for _, sp := range a.Subpackages {
				names = append(names, sp.Name)
			}
			for _, n := range names {
				if ps := owners[n]; len(ps) == 0 || ps[len(ps)-1] != a.Path {
					owners[n] = append(ps, a.Path)
				}
			}
		}
		for n, ps := range owners {
			if len(ps) < 2 {
				continue
			}
			sort.Strings(ps)
			k := key{n, strings.Join(ps, "\x00")}
			d := found[k]
			if d == nil {
				d = &Duplicate{Name: n, Paths: ps}
				found[k] = d
			}
			d.Arches = append(d.Arches, arch)
		}
	}
	out := make([]Duplicate, 0, len(found))
	for _, d := range found {
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return strings.Join(out[i].Paths, " ") < strings.Join(out[j].Paths, " ")
	})
	return out
}
