package apk

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
)

// confSpecs are the packages the conformance tests write: every .PKGINFO
// field apk indexes, scripts, directories, a symlink, a long path, setuid.
func confSpecs() []*PackageSpec {
	long := "usr/share/doc/" + strings.Repeat("very-long-directory-name/", 5) + "README"
	return []*PackageSpec{
		{
			Info: PkgInfo{Name: "hello", Version: "2.12.1-r0", Description: "Say hello", URL: "https://example.org/hello",
				BuildDate: 1726000000, Packager: "Builder <b@example.org>", Arch: "x86_64", Origin: "hello",
				Commit: "0123456789abcdef0123456789abcdef01234567", Maintainer: "Jane <jane@example.org>",
				License: "GPL-3.0-or-later", Depends: []string{"so:libc.musl-x86_64.so.1", "busybox>=1.36"},
				Provides: []string{"cmd:hello=2.12.1-r0", "greeter"}},
			Scripts: map[string][]byte{".post-install": []byte("#!/bin/sh\necho installed\n")},
			Files: []File{
				{Name: "usr/bin/hello", Mode: 0o755, Data: []byte("#!/bin/sh\necho hello\n")},
				{Name: "usr/bin/hi", Mode: fs.ModeSymlink | 0o777, Link: "hello"},
				{Name: "etc/hello.conf", Data: []byte("greeting=hello\n")},
				{Name: long, Data: bytes.Repeat([]byte("doc "), 1000)},
				{Name: "var/empty", Mode: fs.ModeDir | 0o700},
			},
		},
		{
			Info: PkgInfo{Name: "hello-doc", Version: "2.12.1-r0", Description: "Say hello (documentation)",
				URL: "https://example.org/hello", BuildDate: 1726000000, Packager: "Builder", Arch: "noarch",
				Origin: "hello", License: "GPL-3.0-or-later", InstallIf: []string{"hello=2.12.1-r0", "docs"}},
			Files: []File{{Name: "usr/share/man/man1/hello.1", Data: []byte(".TH HELLO 1\n")}},
		},
		{
			Info: PkgInfo{Name: "Zlib-Compat", Version: "1.3_rc1-r2", Description: "x", URL: "https://zlib.net",
				BuildDate: 1700000000, Packager: "p", Arch: "x86_64", Origin: "zlib", License: "Zlib",
				ProviderPriority: "100", Replaces: []string{"zlib-old"}, Triggers: []string{"/usr/lib"}},
			Scripts: map[string][]byte{".trigger": []byte("#!/bin/sh\n")},
			Files:   []File{{Name: "usr/lib/libz.so.1", Mode: 0o4755, Data: []byte{0x7f, 'E', 'L', 'F', 0, 1, 2}}},
		},
		{
			Info: PkgInfo{Name: "empty", Version: "0_git20240101-r0", BuildDate: 1, Arch: "x86_64", License: "MIT"},
		},
	}
}

// confWriteRepo writes the specs as .apk files into a new directory and
// returns it with the parsed files by base name.
func confWriteRepo(t *testing.T, specs []*PackageSpec) (string, map[string]*PackageFile) {
	t.Helper()
	dir := t.TempDir()
	out := map[string]*PackageFile{}
	for _, s := range specs {
		b, err := MarshalPackage(s)
		if err != nil {
			t.Fatal(err)
		}
		name := s.Info.Name + "-" + s.Info.Version + ".apk"
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
		pf, err := ReadPackageFile(b, name)
		if err != nil {
			t.Fatalf("read back %s: %v", name, err)
		}
		out[name] = pf
	}
	return dir, out
}

func confRun(t *testing.T, dir, script string) alpinetest.Result {
	t.Helper()
	res := alpinetest.Run(t, alpinetest.Cmd{Arch: "x86_64",
		Mounts: []alpinetest.Mount{{Host: dir, Guest: "/tmp/repo", Writable: true}},
		Argv:   []string{"/bin/sh", "-ec", script}})
	if res.ExitCode != 0 {
		t.Fatalf("%s: exit %d\nstdout: %s\nstderr: %s", script, res.ExitCode, res.Stdout, res.Stderr)
	}
	return res
}

// TestConformanceApkIndexesOurPackages: the real apk index reads every
// package WritePackage makes, and the record it writes for each is the one
// IndexEntry computes, field by field.
func TestConformanceApkIndexesOurPackages(t *testing.T) {
	alpinetest.Require(t, "x86_64")
	dir, files := confWriteRepo(t, confSpecs())
	confRun(t, dir, "cd /tmp/repo && apk index --allow-untrusted -q -o APKINDEX.tar.gz --rewrite-arch x86_64 *.apk")
	b, err := os.ReadFile(filepath.Join(dir, "APKINDEX.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	idx, err := ReadIndexArchive(b, "APKINDEX.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Packages) != len(files) {
		t.Fatalf("apk indexed %d packages, want %d", len(idx.Packages), len(files))
	}
	for _, got := range idx.Packages {
		pf := files[got.Name+"-"+got.Version+".apk"]
		if pf == nil {
			t.Fatalf("apk index lists %s-%s, which we did not write", got.Name, got.Version)
		}
		want := pf.IndexEntry()
		want.Arch = "x86_64" // --rewrite-arch
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s: apk index record differs from IndexEntry\n got: %s\nwant: %s", got.Name, got.appendIndex(nil), want.appendIndex(nil))
		}
	}
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	t.Logf("apk indexed %v", names)
}
