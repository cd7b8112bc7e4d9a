package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/signer"
)

// DefaultGrace is how long a file that left the index stays in the
// repository, so that clients in the middle of an update still find it.
const DefaultGrace = 24 * time.Hour

// Request is what to publish on one arch.
type Request struct {
	Arch string
	// Packages are the staged files to sign and publish.
	Packages []string
	// Remove are package names to drop from the index (the plan's
	// removals: origins gone from the tree or excluded, subpackages gone).
	Remove []string
	// Held, when set, says why nothing is published on the arch (the
	// all-or-nothing policy with a failed build): the index stays, only
	// files whose grace period has ended are deleted.
	Held string
}

// Options tune Publish.
type Options struct {
	// Signer signs every new package and each new index. Required.
	Signer signer.Signer
	// JournalDir keeps, per arch, when files left the index (required;
	// <state.dir>/publish/<repository>).
	JournalDir string
	// Grace is how long a file that left the index stays (default
	// DefaultGrace; negative: deleted at once).
	Grace time.Duration
	// Description is the index's DESCRIPTION (default "apkfarm").
	Description string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Jobs bounds the packages read and written at once (default: CPUs).
	Jobs   int
	Logger *slog.Logger
	// Step, when set, is called before each step that changes the
	// repository ("package x86_64/hello-1.0-r0.apk", "journal x86_64",
	// "index x86_64", "indexed x86_64", "delete x86_64/old-1.0-r0.apk"):
	// crash tests kill the process there.
	Step func(step string)
}

// Result is what Publish did, per arch, in the order of the requests.
type Result struct {
	Arches []ArchResult
}

// ArchResult is what Publish did on one arch.
type ArchResult struct {
	Arch string
	// Added are the packages the new index names that the old one did not
	// (at that version).
	Added []Added
	// Retired are the files that left the index in this run; Deleted
	// the files removed from the directory (their grace period over, or
	// never named by an index).
	Retired []string
	Deleted []string
	// Rejected are staged packages that were not published, and why.
	Rejected []Rejected
	// Held is Request.Held.
	Held string
	// Changed is set when the index was rewritten.
	Changed bool
	// Error is why the arch could not be published (its index is as it
	// was); "" when it was.
	Error string
	// Bytes is the size of the files added.
	Bytes int64
}

// Added is a package published on an arch.
type Added struct {
	Name, Version, Origin string
	File                  string
	Size                  int64
}

// Rejected is a staged package that was not published.
type Rejected struct {
	File   string // the staged file
	Name   string // package name, when it could be read
	Origin string
	Reason string
}

// errReplaced rejects a package whose file name is published with other
// bytes.
var errReplaced = errors.New("published with other content; a package is never replaced under the same name: raise pkgrel")

// prepared is one staged package, read and checked, waiting for its
// signatures.
type prepared struct {
	src  string
	u    *apk.Unsigned
	sigs []apk.Signature
}

// archWork is one arch's request as Publish works on it.
type archWork struct {
	req     Request
	res     *ArchResult
	old     *apk.Index
	oldBody []byte // the old index without its signatures
	oldSigs []string
	journal *journal
	pkgs    []*prepared
}

// Publish signs the staged packages of each request and promotes them
// into the repository (see the package doc for the order of the steps).
// Problems of one package are Rejected results; problems of one arch (its
// index unreadable, a full disk) are its Error and leave its index as it
// was. The error is for trouble that stops everything: the signer.
func (r Repository) Publish(ctx context.Context, reqs []Request, opts Options) (*Result, error) {
	if opts.Signer == nil || opts.JournalDir == "" {
		return nil, errors.New("publish: signer and journal directory are required")
	}
	if opts.Grace == 0 {
		opts.Grace = DefaultGrace
	}
	if opts.Description == "" {
		opts.Description = "apkfarm"
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Jobs <= 0 {
		opts.Jobs = runtime.GOMAXPROCS(0)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Step == nil {
		opts.Step = func(string) {}
	}
	res := &Result{}
	work := make([]*archWork, len(reqs))
	for i, req := range reqs {
		res.Arches = append(res.Arches, ArchResult{Arch: req.Arch, Held: req.Held})
		work[i] = &archWork{req: req, res: &res.Arches[i]}
	}
	// 1. Read what is published and what is staged.
	for _, w := range work {
		if err := r.load(w, opts); err != nil {
			w.res.Error = err.Error()
		}
	}
	// 2. Sign every new package, all arches at once.
	var items []signer.Item
	var order []*prepared
	for _, w := range work {
		if w.res.Error != "" {
			continue
		}
		for _, p := range w.pkgs {
			items = append(items, signer.Item{Kind: apk.KindPackage, Name: filepath.Base(p.src), Signed: p.u.Signed})
			order = append(order, p)
		}
	}
	sigs, err := signer.SignAll(ctx, opts.Signer, items, opts.Jobs)
	if err != nil {
		return res, fmt.Errorf("publish: %w", err)
	}
	for i, p := range order {
		p.sigs = sigs[i]
	}
	// 3. Promote, arch by arch.
	if err := r.PublishKeys(opts.Signer.PublicKeys()); err != nil {
		return res, fmt.Errorf("publish: %w", err)
	}
	for _, w := range work {
		if w.res.Error != "" {
			continue
		}
		if err := r.promote(ctx, w, opts); err != nil {
			if ctx.Err() != nil {
				return res, fmt.Errorf("publish %s: %w", w.req.Arch, err)
			}
			w.res.Error = err.Error()
			opts.Logger.Error("publish failed; the arch's index is as it was", "arch", w.req.Arch, "err", err)
		}
	}
	return res, nil
}

// load reads the arch's index and journal, and its staged packages
// (unless held).
func (r Repository) load(w *archWork, opts Options) error {
	idx, raw, err := r.Index(w.req.Arch)
	if err != nil {
		return err
	}
	w.old = idx
	if raw != nil {
		u, err := apk.PrepareSigning(raw, r.IndexPath(w.req.Arch))
		if err != nil {
			return fmt.Errorf("read published index: %w", err)
		}
		w.oldBody = u.Body
		w.oldSigs = indexKeyNames(raw)
	}
	if w.journal, err = loadJournal(opts.JournalDir, w.req.Arch); err != nil {
		return err
	}
	if w.req.Held != "" {
		return nil
	}
	pkgs := make([]*prepared, len(w.req.Packages))
	errs := make([]error, len(w.req.Packages))
	forEach(len(pkgs), opts.Jobs, func(i int) {
		src := w.req.Packages[i]
		b, err := safefile.ReadFile(src, MaxPackageBytes)
		if err != nil {
			errs[i] = err
			return
		}
		u, err := apk.PrepareSigning(b, filepath.Base(src))
		if err != nil {
			errs[i] = err
			return
		}
		if u.Kind != apk.KindPackage {
			errs[i] = fmt.Errorf("%s: an index, not a package", filepath.Base(src))
			return
		}
		pkgs[i] = &prepared{src: src, u: u}
	})
	seen := map[string]string{}
	for i, p := range pkgs {
		if errs[i] != nil {
			w.reject(w.req.Packages[i], nil, errs[i].Error())
			continue
		}
		info := p.u.Package.Info
		if prev, dup := seen[info.Name]; dup {
			w.reject(p.src, info, fmt.Sprintf("package %q is also staged as %s", info.Name, filepath.Base(prev)))
			continue
		}
		if info.Arch != w.req.Arch && info.Arch != "noarch" {
			w.reject(p.src, info, fmt.Sprintf("package arch %q staged for %s", info.Arch, w.req.Arch))
			continue
		}
		seen[info.Name] = p.src
		w.pkgs = append(w.pkgs, p)
	}
	return nil
}

func (w *archWork) reject(src string, info *apk.PkgInfo, why string) {
	rj := Rejected{File: src, Reason: why}
	if info != nil {
		rj.Name, rj.Origin = info.Name, info.Origin
	}
	w.res.Rejected = append(w.res.Rejected, rj)
}

// promote writes the packages, the journal, the index, and deletes what
// is due.
func (r Repository) promote(ctx context.Context, w *archWork, opts Options) error {
	arch, dir := w.req.Arch, r.ArchDir(w.req.Arch)
	now := opts.Now().UTC()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("publish %s: %w", arch, err)
	}
	oldFiles := map[string]bool{}
	if w.old != nil {
		for _, p := range w.old.Packages {
			oldFiles[FileName(p)] = true
		}
	}
	if w.req.Held != "" {
		return r.deleteDue(w, oldFiles, now, opts)
	}

	// 1. The packages, durably, before any index names them.
	type out struct {
		p     *prepared
		file  string
		entry *apk.Package
		data  []byte
	}
	outs := make([]*out, len(w.pkgs))
	for i, p := range w.pkgs {
		signed, err := apk.Attach(p.u.Body, p.sigs...)
		if err != nil {
			return fmt.Errorf("publish %s: %w", arch, err)
		}
		e := p.u.Package.IndexEntry()
		e.Size = int64(len(signed))
		if e.Arch == "noarch" {
			e.Arch = arch // listed under the repository's arch, as abuild's index --rewrite-arch does
		}
		outs[i] = &out{p: p, file: FileName(e), entry: e, data: signed}
	}
	errs := make([]error, len(outs))
	forEach(len(outs), opts.Jobs, func(i int) {
		o := outs[i]
		final := filepath.Join(dir, o.file)
		cur, err := safefile.ReadFile(final, MaxPackageBytes)
		switch {
		case err == nil && bytes.Equal(cur, o.data):
			return // already there (a run killed before its index, or a noarch copy)
		case err == nil && (oldFiles[o.file] || w.journal.Files[o.file].Indexed):
			errs[i] = fmt.Errorf("%s: %w", o.file, errReplaced)
			return
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			errs[i] = err
			return
		}
		opts.Step("package " + arch + "/" + o.file)
		f, err := safefile.Create(final, 0o644)
		if err == nil {
			if _, err = f.Write(o.data); err != nil {
				f.Abort()
			} else {
				err = f.CommitUnsynced()
			}
		}
		errs[i] = err
	})
	// One syncfs for the batch, then the directory: the packages are
	// durable before the journal and the index that name them.
	if err := safefile.SyncFS(dir); err != nil {
		return fmt.Errorf("publish %s: %w", arch, err)
	}
	if err := safefile.SyncDir(dir); err != nil {
		return fmt.Errorf("publish %s: %w", arch, err)
	}
	var keep []*out
	for i, o := range outs {
		if errs[i] != nil {
			if !errors.Is(errs[i], errReplaced) {
				return fmt.Errorf("publish %s: write %s: %w", arch, o.file, errs[i])
			}
			w.reject(o.p.src, o.p.u.Package.Info, errs[i].Error())
			continue
		}
		keep = append(keep, o)
	}
	if err := ctx.Err(); err != nil {
		return err
	}

	// 2. The new index's records.
	drop := map[string]bool{}
	for _, n := range w.req.Remove {
		drop[n] = true
	}
	for _, o := range keep {
		drop[o.entry.Name] = true
	}
	var recs []*apk.Package
	if w.old != nil {
		for _, p := range w.old.Packages {
			if !drop[p.Name] {
				recs = append(recs, p)
			}
		}
	}
	newFiles := map[string]bool{}
	for _, p := range recs {
		newFiles[FileName(p)] = true
	}
	for _, o := range keep {
		recs = append(recs, o.entry)
		newFiles[o.file] = true
		if !oldFiles[o.file] {
			w.res.Added = append(w.res.Added, Added{Name: o.entry.Name, Version: o.entry.Version,
				Origin: o.entry.Origin, File: o.file, Size: o.entry.Size})
			w.res.Bytes += o.entry.Size
		}
	}
	body, err := apk.MarshalIndexArchive(&apk.Index{Description: opts.Description, Packages: recs})
	if err != nil {
		return fmt.Errorf("publish %s: %w", arch, err)
	}

	// 3. The journal: files that leave the index now, and files no index
	// named (left by a killed run), with the time they were found.
	for f := range w.journal.Files {
		if newFiles[f] {
			delete(w.journal.Files, f)
		}
	}
	for f := range oldFiles {
		if !newFiles[f] {
			w.journal.Files[f] = journalEntry{Since: now, Indexed: true}
			w.res.Retired = append(w.res.Retired, f)
		}
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("publish %s: %w", arch, err)
	}
	for _, e := range ents {
		n := e.Name()
		if strings.HasSuffix(n, ".apk") && !newFiles[n] && !oldFiles[n] {
			if _, known := w.journal.Files[n]; !known {
				w.journal.Files[n] = journalEntry{Since: now}
			}
		}
	}
	slices.Sort(w.res.Retired)
	opts.Step("journal " + arch)
	if err := w.journal.save(opts.JournalDir, arch); err != nil {
		return fmt.Errorf("publish %s: %w", arch, err)
	}

	// 4. The index, signed, renamed over the old one: the step clients see.
	keyNames := make([]string, 0, 2)
	for _, k := range opts.Signer.PublicKeys() {
		keyNames = append(keyNames, k.Name)
	}
	if !bytes.Equal(body, w.oldBody) || !slices.Equal(keyNames, w.oldSigs) {
		isigs, err := opts.Signer.Sign(ctx, apk.KindIndex, arch+"-"+IndexName, body)
		if err != nil {
			return fmt.Errorf("publish %s: sign index: %w", arch, err)
		}
		signed, err := apk.Attach(body, isigs...)
		if err != nil {
			return fmt.Errorf("publish %s: %w", arch, err)
		}
		opts.Step("index " + arch)
		if err := safefile.Write(r.IndexPath(arch), signed, 0o644); err != nil {
			return fmt.Errorf("publish %s: write index: %w", arch, err)
		}
		opts.Step("indexed " + arch)
		w.res.Changed = true
	}

	// 5. Delete what is due.
	if err := r.deleteDue(w, newFiles, now, opts); err != nil {
		return err
	}
	opts.Logger.Info("published", "arch", arch, "added", len(w.res.Added), "retired", len(w.res.Retired),
		"deleted", len(w.res.Deleted), "rejected", len(w.res.Rejected), "index_changed", w.res.Changed)
	return nil
}

// deleteDue deletes the files whose grace period has ended (never one the
// index names) and saves the journal when it changed.
func (r Repository) deleteDue(w *archWork, indexed map[string]bool, now time.Time, opts Options) error {
	arch, dir := w.req.Arch, r.ArchDir(w.req.Arch)
	for _, f := range w.journal.due(now, max(opts.Grace, 0)) {
		if indexed[f] {
			continue
		}
		opts.Step("delete " + arch + "/" + f)
		if err := os.Remove(filepath.Join(dir, f)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			opts.Logger.Warn("delete old package", "arch", arch, "file", f, "err", err)
			continue
		}
		delete(w.journal.Files, f)
		w.res.Deleted = append(w.res.Deleted, f)
	}
	if len(w.res.Deleted) == 0 {
		return nil
	}
	if err := safefile.SyncDir(dir); err != nil {
		return fmt.Errorf("publish %s: %w", arch, err)
	}
	if err := w.journal.save(opts.JournalDir, arch); err != nil {
		return fmt.Errorf("publish %s: %w", arch, err)
	}
	return nil
}

// indexKeyNames returns the key names of an index's signatures, in order.
func indexKeyNames(signed []byte) []string {
	var out []string
	for _, name := range apk.SignatureNames(signed) {
		if _, key, ok := strings.Cut(strings.TrimPrefix(name, ".SIGN."), "."); ok {
			out = append(out, key)
		}
	}
	return out
}

// forEach runs f(0..n-1) on up to jobs goroutines.
func forEach(n, jobs int, f func(i int)) {
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(jobs, n) {
		wg.Go(func() {
			for i := range next {
				f(i)
			}
		})
	}
	for i := range n {
		next <- i
	}
	close(next)
	wg.Wait()
}
