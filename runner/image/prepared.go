package image

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/runner/image/tarfs"
)

// Recipe says how to derive a build root from an image.
type Recipe struct {
	// Packages are installed by the image's own apk (apk add arguments:
	// "build-base", "abuild", "name>=1.2").
	Packages []string
	// Repositories become the root's /etc/apk/repositories, one line each:
	// a URL, an absolute host path of a local repository, either after an
	// "@tag". Empty keeps the image's own file. Local paths are shared
	// read-only at the same path while the packages install.
	Repositories []string
	// KeysDir holds public keys (*.pub) copied into /etc/apk/keys.
	KeysDir string
}

// Installer runs argv (the root's own apk) as root inside root, with
// network, the host directories binds shared read-only at the same paths,
// its output to log. A command that does not exit 0 is an error.
type Installer func(ctx context.Context, root, arch string, argv, binds []string, log io.Writer) error

// Prepared returns a root filesystem of ref for arch with r applied: the
// image, then r's repositories file and keys, then `apk add` of r's
// packages run by install inside it. It is made once per key (the image
// digest, the arch, the package list, each repository line with the state
// of its index for arch, and the keys' contents) under prepared/, and
// returned as it is while the key stays the same: a repository whose index
// changed makes a new one. When an index cannot be read (the network is
// down) the last root made for the same recipe is reused, with a warning.
// Treat the directory as read-only, like Rootfs's.
func (s *Store) Prepared(ctx context.Context, ref, arch string, r Recipe, install Installer) (dir, key string, err error) {
	base, digest, err := s.Rootfs(ctx, ref, arch)
	if err != nil {
		return "", "", err
	}
	repos := r.Repositories
	if len(repos) == 0 {
		b, err := tarfs.ReadFile(base, "/etc/apk/repositories")
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return "", "", fmt.Errorf("prepare build root: read the image's /etc/apk/repositories: %w", err)
		}
		repos = strings.Split(string(b), "\n")
	}
	lines, locs, err := repositoryLines(repos)
	if err != nil {
		return "", "", fmt.Errorf("prepare build root: %w", err)
	}
	keys, err := readKeys(r.KeysDir)
	if err != nil {
		return "", "", fmt.Errorf("prepare build root: %w", err)
	}
	recipe := recipeText(digest, arch, r.Packages, lines, keys)
	recipeHex := hashHex(recipe)
	latest := filepath.Join(s.dir, "prepared", arch+"-"+recipeHex+".latest")

	var states strings.Builder
	for i, loc := range locs {
		st, err := s.repositoryState(ctx, loc, arch)
		if err != nil {
			if name, lerr := os.Readlink(latest); lerr == nil && exists(filepath.Join(s.dir, "prepared", name)) {
				s.log.Warn("repository index unreadable; reusing the last build root prepared from the same recipe",
					"repository", lines[i], "arch", arch, "err", err)
				dir := filepath.Join(s.dir, "prepared", name)
				touch(dir)
				return dir, strings.TrimPrefix(name, arch+"-"), nil
			}
			return "", "", fmt.Errorf("prepare build root: repository %q: %w", lines[i], err)
		}
		fmt.Fprintf(&states, "state %d %s\n", i, st)
	}
	key = hashHex(recipe + states.String())
	final := filepath.Join(s.dir, "prepared", arch+"-"+key)
	if exists(final) {
		touch(final)
		s.markLatest(latest, final)
		s.log.Debug("build root reused", "arch", arch, "key", key)
		return final, key, nil
	}
	unlock, err := s.lock(ctx, v1.Hash{Algorithm: "sha256", Hex: key})
	if err != nil {
		return "", "", err
	}
	defer unlock()
	if exists(final) {
		touch(final)
		return final, key, nil
	}
	t0 := time.Now()
	if err := s.prepare(ctx, base, final, arch, r, repos, locs, keys, install); err != nil {
		return "", "", fmt.Errorf("prepare build root for %s from %s: %w", arch, ref, err)
	}
	s.markLatest(latest, final)
	s.log.Info("build root prepared", "arch", arch, "image", digest, "packages", strings.Join(r.Packages, " "),
		"key", key, "duration", time.Since(t0).Round(time.Millisecond))
	return final, key, nil
}

// markLatest records root as its recipe's last (see Prune), atomically.
func (s *Store) markLatest(latest, root string) {
	if name, err := os.Readlink(latest); err == nil && name == filepath.Base(root) {
		return
	}
	tmp := latest + ".tmp-" + filepath.Base(root)[:8]
	_ = os.Remove(tmp)
	err := os.Symlink(filepath.Base(root), tmp)
	if err == nil {
		err = os.Rename(tmp, latest)
	}
	if err != nil {
		os.Remove(tmp)
		s.log.Warn("record the last prepared build root", "err", err)
	}
}

// prepare makes the root in a temporary directory and renames it to final.
func (s *Store) prepare(ctx context.Context, base, final, arch string, r Recipe, repos, locs []string, keys []keyFile, install Installer) error {
	parent := filepath.Dir(final)
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, ".prepare-")
	if err != nil {
		return err
	}
	ok := false
	defer func() {
		if !ok {
			os.RemoveAll(tmp)
		}
	}()
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	if err := copyRoot(ctx, base, tmp, s); err != nil {
		return fmt.Errorf("copy the image: %w", err)
	}
	for _, k := range keys {
		if err := writeIn(tmp, "/etc/apk/keys/"+k.name, k.data); err != nil {
			return err
		}
	}
	if len(r.Repositories) > 0 {
		if err := writeIn(tmp, "/etc/apk/repositories", []byte(strings.Join(r.Repositories, "\n")+"\n")); err != nil {
			return err
		}
	}
	if len(r.Packages) > 0 {
		if install == nil {
			return errors.New("no installer to run apk add")
		}
		var binds []string
		for _, l := range locs {
			if filepath.IsAbs(l) {
				binds = append(binds, l)
			}
		}
		var out bytes.Buffer
		argv := append([]string{"apk", "add", "--no-progress"}, r.Packages...)
		if err := install(ctx, tmp, arch, argv, binds, &out); err != nil {
			return fmt.Errorf("%s: %w%s", strings.Join(argv, " "), err, tail(out.String()))
		}
		if err := checkInstalled(tmp, r.Packages); err != nil {
			return fmt.Errorf("%w%s", err, tail(out.String()))
		}
	}
	if err := os.Rename(tmp, final); err != nil {
		return err
	}
	ok = true
	return nil
}

// copyRoot copies the image's root into dst, owners and modes included.
func copyRoot(ctx context.Context, src, dst string, s *Store) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(tarfs.Archive(ctx, src, "/", pw)) }()
	_, err := tarfs.Extract(ctx, dst, "/", pr, tarfs.Options{Chown: os.Geteuid() == 0, Logger: s.log})
	pr.CloseWithError(errors.New("copy ended"))
	return err
}

// writeIn writes a file at name inside root, never outside it.
func writeIn(root, name string, data []byte) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	h := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(name, "/"), Mode: 0o644, Size: int64(len(data)), ModTime: time.Now()}
	if err := tw.WriteHeader(h); err != nil {
		return err
	}
	if _, err := tw.Write(data); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return err
	}
	_, err := tarfs.Extract(context.Background(), root, "/", &buf, tarfs.Options{})
	if err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

// checkInstalled says which requested package apk did not install: each
// name (without a version constraint) must be a package or a provided
// name in the root's installed database.
func checkInstalled(root string, pkgs []string) error {
	b, err := tarfs.ReadFile(root, "/lib/apk/db/installed")
	if err != nil {
		return fmt.Errorf("read the installed database: %w", err)
	}
	have := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "P:"):
			have[l[2:]] = true
		case strings.HasPrefix(l, "p:"):
			for _, p := range strings.Fields(l[2:]) {
				have[depName(p)] = true
			}
		}
	}
	var missing []string
	for _, p := range pkgs {
		if strings.HasPrefix(p, "!") || strings.HasPrefix(p, "-") {
			continue
		}
		if n := depName(p); !have[n] {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("apk add left %q uninstalled", missing)
	}
	return nil
}

// depName strips a version constraint and a repository tag from an apk
// dependency ("abuild>=3.12@edge" is "abuild").
func depName(d string) string {
	if i := strings.IndexAny(d, "<>=~@"); i >= 0 {
		return d[:i]
	}
	return d
}

// repositoryLines reads repository lines (comments and blank lines
// dropped) and returns them with their locations (the URL or path after
// an optional "@tag").
func repositoryLines(in []string) (lines, locs []string, err error) {
	for _, l := range in {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		f := strings.Fields(l)
		loc := f[0]
		if strings.HasPrefix(loc, "@") {
			if len(f) < 2 {
				return nil, nil, fmt.Errorf("repository line %q: a tag without a location", l)
			}
			loc = f[1]
		}
		if !filepath.IsAbs(loc) && !strings.HasPrefix(loc, "http://") && !strings.HasPrefix(loc, "https://") {
			return nil, nil, fmt.Errorf("repository %q: want an http(s) URL or an absolute path", loc)
		}
		lines, locs = append(lines, l), append(locs, strings.TrimRight(loc, "/"))
	}
	return lines, locs, nil
}

type keyFile struct {
	name string
	data []byte
}

// maxKeySize caps a public key file.
const maxKeySize = 64 << 10

// readKeys reads the *.pub files of dir, in name order.
func readKeys(dir string) ([]keyFile, error) {
	if dir == "" {
		return nil, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read keys: %w", err)
	}
	var out []keyFile
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".pub") {
			continue
		}
		b, err := safefile.ReadFile(filepath.Join(dir, e.Name()), maxKeySize)
		if err != nil {
			return nil, fmt.Errorf("read keys: %w", err)
		}
		out = append(out, keyFile{e.Name(), b})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("read keys: no *.pub file in %s", dir)
	}
	return out, nil
}

// recipeText is what a prepared root depends on, but the repositories'
// states.
func recipeText(digest, arch string, pkgs, repos []string, keys []keyFile) string {
	var b strings.Builder
	fmt.Fprintf(&b, "apkfarm prepared build root 1\nimage %s\narch %s\n", digest, arch)
	sorted := slices.Clone(pkgs)
	slices.Sort(sorted)
	for _, p := range slices.Compact(sorted) {
		fmt.Fprintf(&b, "package %s\n", p)
	}
	for _, r := range repos {
		fmt.Fprintf(&b, "repository %s\n", r)
	}
	for _, k := range keys {
		fmt.Fprintf(&b, "key %s %s\n", k.name, hashHex(string(k.data)))
	}
	return b.String()
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

// maxIndexSize caps a repository index read to hash it.
const maxIndexSize = 512 << 20

// repositoryState names the state of a repository's index for arch: the
// sha256 of its APKINDEX.tar.gz, or "absent" (no index yet: apk skips such
// a repository). A local index is hashed again only when its file changed;
// a remote one is fetched at most once per resolve TTL.
func (s *Store) repositoryState(ctx context.Context, loc, arch string) (string, error) {
	if filepath.IsAbs(loc) {
		p := filepath.Join(loc, arch, "APKINDEX.tar.gz")
		f, err := safefile.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			return "absent", nil
		}
		if err != nil {
			return "", err
		}
		defer f.Close()
		fi, err := f.Stat()
		if err != nil {
			return "", err
		}
		h, err := s.fileDigest(f, fi, p, maxIndexSize)
		if err != nil {
			return "", fmt.Errorf("read %s: %w", p, err)
		}
		return h.Hex, nil
	}
	url := loc + "/" + arch + "/APKINDEX.tar.gz"
	s.mu.Lock()
	res, ok := s.resolved["index "+url]
	s.mu.Unlock()
	if ok && time.Since(res.at) < s.resolveTTL {
		return res.digest.Hex, nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	tr := s.transport
	if tr == nil {
		tr = http.DefaultTransport
	}
	resp, err := (&http.Client{Transport: tr, Timeout: 5 * time.Minute}).Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	var hx string
	switch resp.StatusCode {
	case http.StatusOK:
		sum := sha256.New()
		if _, err := io.Copy(sum, io.LimitReader(resp.Body, maxIndexSize)); err != nil {
			return "", fmt.Errorf("read %s: %w", url, err)
		}
		hx = hex.EncodeToString(sum.Sum(nil))
	case http.StatusNotFound:
		hx = "absent"
	default:
		return "", fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	s.mu.Lock()
	s.resolved["index "+url] = resolution{digest: v1.Hash{Algorithm: "sha256", Hex: hx}, at: time.Now()}
	s.mu.Unlock()
	return hx, nil
}

// touch marks dir as handed out now (Prune).
func touch(dir string) {
	now := time.Now()
	_ = os.Chtimes(dir, now, now)
}

// tail returns the last lines of an installer's output for an error.
func tail(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return ""
	}
	lines := strings.Split(s, "\n")
	if len(lines) > 10 {
		lines = lines[len(lines)-10:]
	}
	return "\n" + strings.Join(lines, "\n")
}
