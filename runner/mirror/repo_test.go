package mirror

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/published/publishedtest"
)

// repoSpec describes a test repository: per arch, packages name-version.
type repoSpec struct {
	arches   []string
	names    []string
	version  string
	pkgBytes int
}

// writeRepo writes spec's packages and a signed index per arch into dir,
// which is emptied first.
func writeRepo(t testing.TB, dir string, s *apk.Signer, spec repoSpec) {
	t.Helper()
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	size := max(spec.pkgBytes, 64)
	for _, arch := range spec.arches {
		var pkgs []*apk.Package
		adir := filepath.Join(dir, arch)
		if err := os.MkdirAll(adir, 0o755); err != nil {
			t.Fatal(err)
		}
		for _, name := range spec.names {
			body := bytes.Repeat([]byte(name+"-"+spec.version+"-"+arch+"\n"), size/len(name)+1)[:size]
			if err := os.WriteFile(filepath.Join(adir, name+"-"+spec.version+".apk"), body, 0o644); err != nil {
				t.Fatal(err)
			}
			pkgs = append(pkgs, &apk.Package{Name: name, Version: spec.version, Arch: arch, Size: int64(size), Origin: name})
		}
		publishedtest.WriteIndex(t, filepath.Join(adir, indexName), s, pkgs...)
	}
}

// names returns n package names.
func names(n int, prefix string) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%04d", prefix, i)
	}
	return out
}

// treeOf maps each regular file below dir (slash path) to its SHA-256.
func treeOf(t testing.TB, dir string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		sum := sha256.Sum256(b)
		out[filepath.ToSlash(rel)] = hex.EncodeToString(sum[:8])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// sameTree fails unless got has exactly want's files with want's content.
func sameTree(t testing.TB, what, got, want string) {
	t.Helper()
	g, w := treeOf(t, got), treeOf(t, want)
	var diff []string
	for k, v := range w {
		if g[k] != v {
			diff = append(diff, "differs or missing: "+k)
		}
	}
	for k := range g {
		if _, ok := w[k]; !ok {
			diff = append(diff, "extra: "+k)
		}
	}
	if len(diff) > 0 {
		if len(diff) > 10 {
			diff = append(diff[:10], fmt.Sprintf("and %d more", len(diff)-10))
		}
		t.Errorf("%s is not a copy of %s:\n%s", what, want, strings.Join(diff, "\n"))
	}
}

// servesOnlyWhatItHas fails when an index in dir names a package that dir
// lacks, or has at another size: what a client of the mirror must never
// see. It may run off the test's goroutine: no Fatal.
func servesOnlyWhatItHas(t testing.TB, when, dir string, keys *apk.Keyring) {
	t.Helper()
	idxs, _ := filepath.Glob(filepath.Join(dir, "*", indexName))
	for _, p := range idxs {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v", when, err)
			continue
		}
		if err := keys.VerifyIndex(b, p); err != nil {
			t.Errorf("%s: %v", when, err)
			continue
		}
		idx, err := apk.ReadIndexArchive(b, p)
		if err != nil {
			t.Errorf("%s: %v", when, err)
			continue
		}
		for _, pkg := range idx.Packages {
			f := filepath.Join(filepath.Dir(p), pkg.Name+"-"+pkg.Version+".apk")
			fi, err := os.Stat(f)
			switch {
			case err != nil:
				t.Errorf("%s: the mirror's index names %s-%s, which it lacks: %v", when, pkg.Name, pkg.Version, err)
			case fi.Size() != pkg.Size:
				t.Errorf("%s: %s is %d bytes, its index says %d", when, f, fi.Size(), pkg.Size)
			}
		}
	}
}
