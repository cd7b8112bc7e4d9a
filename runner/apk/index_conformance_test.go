package apk

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
)

// confArches are the arches whose real apk checks our packages (aarch64
// through qemu).
var confArches = []string{"x86_64", "aarch64"}

// confSpecs are the packages the conformance tests write for arch: every
// .PKGINFO field apk indexes, scripts, directories, a symlink, a long path,
// setuid.
func confSpecs(arch string) []*PackageSpec {
	libc := "so:libc.musl-" + arch + ".so.1"
	long := "usr/share/doc/" + strings.Repeat("very-long-directory-name/", 5) + "README"
	return []*PackageSpec{
		{
			Info: PkgInfo{Name: "hello", Version: "2.12.1-r0", Description: "Say hello", URL: "https://example.org/hello",
				BuildDate: 1726000000, Packager: "Builder <b@example.org>", Arch: arch, Origin: "hello",
				Commit: "0123456789abcdef0123456789abcdef01234567", Maintainer: "Jane <jane@example.org>",
				License: "GPL-3.0-or-later", Depends: []string{libc, "busybox>=1.36"},
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
				BuildDate: 1700000000, Packager: "p", Arch: arch, Origin: "zlib", License: "Zlib",
				ProviderPriority: "100", Replaces: []string{"zlib-old"}, Triggers: []string{"/usr/lib"}},
			Scripts: map[string][]byte{".trigger": []byte("#!/bin/sh\n")},
			Files:   []File{{Name: "usr/lib/libz.so.1", Mode: 0o4755, Data: []byte{0x7f, 'E', 'L', 'F', 0, 1, 2}}},
		},
		{
			Info: PkgInfo{Name: "busybox", Version: "1.36.1-r29", Description: "Size optimized toolbox", URL: "https://busybox.net",
				BuildDate: 1726000001, Packager: "p", Arch: arch, Origin: "busybox", License: "GPL-2.0-only",
				Provides: []string{libc + "=1", "/bin/sh"}},
			Files: []File{{Name: "bin/busybox", Mode: 0o755, Data: []byte("not really busybox\n")}},
		},
		{
			Info: PkgInfo{Name: "empty", Version: "0_git20240101-r0", BuildDate: 1, Arch: arch, License: "MIT"},
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

func confRun(t *testing.T, arch, dir, script string) alpinetest.Result {
	t.Helper()
	res := alpinetest.Run(t, alpinetest.Cmd{Arch: arch, Timeout: 3 * time.Minute,
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
	for _, arch := range confArches {
		t.Run(arch, func(t *testing.T) {
			alpinetest.Require(t, arch)
			dir, files := confWriteRepo(t, confSpecs(arch))
			confRun(t, arch, dir, "cd /tmp/repo && apk index --allow-untrusted -q -o APKINDEX.tar.gz --rewrite-arch "+arch+" *.apk")
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
				want.Arch = arch // --rewrite-arch
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s: apk index record differs from IndexEntry\n got: %s\nwant: %s", got.Name, got.appendIndex(nil), want.appendIndex(nil))
				}
			}
		})
	}
}

// confApkIndex runs the real apk index over the .apk files of dir and
// returns the archive it wrote.
func confApkIndex(t *testing.T, dir string) []byte {
	t.Helper()
	confRun(t, "x86_64", dir, "cd /tmp/repo && apk index --allow-untrusted -q -d 'v3.21.0-test' -o /tmp/repo/apk-index.tar.gz --rewrite-arch x86_64 *.apk")
	b, err := os.ReadFile(filepath.Join(dir, "apk-index.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// confTarNormalized decompresses an index archive and blanks each header's
// mtime and checksum (apk index stamps the current time).
func confTarNormalized(t *testing.T, archive []byte) []byte {
	t.Helper()
	tb, err := gunzipMember(archive)
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off+512 <= len(tb); {
		h := tb[off : off+512]
		if h[0] == 0 {
			break
		}
		size, err := strconv.ParseInt(strings.TrimRight(string(h[124:136]), "\x00"), 8, 64)
		if err != nil {
			t.Fatalf("header at %d: size %q", off, h[124:136])
		}
		copy(h[136:156], make([]byte, 20))
		off += 512 + int(size+511)/512*512
	}
	return tb
}

// TestConformanceIndexRoundTrip: an index written by the real apk index,
// read by ReadIndexArchive and written back by WriteIndexArchive, has the
// same APKINDEX bytes and the same tar layout (apart from header times); apk
// reads our archive back field for field (it reuses our records in
// apk index -x) and lists every package from it without a warning.
func TestConformanceIndexRoundTrip(t *testing.T) {
	alpinetest.Require(t, "x86_64")
	dir, files := confWriteRepo(t, confSpecs("x86_64"))
	theirs := confApkIndex(t, dir)
	idx, err := ReadIndexArchive(theirs, "apk-index.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	if idx.Description != "v3.21.0-test" || len(idx.Packages) != len(files) {
		t.Fatalf("read %q with %d packages", idx.Description, len(idx.Packages))
	}
	ours, err := MarshalIndexArchive(idx)
	if err != nil {
		t.Fatal(err)
	}
	theirTar, ourTar := confTarNormalized(t, theirs), confTarNormalized(t, ours)
	if !bytes.Equal(theirTar, ourTar) {
		t.Fatalf("our archive's tar differs from apk index's (times blanked):\n ours %q\ntheirs %q", ourTar, theirTar)
	}

	// apk index -x reuses the records of an existing index for files of
	// the same name, version and size: give it ours with every description
	// marked, and the marks must come back in what it writes.
	for _, p := range idx.Packages {
		p.Description = "from our index: " + p.Description
	}
	marked, err := MarshalIndexArchive(idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ours.tar.gz"), marked, 0o644); err != nil {
		t.Fatal(err)
	}
	confRun(t, "x86_64", dir, "cd /tmp/repo && touch ours.tar.gz && apk index --allow-untrusted -q -x ours.tar.gz -d 'v3.21.0-test' -o reindexed.tar.gz --rewrite-arch x86_64 *.apk")
	re, err := os.ReadFile(filepath.Join(dir, "reindexed.tar.gz"))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := confTarNormalized(t, re), confTarNormalized(t, marked); !bytes.Equal(got, want) {
		t.Fatalf("apk index -x over our index wrote something else:\n got %q\nwant %q", got, want)
	}

	// apk as a client: our archive as a repository.
	repo := filepath.Join(dir, "x86_64")
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "APKINDEX.tar.gz"), ours, 0o644); err != nil {
		t.Fatal(err)
	}
	res := confRun(t, "x86_64", dir, "apk --root /tmp/r --initdb add -q >/dev/null && apk --allow-untrusted --root /tmp/r -X /tmp/repo search -v")
	var want []string
	for _, p := range idx.Packages {
		want = append(want, p.Name+"-"+p.Version+" - "+strings.TrimPrefix(p.Description, "from our index: "))
	}
	sort.Strings(want)
	got := strings.Split(strings.TrimSpace(res.Stdout), "\n")
	sort.Strings(got)
	if !reflect.DeepEqual(got, want) || res.Stderr != "" {
		t.Fatalf("apk search -v over our index:\n got %q\nwant %q\nstderr %q", got, want, res.Stderr)
	}
}

// TestConformanceInstall: apk add installs a package we wrote from an index
// we wrote, with its dependency; the installed files have our content,
// modes and link targets, and apk recorded our per-file SHA-1 (Z:) and our
// install script.
func TestConformanceInstall(t *testing.T) {
	for _, arch := range confArches {
		t.Run(arch, func(t *testing.T) { confInstall(t, arch) })
	}
}

func confInstall(t *testing.T, arch string) {
	alpinetest.Require(t, arch)
	dir, files := confWriteRepo(t, confSpecs(arch))
	repo := filepath.Join(dir, arch)
	if err := os.MkdirAll(repo, 0o755); err != nil {
		t.Fatal(err)
	}
	idx := &Index{Description: "ours"}
	for name, pf := range files {
		if err := os.Rename(filepath.Join(dir, name), filepath.Join(repo, name)); err != nil {
			t.Fatal(err)
		}
		e := pf.IndexEntry()
		e.Arch = arch
		idx.Packages = append(idx.Packages, e)
	}
	b, err := MarshalIndexArchive(idx)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, "APKINDEX.tar.gz"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	long := "usr/share/doc/" + strings.Repeat("very-long-directory-name/", 5) + "README"
	res := confRun(t, arch, dir, `apk add --allow-untrusted --root /tmp/r --initdb --no-scripts -X /tmp/repo hello >/tmp/add.log 2>&1 || { cat /tmp/add.log; exit 1; }
cd /tmp/r
echo "hello=$(cat usr/bin/hello | sha1sum)"
echo "mode=$(stat -c %a usr/bin/hello) $(stat -c %a var/empty) $(stat -c %a etc/hello.conf)"
echo "link=$(readlink usr/bin/hi)"
echo "doc=$(cat `+long+` | sha1sum)"
echo "busybox=$(cat bin/busybox)"
echo "scripts=$(tar tf lib/apk/db/scripts.tar)"
grep -A2 '^R:hello.conf$' lib/apk/db/installed | grep '^Z:'
apk --root /tmp/r info -q | sort | tr '\n' ' '; echo
`)
	want := []string{
		"hello=" + sha1Hex([]byte("#!/bin/sh\necho hello\n")) + "  -",
		"mode=755 700 644",
		"link=hello",
		"doc=" + sha1Hex(bytes.Repeat([]byte("doc "), 1000)) + "  -",
		"busybox=not really busybox",
		"scripts=hello-2.12.1-r0." + files["hello-2.12.1-r0.apk"].Checksum() + ".post-install",
		"Z:" + controlChecksum([]byte("greeting=hello\n")),
		"busybox hello",
	}
	got := strings.Split(strings.TrimSpace(res.Stdout), "\n")
	for i := range got {
		got[i] = strings.TrimSpace(got[i])
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("installed tree:\n got %q\nwant %q", got, want)
	}
}

// TestConformanceIndexLimits shows that the reader's limits are apk's: a
// line of MaxIndexLine bytes is read by both; one byte more makes apk stop
// reading the index (later packages vanish) and ParseIndex fail; an unknown
// uppercase field makes apk warn that it is OLD and "Some packages are not
// installable" (it marks the package uninstallable), and ParseIndex fail
// with the line; an unknown lowercase field only draws a
// warning from apk, and ParseIndex keeps it.
func TestConformanceIndexLimits(t *testing.T) {
	alpinetest.Require(t, "x86_64")
	record := func(name, extra string) string {
		return "C:Q1" + strings.Repeat(name, 26) + "A=\nP:" + name + "\nV:1.0-r0\nA:x86_64\nS:1\nI:1\nT:t\nU:\nL:MIT\n" + extra + "\n"
	}
	for _, tc := range []struct {
		name    string
		text    string
		ours    string // ParseIndex error, "" for none
		apkOut  string // apk search -v output
		apkWarn string // in apk's stderr, "" for none
	}{
		{"line at the limit", record("a", "") + record("b", "T:"+strings.Repeat("x", MaxIndexLine-2)+"\n") + record("c", ""),
			"", "a-1.0-r0 - t\nb-1.0-r0 - " + strings.Repeat("x", MaxIndexLine-2) + "\nc-1.0-r0 - t", ""},
		{"line one byte over", record("a", "") + record("b", "T:"+strings.Repeat("x", MaxIndexLine-1)+"\n") + record("c", ""),
			"APKINDEX:20: line longer than 131071 bytes", "a-1.0-r0 - t", "No buffer space available"},
		{"unknown uppercase field", record("a", "") + record("b", "X:new\n"),
			`APKINDEX:20: unknown field "X:"`, "a-1.0-r0 - t\nb-1.0-r0 - t", "This apk-tools is OLD! Some packages are not installable."},
		{"unknown lowercase field", record("a", "") + record("b", "x:new\n"), "", "a-1.0-r0 - t\nb-1.0-r0 - t",
			"This apk-tools is OLD! Some packages might not function properly."},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseIndex(strings.NewReader(tc.text), "APKINDEX")
			if tc.ours == "" && err != nil || tc.ours != "" && (err == nil || !strings.Contains(err.Error(), tc.ours)) {
				t.Errorf("ParseIndex: %v, want error %q", err, tc.ours)
			}
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "x86_64"), 0o755); err != nil {
				t.Fatal(err)
			}
			archive := gz(t, string(arcTar([]arcEntry{{name: "APKINDEX", data: tc.text}}, true)))
			if err := os.WriteFile(filepath.Join(dir, "x86_64", "APKINDEX.tar.gz"), archive, 0o644); err != nil {
				t.Fatal(err)
			}
			res := confRun(t, "x86_64", dir, "apk --root /tmp/r --initdb add -q >/dev/null && apk --allow-untrusted --root /tmp/r -X /tmp/repo search -v | sort")
			if got := strings.TrimSpace(res.Stdout); got != tc.apkOut {
				t.Errorf("apk search -v printed %.200q, want %.200q", got, tc.apkOut)
			}
			if tc.apkWarn == "" && res.Stderr != "" || !strings.Contains(res.Stderr, tc.apkWarn) {
				t.Errorf("apk stderr %q, want %q", res.Stderr, tc.apkWarn)
			}
		})
	}
}
