package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/internal/memtest"
	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/published/publishedtest"
	"github.com/apkfarm/apkfarm/state"
)

// bombPackage writes a 5 MB .apk whose control member inflates to 5 GiB.
func bombPackage(t *testing.T, dir string) string {
	t.Helper()
	const huge = 5 << 30
	ctl := memtest.GzipBomb(memtest.TarHeader(".PKGINFO", huge), huge)
	data := memtest.GzipBomb(nil, 1024) // an empty tar
	p := filepath.Join(dir, "bomb-1.0-r0.apk")
	if err := os.WriteFile(p, append(ctl, data...), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestIndexBomb: `run index` refuses a package whose control member is a
// decompression bomb, inflating no more than the control cap, with the
// heap under 100 MB.
func TestIndexBomb(t *testing.T) {
	keys, dir := t.TempDir(), t.TempDir()
	priv, _ := adminKeygen(t, keys, "k")
	bomb := bombPackage(t, dir)
	out := filepath.Join(dir, "APKINDEX.tar.gz")
	var code int
	var errs string
	before := apk.InflatedBytes()
	peak := memtest.Peak(func() { code, _, errs = adminRun(t, "index", "--key", priv, "--out", out, bomb) })
	n := apk.InflatedBytes() - before
	st, _ := os.Stat(bomb)
	t.Logf("run index of a %d-byte bomb: inflated %.1f MiB, peak heap %.1f MiB", st.Size(), float64(n)/(1<<20), memtest.MiB(peak))
	if code != exitFailed || !strings.Contains(errs, bomb) || !strings.Contains(errs, "control member inflates to more than 4 MiB") {
		t.Fatalf("exit %d\nstderr: %s", code, errs)
	}
	if n > 5<<20 || peak > 100<<20 {
		t.Errorf("inflated %d bytes with a peak heap of %.1f MiB: want at most 5 MiB and under 100 MiB", n, memtest.MiB(peak))
	}
}

// TestIndexNamedTwice: a package named twice, through a symlink, or
// copied, is one record.
func TestIndexNamedTwice(t *testing.T) {
	keys, dir := t.TempDir(), t.TempDir()
	priv, _ := adminKeygen(t, keys, "k")
	hello := adminPackage(t, dir, "hello")
	link := filepath.Join(dir, "link.apk")
	os.Symlink(hello, link)
	cp := filepath.Join(t.TempDir(), "copy.apk")
	b, _ := os.ReadFile(hello)
	os.WriteFile(cp, b, 0o644)
	out := filepath.Join(dir, "APKINDEX.tar.gz")
	code, _, errs := adminRun(t, "index", "--key", priv, "--out", out, hello, hello, link, cp)
	if code != exitOK {
		t.Fatalf("exit %d\nstderr: %s", code, errs)
	}
	ib, _ := os.ReadFile(out)
	idx, err := apk.ReadIndexArchive(ib, out)
	if err != nil || len(idx.Packages) != 1 {
		t.Fatalf("index: %v, %v; want one record", idx, err)
	}
}

// TestNotRegularFiles: a FIFO where the runner expects a file is an error
// naming it at once: status.json and the published index in a dry run and
// a run (before anything is planned), a package given to verify.
func TestNotRegularFiles(t *testing.T) {
	within := func(t *testing.T, f func() (int, string, string)) (int, string, string) {
		t.Helper()
		type res struct {
			code int
			o, e string
		}
		done := make(chan res, 1)
		go func() { c, o, e := f(); done <- res{c, o, e} }()
		select {
		case r := <-done:
			return r.code, r.o, r.e
		case <-time.After(30 * time.Second):
			t.Fatal("still waiting after 30 s")
		}
		return 0, "", ""
	}
	fifo := func(t *testing.T, p string) {
		t.Helper()
		os.Remove(p)
		if err := syscall.Mkfifo(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	t.Run("status.json, dry run", func(t *testing.T) {
		f := newFixture(t, "")
		p := filepath.Join(f.stateDir, state.FileName)
		fifo(t, p)
		code, _, errs := within(t, func() (int, string, string) { return f.run(t, "--dry-run") })
		if code != exitTrouble || !strings.Contains(errs, p) || !strings.Contains(errs, "FIFO") {
			t.Fatalf("exit %d, stderr %q: want 2 and the path", code, errs)
		}
	})
	t.Run("status.json, run", func(t *testing.T) {
		f := newFixture(t, "[build]\nimage = \"rootfs:/nonexistent.tar.gz\"\n")
		p := filepath.Join(f.stateDir, state.FileName)
		os.RemoveAll(p)
		os.Mkdir(p, 0o755)
		code, out, errs := within(t, func() (int, string, string) { return f.run(t, "--no-publish") })
		if code != exitTrouble || !strings.Contains(errs, p) || !strings.Contains(errs, "directory") || out != "" {
			t.Fatalf("exit %d, stdout %q, stderr %q: want 2, the path, and no plan", code, out, errs)
		}
	})
	t.Run("published index, dry run", func(t *testing.T) {
		f := newFixture(t, "")
		p := filepath.Join(f.repo, "x86_64", "APKINDEX.tar.gz")
		fifo(t, p)
		_, out, errs := within(t, func() (int, string, string) { return f.run(t, "--dry-run") })
		if !strings.Contains(out+errs, p) || !strings.Contains(out+errs, "FIFO") {
			t.Fatalf("stdout %q, stderr %q: want the path named", out, errs)
		}
	})
	t.Run("verify", func(t *testing.T) {
		keys := t.TempDir()
		_, pub := adminKeygen(t, keys, "k")
		p := filepath.Join(t.TempDir(), "x.apk")
		fifo(t, p)
		code, out, _ := within(t, func() (int, string, string) {
			return adminRun(t, "verify", "--keys-dir", adminKeysDir(t, pub), p)
		})
		if code != exitFailed || !strings.HasPrefix(out, p+": ") || !strings.Contains(out, "FIFO") {
			t.Fatalf("exit %d, stdout %q", code, out)
		}
	})
}

// TestSignStreams: `run sign` signs a package of 256 MiB of data without
// holding it: the heap stays far below its size.
func TestSignStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("inflates 256 MiB")
	}
	keys, dir := t.TempDir(), t.TempDir()
	priv, pub := adminKeygen(t, keys, "k")
	const size = 256 << 20
	data := memtest.GzipBomb(memtest.TarHeader("usr/share/big", size), size+1024)
	sum := sha256.Sum256(data)
	info := "pkgname = big\npkgver = 1.0-r0\narch = x86_64\ndatahash = " + hex.EncodeToString(sum[:]) + "\n"
	ctlTar := append(memtest.TarHeader(".PKGINFO", int64(len(info))), info...)
	ctlTar = append(ctlTar, make([]byte, 512-len(info)%512)...)
	ctl := memtest.GzipBomb(ctlTar, 0)
	p := filepath.Join(dir, "big-1.0-r0.apk")
	os.WriteFile(p, append(ctl, data...), 0o644)
	var code int
	var errs string
	peak := memtest.Peak(func() { code, _, errs = adminRun(t, "sign", "--key", priv, p) })
	t.Logf("run sign of a %d-byte package (256 MiB inflated): peak heap %.1f MiB", len(ctl)+len(data), memtest.MiB(peak))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if code, out, _ := adminRun(t, "verify", "--keys-dir", adminKeysDir(t, pub), p); code != exitOK {
		t.Fatalf("the signed package does not verify: %s", out)
	}
	if peak > 32<<20 {
		t.Errorf("peak heap %.1f MiB, want under 32 MiB", memtest.MiB(peak))
	}
}

// TestPlanEscapesControls: a package name from a published index that
// holds terminal escape sequences is printed escaped in the plan, in
// --why and in its errors.
func TestPlanEscapesControls(t *testing.T) {
	f := newFixture(t, "")
	evil := "gone\x1b]0;pwned\x07\x1b[2J"
	publishedtest.WriteIndex(t, filepath.Join(f.repo, "x86_64", "APKINDEX.tar.gz"), f.signer,
		pkg("stable=1.0-r2", "x86_64", "stable"), pkg(evil+"=1.0-r0", "x86_64", evil))
	for _, args := range [][]string{{"--dry-run"}, {"--dry-run", "--why", evil}} {
		_, out, errs := f.run(t, args...)
		if strings.ContainsAny(out+errs, "\x1b\x07") {
			t.Errorf("%v: raw control characters in the output:\n%q\n%q", args, out, errs)
		}
		if !strings.Contains(out, `gone\x1b]0;pwned\x07\x1b[2J`) {
			t.Errorf("%v: the name is not shown escaped:\n%s", args, out)
		}
	}
}
