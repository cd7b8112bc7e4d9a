package repo

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/signer"
)

var (
	keyOnce sync.Once
	keyDir  string
	keyErr  error
)

// testKeys writes two 2048-bit key pairs once per test binary: "farm"
// signs, "next" is the key a rotation adds.
func testKeys(t testing.TB) (farm, next string) {
	t.Helper()
	keyOnce.Do(func() {
		keyDir, keyErr = os.MkdirTemp("", "apkfarm-repo-test-")
		for _, name := range []string{"farm-11111111", "next-22222222"} {
			if keyErr != nil {
				return
			}
			k, err := apk.GenerateKey(2048)
			if err != nil {
				keyErr = err
				return
			}
			_, _, keyErr = apk.WriteKeyPair(keyDir, name, k)
		}
	})
	if keyErr != nil {
		t.Fatal(keyErr)
	}
	return filepath.Join(keyDir, "farm-11111111.rsa"), filepath.Join(keyDir, "next-22222222.rsa")
}

// fixture is a repository, its staging and journal directories, and a
// signer.
type fixture struct {
	t       testing.TB
	repo    Repository
	staging Staging
	opts    Options
	now     time.Time
}

func newFixture(t testing.TB, keyPaths ...string) *fixture {
	t.Helper()
	if len(keyPaths) == 0 {
		farm, _ := testKeys(t)
		keyPaths = []string{farm}
	}
	s, err := signer.LoadKeys(keyPaths, "")
	if err != nil {
		t.Fatal(err)
	}
	kr := apk.NewKeyring("test")
	for _, pk := range s.PublicKeys() {
		if err := kr.Add(pk.Name, pk.Key); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	f := &fixture{t: t, repo: Repository{Dir: filepath.Join(dir, "repo"), Keys: kr},
		staging: Staging{Dir: filepath.Join(dir, "staging")},
		now:     time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)}
	f.opts = Options{Signer: s, JournalDir: filepath.Join(dir, "journal"), Now: func() time.Time { return f.now }}
	return f
}

// pkg makes an unsigned package: name, version, arch, origin, and a file
// whose content says who it is (plus extra, to make other bytes).
func pkg(t testing.TB, name, version, arch, origin, extra string, depends ...string) []byte {
	t.Helper()
	b, err := apk.MarshalPackage(&apk.PackageSpec{
		Info: apk.PkgInfo{Name: name, Version: version, Arch: arch, Origin: origin, License: "MIT",
			Description: name + " for tests", URL: "https://example.org", BuildDate: 1764849600, Depends: depends},
		Files: []apk.File{{Name: "usr/share/" + name + "/version", Data: []byte(version + extra + "\n")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// stage writes packages into arch's staging and returns their paths.
func (f *fixture) stage(arch string, pkgs ...[]byte) []string {
	f.t.Helper()
	var out []string
	for _, b := range pkgs {
		pf, err := apk.ReadPackageFile(b, "staged")
		if err != nil {
			f.t.Fatal(err)
		}
		p := filepath.Join(f.staging.ArchDir(arch), pf.Info.Name+"-"+pf.Info.Version+".apk")
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			f.t.Fatal(err)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			f.t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func (f *fixture) publish(reqs ...Request) *Result {
	f.t.Helper()
	res, err := f.repo.Publish(context.Background(), reqs, f.opts)
	if err != nil {
		f.t.Fatal(err)
	}
	for _, a := range res.Arches {
		if a.Error != "" {
			f.t.Fatalf("publish %s: %s", a.Arch, a.Error)
		}
	}
	return res
}

// indexed returns "name=version" of arch's index, sorted.
func (f *fixture) indexed(arch string) string {
	f.t.Helper()
	idx, _, err := f.repo.Index(arch)
	if err != nil {
		f.t.Fatal(err)
	}
	if idx == nil {
		return ""
	}
	var out []string
	for _, p := range idx.Packages {
		out = append(out, p.Name+"="+p.Version)
	}
	return strings.Join(out, " ")
}

// checkConsistent asserts what a client needs: the index verifies and
// names only files that exist with its size and control checksum, each
// signed by a trusted key.
func (f *fixture) checkConsistent(arch string) {
	f.t.Helper()
	idx, _, err := f.repo.Index(arch)
	if err != nil {
		f.t.Fatalf("%s: %v", arch, err)
	}
	if idx == nil {
		return
	}
	for _, p := range idx.Packages {
		file := filepath.Join(f.repo.ArchDir(arch), FileName(p))
		b, err := os.ReadFile(file)
		if err != nil {
			f.t.Fatalf("%s: index names %s: %v", arch, FileName(p), err)
		}
		if int64(len(b)) != p.Size {
			f.t.Errorf("%s: %s is %d bytes, the index says %d", arch, FileName(p), len(b), p.Size)
		}
		if err := f.repo.Keys.VerifyPackage(b, file); err != nil {
			f.t.Errorf("%s: %v", arch, err)
		}
		pf, err := apk.ReadPackageFile(b, file)
		if err != nil {
			f.t.Fatal(err)
		}
		if pf.Checksum() != p.Checksum {
			f.t.Errorf("%s: %s has checksum %s, the index says %s", arch, FileName(p), pf.Checksum(), p.Checksum)
		}
	}
}

// apkClient runs the real apk 2.14 against the repository, with the
// repository's published keys trusted (or another keys directory).
type apkClient struct {
	f    *fixture
	root string // host path of the client's root (persists across calls)
}

func (f *fixture) client() *apkClient {
	f.t.Helper()
	alpinetest.Require(f.t, "x86_64")
	return &apkClient{f: f, root: filepath.Join(f.t.TempDir(), "root")}
}

// run runs apk with keysDir (a host path; "" the repository's keys/).
func (c *apkClient) run(keysDir string, args ...string) alpinetest.Result {
	c.f.t.Helper()
	if keysDir == "" {
		keysDir = filepath.Join(c.f.repo.Dir, KeysDir)
	}
	os.MkdirAll(c.root, 0o755)
	mounts := []alpinetest.Mount{{Host: c.f.repo.Dir, Guest: "/mnt"}, {Host: keysDir, Guest: "/srv"},
		{Host: c.root, Guest: "/home", Writable: true}}
	argv := append([]string{"--root", "/home", "--keys-dir", "/srv", "--repositories-file", "/dev/null", "-X", "/mnt",
		"--no-progress", "--arch", "x86_64"}, args...)
	if _, err := os.Stat(filepath.Join(c.root, "lib/apk/db/installed")); err != nil {
		argv = append([]string{"--initdb"}, argv...)
	}
	return alpinetest.Apk(c.f.t, "x86_64", mounts, argv...)
}

func (c *apkClient) mustRun(args ...string) string {
	c.f.t.Helper()
	res := c.run("", args...)
	if res.ExitCode != 0 {
		c.f.t.Fatalf("apk %s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), res.ExitCode, res.Stdout, res.Stderr)
	}
	return res.Stdout
}

func (c *apkClient) file(rel string) string {
	b, _ := os.ReadFile(filepath.Join(c.root, rel))
	return string(b)
}

func names(added []Added) string {
	var out []string
	for _, a := range added {
		out = append(out, fmt.Sprintf("%s=%s", a.Name, a.Version))
	}
	return strings.Join(out, " ")
}

func keyringOf(s signer.Signer) *apk.Keyring {
	kr := apk.NewKeyring("test")
	for _, pk := range s.PublicKeys() {
		kr.Add(pk.Name, pk.Key)
	}
	return kr
}

func hashOf(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:8]
}
