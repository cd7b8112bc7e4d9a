package apkbuild

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
)

func TestScanFixtures(t *testing.T) {
	tests := []struct {
		name             string
		include, exclude []string
		want             []string
	}{
		{"all", nil, nil, []string{"community/noarch-fonts", "device/community/device-pine64-pinephone",
			"device/testing/device-acme-board", "firmware/firmware-xiaomi-beryllium", "main/helpers-only",
			"main/libfoo", "main/linux-postmarketos-qcom-sdm845", "main/py3-tomlkit"}},
		{"exclude dir", nil, []string{"device/testing", "main"}, []string{"community/noarch-fonts",
			"device/community/device-pine64-pinephone", "firmware/firmware-xiaomi-beryllium"}},
		{"include glob", []string{"main/*"}, []string{"main/lib*"}, []string{"main/helpers-only",
			"main/linux-postmarketos-qcom-sdm845", "main/py3-tomlkit"}},
		{"include parent", []string{"device"}, nil, []string{"device/community/device-pine64-pinephone",
			"device/testing/device-acme-board"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := Scan(context.Background(), fixtureRoot, ScanOptions{Arches: []string{"aarch64"}, Include: tt.include, Exclude: tt.exclude})
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, a := range res.Aports["aarch64"] {
				got = append(got, a.Path)
			}
			if strings.Join(got, " ") != strings.Join(tt.want, " ") {
				t.Errorf("paths %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestScanDuplicates(t *testing.T) {
	res, err := Scan(context.Background(), fixtureRoot, ScanOptions{Arches: compareArches})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Duplicates) != 1 {
		t.Fatalf("duplicates %v, want one", res.Duplicates)
	}
	d := res.Duplicates[0]
	want := `package "device-pine64-pinephone-phosh" is produced by device/community/device-pine64-pinephone and device/testing/device-acme-board (aarch64)`
	if d.String() != want {
		t.Errorf("got  %s\nwant %s", d, want)
	}
}

func TestScanSingleAport(t *testing.T) {
	res, err := Scan(context.Background(), filepath.Join(fixtureRoot, "main", "libfoo"), ScanOptions{Arches: []string{"x86_64"}})
	if err != nil {
		t.Fatal(err)
	}
	if l := res.Aports["x86_64"]; len(l) != 1 || l[0].Path != "." || l[0].Pkgname != "libfoo" {
		t.Fatalf("got %+v", l)
	}
	if got := evalRel(filepath.Join(fixtureRoot, "main", "libfoo"), "."); got != "main/libfoo" {
		t.Errorf("evalRel of an aport root = %q, want main/libfoo", got)
	}
}

func TestScanErrors(t *testing.T) {
	tests := []struct {
		name string
		opts ScanOptions
		root string
		want string
	}{
		{"no arch", ScanOptions{}, fixtureRoot, "scan aports: no arch given"},
		{"unknown arch", ScanOptions{Arches: []string{"pdp11"}}, fixtureRoot, `scan aports: unknown arch "pdp11"`},
		{"bad glob", ScanOptions{Arches: []string{"x86"}, Exclude: []string{"["}}, fixtureRoot, `scan aports: bad glob "["`},
		{"missing root", ScanOptions{Arches: []string{"x86"}}, "testdata/nonexistent", "scan aports: stat testdata/nonexistent"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Scan(context.Background(), tt.root, tt.opts)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want %q", err, tt.want)
			}
		})
	}
}

// TestScanSymlink refuses an APKBUILD that is a symbolic link: it could
// point outside the tree.
func TestScanSymlink(t *testing.T) {
	root := t.TempDir()
	os.MkdirAll(filepath.Join(root, "evil"), 0o755)
	if err := os.Symlink("/etc/passwd", filepath.Join(root, "evil", "APKBUILD")); err != nil {
		t.Fatal(err)
	}
	res, err := Scan(context.Background(), root, ScanOptions{Arches: []string{"x86_64"}})
	if err != nil {
		t.Fatal(err)
	}
	if a := res.Aports["x86_64"][0]; !strings.Contains(a.Error, "evil/APKBUILD: read APKBUILD: not a regular file") {
		t.Errorf("error %q", a.Error)
	}
}

// TestScanCache checks that a second scan evaluates nothing and returns
// the same results, that a changed APKBUILD is evaluated again, and that a
// new arch is evaluated while the others come from the cache.
func TestScanCache(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(fixtureRoot)); err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	ctx := context.Background()
	opts := ScanOptions{Arches: []string{"x86_64", "aarch64"}, CacheDir: cache}
	first, err := Scan(ctx, root, opts)
	if err != nil {
		t.Fatal(err)
	}
	if first.Evaluated != 8 || first.Cached != 0 {
		t.Fatalf("first scan: evaluated %d, cached %d", first.Evaluated, first.Cached)
	}
	second, err := Scan(ctx, root, opts)
	if err != nil {
		t.Fatal(err)
	}
	if second.Evaluated != 0 || second.Cached != 8 {
		t.Fatalf("second scan: evaluated %d, cached %d", second.Evaluated, second.Cached)
	}
	for _, arch := range opts.Arches {
		for i, a := range second.Aports[arch] {
			b := first.Aports[arch][i]
			if a.Pkgname != b.Pkgname || a.Hash != b.Hash || len(a.Subpackages) != len(b.Subpackages) || strings.Join(a.Warnings, "|") != strings.Join(b.Warnings, "|") {
				t.Errorf("%s %s: cached result differs", arch, a.Path)
			}
		}
	}
	p := filepath.Join(root, "main", "libfoo", "APKBUILD")
	b, _ := os.ReadFile(p)
	if err := os.WriteFile(p, []byte(strings.Replace(string(b), "pkgrel=5", "pkgrel=6", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	third, err := Scan(ctx, root, ScanOptions{Arches: []string{"x86_64", "aarch64", "armv7"}, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if third.Evaluated != 8 {
		t.Errorf("third scan (new arch): evaluated %d, want 8", third.Evaluated)
	}
	for _, a := range third.Aports["x86_64"] {
		if a.Path == "main/libfoo" && a.Pkgrel != "6" {
			t.Errorf("changed APKBUILD: pkgrel %q, want 6", a.Pkgrel)
		}
	}
	fourth, err := Scan(ctx, root, ScanOptions{Arches: []string{"armv7"}, CacheDir: cache})
	if err != nil {
		t.Fatal(err)
	}
	if fourth.Evaluated != 0 {
		t.Errorf("fourth scan: evaluated %d, want 0", fourth.Evaluated)
	}
}

// TestNoProgramsNoFiles proves with strace that evaluating every fixture
// and every hostile APKBUILD, for three arches, runs no program and opens,
// stats or creates no file: the test binary re-runs itself under strace,
// reads the APKBUILDs first, then marks the start and the end of the
// evaluation with stat calls of marker paths.
func TestNoProgramsNoFiles(t *testing.T) {
	if os.Getenv("APKFARM_STRACE_CHILD") == "1" {
		straceChild(t)
		return
	}
	alpinetest.RequireCommand(t, "strace", "apt-get install strace")
	out := filepath.Join(t.TempDir(), "trace")
	cmd := exec.Command("strace", "-f", "-qq", "-o", out,
		"-e", "trace=%file,%network,execve,execveat,fork,vfork",
		os.Args[0], "-test.run=^TestNoProgramsNoFiles$", "-test.count=1")
	cmd.Env = append(os.Environ(), "APKFARM_STRACE_CHILD=1")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("child: %v\n%s", err, b)
	}
	trace, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	inside, lines := false, 0
	if !strings.Contains(string(trace), "execve(") {
		t.Fatalf("trace shows no execve at all: strace did not trace the child:\n%s", trace)
	}
	for _, line := range strings.Split(string(trace), "\n") {
		switch {
		case strings.Contains(line, "/apkfarm-marker-begin"):
			inside = true
			continue
		case strings.Contains(line, "/apkfarm-marker-end"):
			inside = false
			continue
		}
		if !inside || strings.TrimSpace(line) == "" || strings.Contains(line, " --- SIG") {
			continue
		}
		lines++
		t.Errorf("system call during evaluation: %s", line)
	}
	t.Logf("%d calls traced between the markers", lines)
	if !strings.Contains(string(trace), "/apkfarm-marker-end") {
		t.Fatalf("trace has no end marker:\n%s", trace)
	}
}

func straceChild(t *testing.T) {
	var files []*File
	for _, root := range []string{fixtureRoot, hostileRoot} {
		rels, err := fixtureRels(root)
		if err != nil {
			t.Fatal(err)
		}
		for _, rel := range rels {
			src, err := os.ReadFile(filepath.Join(root, rel, "APKBUILD"))
			if err != nil {
				t.Fatal(err)
			}
			f, err := Parse(rel, src)
			if err == nil {
				files = append(files, f)
			}
		}
	}
	os.Stat("/apkfarm-marker-begin")
	for _, f := range files {
		for _, arch := range compareArches {
			f.EvalWith(context.Background(), arch, EvalOptions{Rel: f.Path, Timeout: 200e6})
		}
	}
	os.Stat("/apkfarm-marker-end")
}

// TestScanFIFO: a FIFO at an APKBUILD or at the cache file is refused at
// once, never waited on.
func TestScanFIFO(t *testing.T) {
	root, cache := t.TempDir(), t.TempDir()
	os.MkdirAll(filepath.Join(root, "fifo"), 0o755)
	if err := syscall.Mkfifo(filepath.Join(root, "fifo", "APKBUILD"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(root, "good"), 0o755)
	os.WriteFile(filepath.Join(root, "good", "APKBUILD"), []byte("pkgname=good\npkgver=1\npkgrel=0\narch=all\n"), 0o644)
	type result struct {
		res *ScanResult
		err error
	}
	scan := func() result {
		done := make(chan result, 1)
		go func() {
			res, err := Scan(context.Background(), root, ScanOptions{Arches: []string{"x86_64"}, CacheDir: cache})
			done <- result{res, err}
		}()
		select {
		case r := <-done:
			return r
		case <-time.After(20 * time.Second):
			t.Fatal("the scan still waits after 20 s")
		}
		return result{}
	}
	r := scan()
	if r.err != nil {
		t.Fatal(r.err)
	}
	found := false
	for _, a := range r.res.Aports["x86_64"] {
		if a.Path == "fifo" {
			found = true
			if !strings.Contains(a.Error, "fifo/APKBUILD: read APKBUILD: not a regular file") {
				t.Errorf("error %q", a.Error)
			}
		}
	}
	if !found {
		t.Errorf("no aport for the FIFO in %v", r.res.Aports["x86_64"])
	}
	ents, _ := os.ReadDir(cache)
	for _, e := range ents {
		p := filepath.Join(cache, e.Name())
		os.Remove(p)
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if len(ents) == 0 {
		t.Fatal("the scan wrote no cache file")
	}
	if r := scan(); r.err == nil || !strings.Contains(r.err.Error(), "not a regular file") {
		t.Errorf("FIFO at the cache file: err = %v", r.err)
	}
}
