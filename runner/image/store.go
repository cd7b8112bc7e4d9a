package image

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/klauspost/compress/zstd"
	"golang.org/x/sys/unix"

	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/runner/image/tarfs"
)

// Progress is told how many bytes of a pull or unpack are done out of
// total (total is 0 when unknown). It is called from the pulling goroutine.
type Progress func(done, total int64)

// Store pulls images and keeps their root filesystems. It is safe for
// concurrent use, also by several processes sharing its directory.
type Store struct {
	dir       string
	log       *slog.Logger
	progress  Progress
	keychain  authn.Keychain
	transport http.RoundTripper

	mu         sync.Mutex
	locks      map[string]*sync.Mutex
	tarDigests map[string]v1.Hash // rootfs tarball file identity -> sha256
	resolved   map[string]resolution
	resolveTTL time.Duration
}

// Option configures a Store.
type Option func(*Store)

// WithLogger sets where the store logs what it pulls and unpacks.
func WithLogger(l *slog.Logger) Option { return func(s *Store) { s.log = l } }

// WithProgress sets a callback for download and unpack progress.
func WithProgress(p Progress) Option { return func(s *Store) { s.progress = p } }

// WithKeychain replaces authn.DefaultKeychain for registry credentials.
func WithKeychain(k authn.Keychain) Option { return func(s *Store) { s.keychain = k } }

// WithTransport sets the HTTP transport for registries.
func WithTransport(t http.RoundTripper) Option { return func(s *Store) { s.transport = t } }

// WithResolveTTL sets how long a registry reference resolved to a digest
// is reused without asking the registry again (default 10 minutes; 0
// asks every time).
func WithResolveTTL(d time.Duration) Option { return func(s *Store) { s.resolveTTL = d } }

// NewStore opens (creating) a store in dir.
func NewStore(dir string, opts ...Option) (*Store, error) {
	s := &Store{
		dir:      dir,
		log:      slog.New(slog.DiscardHandler),
		progress: func(int64, int64) {},
		keychain: authn.DefaultKeychain,
		locks:    map[string]*sync.Mutex{},

		tarDigests: map[string]v1.Hash{},
		resolved:   map[string]resolution{},
		resolveTTL: 10 * time.Minute,
	}
	for _, o := range opts {
		o(s)
	}
	for _, d := range []string{"rootfs", "locks"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return nil, fmt.Errorf("create image store: %w", err)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "oci", "index.json")); errors.Is(err, os.ErrNotExist) {
		if _, err := layout.Write(filepath.Join(dir, "oci"), empty.Index); err != nil {
			return nil, fmt.Errorf("create image store layout: %w", err)
		}
	}
	return s, nil
}

// Dir returns the store's directory.
func (s *Store) Dir() string { return s.dir }

// Rootfs returns the directory holding the unpacked root filesystem of ref
// for arch, and the image digest it came from. The directory is shared by
// every caller: treat it as read-only (mount it as an overlay's lower
// layer, or copy it).
func (s *Store) Rootfs(ctx context.Context, ref, arch string) (dir, digest string, err error) {
	plat, err := Platform(arch)
	if err != nil {
		return "", "", err
	}
	switch {
	case strings.HasPrefix(ref, "rootfs:"):
		dir, digest, err = s.fromTarball(ctx, strings.TrimPrefix(ref, "rootfs:"), arch)
	case strings.HasPrefix(ref, "oci-layout:"):
		dir, digest, err = s.fromLayout(ctx, strings.TrimPrefix(ref, "oci-layout:"), arch, plat)
	default:
		dir, digest, err = s.fromRegistry(ctx, ref, arch, plat)
	}
	if err == nil {
		// The directory's mtime says when it was last handed out (Prune).
		now := time.Now()
		_ = os.Chtimes(dir, now, now)
	}
	return dir, digest, err
}

// rootfsDir is where the rootfs of image h, checked to be for arch, lives.
// The arch is part of the name so that a cached image is never handed out
// for an arch it was not checked against.
func (s *Store) rootfsDir(h v1.Hash, arch string) string {
	return filepath.Join(s.dir, "rootfs", arch+"-"+h.Algorithm+"-"+h.Hex)
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func (s *Store) fromRegistry(ctx context.Context, ref, arch string, plat v1.Platform) (string, string, error) {
	r, err := parseRef(ref)
	if err != nil {
		return "", "", err
	}
	// An image pinned by digest whose rootfs is here needs no network.
	if d, ok := r.(name.Digest); ok {
		if h, err := v1.NewHash(d.DigestStr()); err == nil && exists(s.rootfsDir(h, arch)) {
			return s.rootfsDir(h, arch), h.String(), nil
		}
	}
	// A tag resolved a moment ago is not asked again: every build of a run
	// gets the same image, and the registry one request, not hundreds
	// (Docker Hub counts manifest requests against its pull limit).
	key := ref + "\x00" + arch
	s.mu.Lock()
	res, ok := s.resolved[key]
	s.mu.Unlock()
	if ok && time.Since(res.at) < s.resolveTTL && exists(s.rootfsDir(res.digest, arch)) {
		return s.rootfsDir(res.digest, arch), res.digest.String(), nil
	}
	dir, h, err := s.pullRegistry(ctx, r, ref, arch, plat)
	if err != nil {
		return "", "", err
	}
	s.mu.Lock()
	s.resolved[key] = resolution{digest: h, at: time.Now()}
	s.mu.Unlock()
	return dir, h.String(), nil
}

type resolution struct {
	digest v1.Hash
	at     time.Time
}

func (s *Store) pullRegistry(ctx context.Context, r name.Reference, ref, arch string, plat v1.Platform) (string, v1.Hash, error) {
	var none v1.Hash
	opts := []remote.Option{
		remote.WithContext(ctx),
		remote.WithAuthFromKeychain(s.keychain),
		remote.WithPlatform(plat),
	}
	if s.transport != nil {
		opts = append(opts, remote.WithTransport(s.transport))
	}
	desc, err := remote.Get(r, opts...)
	if err != nil {
		return "", none, fmt.Errorf("pull %s: %w", ref, err)
	}
	img, err := desc.Image()
	if err != nil {
		return "", none, fmt.Errorf("pull %s for %s (%s): %w", ref, arch, platformString(plat), err)
	}
	h, err := img.Digest()
	if err != nil {
		return "", none, fmt.Errorf("pull %s: %w", ref, err)
	}
	if dir := s.rootfsDir(h, arch); exists(dir) {
		s.log.Debug("image cached", "ref", ref, "arch", arch, "digest", h.String())
		return dir, h, nil
	}
	unlock, err := s.lock(ctx, h)
	if err != nil {
		return "", none, err
	}
	defer unlock()
	if dir := s.rootfsDir(h, arch); exists(dir) {
		return dir, h, nil
	}
	lp := layout.Path(filepath.Join(s.dir, "oci"))
	cached, err := lp.Image(h)
	if err != nil {
		if err := checkPlatform(img, plat); err != nil {
			return "", none, fmt.Errorf("pull %s for %s: %w", ref, arch, err)
		}
		if err := s.fetch(ctx, lp, img); err != nil {
			return "", none, fmt.Errorf("pull %s: %w", ref, err)
		}
		if cached, err = lp.Image(h); err != nil {
			return "", none, fmt.Errorf("pull %s: read back from cache: %w", ref, err)
		}
	}
	if err := checkPlatform(cached, plat); err != nil {
		return "", none, fmt.Errorf("pull %s for %s: %w", ref, arch, err)
	}
	dir, err := s.unpackImage(ctx, cached, h, arch)
	if err != nil {
		return "", none, fmt.Errorf("unpack %s: %w", ref, err)
	}
	return dir, h, nil
}

// parseRef parses a registry reference; localhost and 127.0.0.1 registries
// are spoken to over plain HTTP (tests, local mirrors).
func parseRef(ref string) (name.Reference, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return nil, fmt.Errorf("parse image reference %q: %w", ref, err)
	}
	host := r.Context().RegistryStr()
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	switch strings.Trim(host, "[]") {
	case "localhost", "127.0.0.1", "::1":
		return name.ParseReference(ref, name.Insecure)
	}
	return r, nil
}

func platformString(p v1.Platform) string {
	s := p.OS + "/" + p.Architecture
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

func checkPlatform(img v1.Image, plat v1.Platform) error {
	cf, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("read image config: %w", err)
	}
	if !platformMatches(plat, cf.OS, cf.Architecture, cf.Variant) {
		got := platformString(v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant})
		return fmt.Errorf("image is for %s, not %s", got, platformString(plat))
	}
	return nil
}

// fetch copies img's missing layers into the layout, reporting progress,
// then records the image in the layout's index.
func (s *Store) fetch(ctx context.Context, lp layout.Path, img v1.Image) error {
	layers, err := img.Layers()
	if err != nil {
		return err
	}
	var total, done int64
	var todo []v1.Layer
	for _, l := range layers {
		d, err := l.Digest()
		if err != nil {
			return err
		}
		if exists(filepath.Join(string(lp), "blobs", d.Algorithm, d.Hex)) {
			continue
		}
		size, err := l.Size()
		if err != nil {
			return err
		}
		total += size
		todo = append(todo, l)
	}
	s.progress(0, total)
	for _, l := range todo {
		d, _ := l.Digest()
		rc, err := l.Compressed()
		if err != nil {
			return fmt.Errorf("fetch layer %s: %w", d, err)
		}
		cr := &countingReader{r: rc, ctx: ctx, add: func(n int64) { done += n; s.progress(done, total) }}
		err = lp.WriteBlob(d, io.NopCloser(cr))
		rc.Close()
		if err != nil {
			return fmt.Errorf("fetch layer %s: %w", d, err)
		}
	}
	s.log.Info("image fetched", "bytes", total, "layers", len(todo))
	unlock, err := s.fileLock(ctx, "index")
	if err != nil {
		return err
	}
	defer unlock()
	h, _ := img.Digest()
	return lp.ReplaceImage(img, match.Digests(h))
}

type countingReader struct {
	r   io.Reader
	ctx context.Context
	add func(int64)
}

func (c *countingReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	if n > 0 {
		c.add(int64(n))
	}
	return n, err
}

// unpackImage applies img's layers in order into a fresh directory and
// renames it into place.
func (s *Store) unpackImage(ctx context.Context, img v1.Image, h v1.Hash, arch string) (string, error) {
	layers, err := img.Layers()
	if err != nil {
		return "", err
	}
	var total, done int64
	for _, l := range layers {
		n, err := l.Size()
		if err != nil {
			return "", err
		}
		total += n
	}
	return s.unpack(ctx, h, arch, func(tmp string) error {
		for _, l := range layers {
			rc, err := l.Compressed()
			if err != nil {
				return err
			}
			cr := &countingReader{r: rc, ctx: ctx, add: func(n int64) { done += n; s.progress(done, total) }}
			r, err := decompress(cr)
			if err == nil {
				_, err = tarfs.Extract(ctx, tmp, "/", r, tarfs.Options{Whiteouts: true, Chown: os.Geteuid() == 0, Logger: s.log})
			}
			rc.Close()
			if err != nil {
				d, _ := l.Digest()
				return fmt.Errorf("layer %s: %w", d, err)
			}
		}
		return nil
	})
}

// decompress returns the tar stream in r, which may be gzip'd, zstd'd or
// plain. (Reading compressed bytes ourselves is what lets progress count
// them.)
func decompress(r io.Reader) (io.Reader, error) {
	br := bufio.NewReader(r)
	magic, err := br.Peek(4)
	if err != nil && err != io.EOF {
		return nil, err
	}
	switch {
	case bytes.HasPrefix(magic, []byte{0x1f, 0x8b}):
		return gzip.NewReader(br)
	case bytes.HasPrefix(magic, []byte{0x28, 0xb5, 0x2f, 0xfd}):
		zr, err := zstd.NewReader(br, zstd.WithDecoderConcurrency(1))
		if err != nil {
			return nil, err
		}
		return zr.IOReadCloser(), nil
	}
	return br, nil
}

// unpack runs fill on a temporary directory, checks the result holds the
// arch (Alpine's /etc/apk/arch, when present), and renames it to the
// digest's rootfs directory.
func (s *Store) unpack(ctx context.Context, h v1.Hash, arch string, fill func(tmp string) error) (string, error) {
	final := s.rootfsDir(h, arch)
	tmp, err := os.MkdirTemp(filepath.Join(s.dir, "rootfs"), ".unpack-")
	if err != nil {
		return "", err
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if err := fill(tmp); err != nil {
		os.RemoveAll(tmp)
		return "", err
	}
	if b, err := tarfs.ReadFile(tmp, "/etc/apk/arch"); err == nil {
		if got := strings.TrimSpace(string(b)); got != arch {
			os.RemoveAll(tmp)
			return "", fmt.Errorf("image holds an %s root filesystem (/etc/apk/arch), not %s", got, arch)
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		os.RemoveAll(tmp)
		if exists(final) {
			return final, nil
		}
		return "", err
	}
	s.log.Info("image unpacked", "digest", h.String(), "dir", final)
	return final, nil
}

func (s *Store) fromTarball(ctx context.Context, path, arch string) (string, string, error) {
	f, err := safefile.Open(path) // a FIFO is an error, not a wait
	if err != nil {
		return "", "", fmt.Errorf("open rootfs tarball: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return "", "", fmt.Errorf("open rootfs tarball: %w", err)
	}
	h, err := s.fileDigest(f, fi, path, 1<<62)
	if err != nil {
		return "", "", fmt.Errorf("read rootfs tarball %s: %w", path, err)
	}
	if dir := s.rootfsDir(h, arch); exists(dir) {
		return dir, h.String(), nil
	}
	unlock, err := s.lock(ctx, h)
	if err != nil {
		return "", "", err
	}
	defer unlock()
	if dir := s.rootfsDir(h, arch); exists(dir) {
		return dir, h.String(), nil
	}
	dir, err := s.unpack(ctx, h, arch, func(tmp string) error {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return err
		}
		var done int64
		total := fi.Size()
		cr := &countingReader{r: f, ctx: ctx, add: func(n int64) { done += n; s.progress(done, total) }}
		r, err := decompress(cr)
		if err != nil {
			return err
		}
		_, err = tarfs.Extract(ctx, tmp, "/", r, tarfs.Options{Chown: os.Geteuid() == 0, Logger: s.log})
		return err
	})
	if err != nil {
		return "", "", fmt.Errorf("unpack rootfs tarball %s: %w", path, err)
	}
	return dir, h.String(), nil
}

// fileDigest returns the sha256 of f (opened from path, fi its stat),
// reading at most max bytes. Hashing a tarball or an index is most of a
// cached Start: the digest of a file that has not changed (same inode,
// size and mtime) is remembered.
func (s *Store) fileDigest(f *os.File, fi os.FileInfo, path string, max int64) (v1.Hash, error) {
	key := fmt.Sprintf("%s\x00%d\x00%d", path, fi.Size(), fi.ModTime().UnixNano())
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		key += fmt.Sprintf("\x00%d:%d", st.Dev, st.Ino)
	}
	s.mu.Lock()
	h, ok := s.tarDigests[key]
	s.mu.Unlock()
	if ok {
		return h, nil
	}
	sum := sha256.New()
	if _, err := io.Copy(sum, io.LimitReader(f, max)); err != nil {
		return v1.Hash{}, err
	}
	h = v1.Hash{Algorithm: "sha256", Hex: hex.EncodeToString(sum.Sum(nil))}
	s.mu.Lock()
	s.tarDigests[key] = h
	s.mu.Unlock()
	return h, nil
}

// fromLayout reads an image from an OCI layout directory:
// "/path", "/path:tag" or "/path@sha256:<hex>".
func (s *Store) fromLayout(ctx context.Context, spec, arch string, plat v1.Platform) (string, string, error) {
	path, sel := spec, ""
	if i := strings.LastIndex(spec, "@"); i >= 0 {
		path, sel = spec[:i], spec[i:]
	} else if i := strings.LastIndex(spec, ":"); i > strings.LastIndex(spec, "/") {
		path, sel = spec[:i], spec[i:]
	}
	ii, err := layout.ImageIndexFromPath(path)
	if err != nil {
		return "", "", fmt.Errorf("open OCI layout %s: %w", path, err)
	}
	img, err := pickImage(ii, sel, plat)
	if err != nil {
		return "", "", fmt.Errorf("oci-layout:%s for %s: %w", spec, arch, err)
	}
	h, err := img.Digest()
	if err != nil {
		return "", "", err
	}
	if dir := s.rootfsDir(h, arch); exists(dir) {
		return dir, h.String(), nil
	}
	unlock, err := s.lock(ctx, h)
	if err != nil {
		return "", "", err
	}
	defer unlock()
	if dir := s.rootfsDir(h, arch); exists(dir) {
		return dir, h.String(), nil
	}
	dir, err := s.unpackImage(ctx, img, h, arch)
	if err != nil {
		return "", "", fmt.Errorf("unpack oci-layout:%s: %w", spec, err)
	}
	return dir, h.String(), nil
}

// pickImage finds the image sel names ("" any, ":tag" or "@digest") for
// plat in ii, descending into nested indexes.
func pickImage(ii v1.ImageIndex, sel string, plat v1.Platform) (v1.Image, error) {
	im, err := ii.IndexManifest()
	if err != nil {
		return nil, err
	}
	var found []string
	for _, d := range im.Manifests {
		switch {
		case strings.HasPrefix(sel, "@"):
			if d.Digest.String() != sel[1:] {
				continue
			}
		case strings.HasPrefix(sel, ":"):
			rn := d.Annotations["org.opencontainers.image.ref.name"]
			if rn != sel[1:] && !strings.HasSuffix(rn, sel) {
				continue
			}
		}
		if d.MediaType.IsIndex() {
			child, err := ii.ImageIndex(d.Digest)
			if err != nil {
				return nil, err
			}
			if img, err := pickImage(child, "", plat); err == nil {
				return img, nil
			}
			found = append(found, d.Digest.String()+" (index without "+platformString(plat)+")")
			continue
		}
		if !d.MediaType.IsImage() {
			continue
		}
		if d.Platform != nil && !platformMatches(plat, d.Platform.OS, d.Platform.Architecture, d.Platform.Variant) {
			found = append(found, d.Digest.String()+" ("+platformString(*d.Platform)+")")
			continue
		}
		img, err := ii.Image(d.Digest)
		if err != nil {
			return nil, err
		}
		if err := checkPlatform(img, plat); err != nil {
			found = append(found, d.Digest.String()+" ("+err.Error()+")")
			continue
		}
		return img, nil
	}
	if sel == "" {
		sel = "any image"
	}
	if len(found) > 0 {
		return nil, fmt.Errorf("no %s image matching %s; found %s", platformString(plat), sel, strings.Join(found, ", "))
	}
	return nil, fmt.Errorf("no image matching %s", sel)
}

// lock serialises work on one digest within this process and, through a
// file lock, with other processes sharing the store.
func (s *Store) lock(ctx context.Context, h v1.Hash) (func(), error) {
	s.mu.Lock()
	m := s.locks[h.Hex]
	if m == nil {
		m = &sync.Mutex{}
		s.locks[h.Hex] = m
	}
	s.mu.Unlock()
	m.Lock()
	unlock, err := s.fileLock(ctx, h.Hex)
	if err != nil {
		m.Unlock()
		return nil, err
	}
	return func() { unlock(); m.Unlock() }, nil
}

func (s *Store) fileLock(ctx context.Context, key string) (func(), error) {
	f, err := os.OpenFile(filepath.Join(s.dir, "locks", key+".lock"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock image store: %w", err)
	}
	for {
		err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
		if err == nil {
			return func() { f.Close() }, nil
		}
		if err != unix.EWOULDBLOCK && err != unix.EINTR {
			f.Close()
			return nil, fmt.Errorf("lock image store: %w", err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
