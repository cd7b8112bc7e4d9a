package repo

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/internal/alpinetest"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/signer"
)

// TestPublishInstallUpgrade: with the real apk 2.14, a newly published
// package installs with the repository's key trusted and not without it;
// a new version upgrades it; the old file stays for the grace period and
// goes after it.
func TestPublishInstallUpgrade(t *testing.T) {
	f := newFixture(t)
	c := f.client()
	res := f.publish(Request{Arch: "x86_64", Packages: f.stage("x86_64",
		pkg(t, "hello", "1.0-r0", "x86_64", "hello", "", "hello-doc"),
		pkg(t, "hello-doc", "1.0-r0", "noarch", "hello", ""))})
	a := res.Arches[0]
	if names(a.Added) != "hello=1.0-r0 hello-doc=1.0-r0" || !a.Changed || a.Bytes == 0 {
		t.Fatalf("first publish: %+v", a)
	}
	f.checkConsistent("x86_64")
	if _, err := os.Stat(filepath.Join(f.repo.Dir, KeysDir, "farm-11111111.rsa.pub")); err != nil {
		t.Fatalf("public key not published with the repository: %v", err)
	}
	// Without the key, apk refuses the repository.
	if res := c.run(t.TempDir(), "add", "hello"); res.ExitCode == 0 || !strings.Contains(res.Stderr, "UNTRUSTED") {
		t.Fatalf("apk add without the key: exit %d\n%s", res.ExitCode, res.Stderr)
	}
	out := c.mustRun("add", "hello")
	if !strings.Contains(out, "Installing hello (1.0-r0)") || !strings.Contains(out, "Installing hello-doc (1.0-r0)") ||
		c.file("usr/share/hello/version") != "1.0-r0\n" {
		t.Fatalf("apk add hello:\n%s", out)
	}

	// A new version: the index moves on, the old file stays.
	res = f.publish(Request{Arch: "x86_64", Packages: f.stage("x86_64", pkg(t, "hello", "1.1-r0", "x86_64", "hello", "", "hello-doc"))})
	if a := res.Arches[0]; names(a.Added) != "hello=1.1-r0" || strings.Join(a.Retired, " ") != "hello-1.0-r0.apk" || len(a.Deleted) != 0 {
		t.Fatalf("second publish: %+v", a)
	}
	if got := f.indexed("x86_64"); got != "hello=1.1-r0 hello-doc=1.0-r0" {
		t.Fatalf("index %q", got)
	}
	f.checkConsistent("x86_64")
	if _, err := os.Stat(filepath.Join(f.repo.ArchDir("x86_64"), "hello-1.0-r0.apk")); err != nil {
		t.Fatalf("old file gone before the grace period: %v", err)
	}
	c.mustRun("update")
	if out := c.mustRun("upgrade"); !strings.Contains(out, "Upgrading hello (1.0-r0 -> 1.1-r0)") || c.file("usr/share/hello/version") != "1.1-r0\n" {
		t.Fatalf("apk upgrade:\n%s", out)
	}

	// After the grace period, the old file goes; nothing else changes.
	f.now = f.now.Add(DefaultGrace + time.Minute)
	res = f.publish(Request{Arch: "x86_64"})
	if a := res.Arches[0]; strings.Join(a.Deleted, " ") != "hello-1.0-r0.apk" || a.Changed || len(a.Added) != 0 {
		t.Fatalf("third publish: %+v", a)
	}
	if _, err := os.Stat(filepath.Join(f.repo.ArchDir("x86_64"), "hello-1.0-r0.apk")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("old file still there after the grace period: %v", err)
	}
	f.checkConsistent("x86_64")
}

// TestPublishNeverReplaces: the same file name with other content is
// rejected for that package, which keeps its published version; the rest
// is published.
func TestPublishNeverReplaces(t *testing.T) {
	f := newFixture(t)
	f.publish(Request{Arch: "x86_64", Packages: f.stage("x86_64", pkg(t, "hello", "1.0-r0", "x86_64", "hello", ""))})
	before, _ := os.ReadFile(f.repo.IndexPath("x86_64"))
	os.RemoveAll(f.staging.Dir)
	res := f.publish(Request{Arch: "x86_64", Packages: f.stage("x86_64",
		pkg(t, "hello", "1.0-r0", "x86_64", "hello", " rebuilt"), pkg(t, "other", "2-r0", "x86_64", "other", ""))})
	a := res.Arches[0]
	if len(a.Rejected) != 1 || a.Rejected[0].Name != "hello" || !strings.Contains(a.Rejected[0].Reason, "raise pkgrel") {
		t.Fatalf("rejected %+v, want hello with the remedy", a.Rejected)
	}
	if names(a.Added) != "other=2-r0" || f.indexed("x86_64") != "hello=1.0-r0 other=2-r0" {
		t.Fatalf("added %q, index %q", names(a.Added), f.indexed("x86_64"))
	}
	f.checkConsistent("x86_64")
	// Same content again: accepted silently, nothing changes.
	res = f.publish(Request{Arch: "x86_64", Packages: f.stage("x86_64", pkg(t, "other", "2-r0", "x86_64", "other", ""))})
	if a := res.Arches[0]; len(a.Rejected)+len(a.Added) != 0 || a.Changed {
		t.Fatalf("republishing the same bytes: %+v", a)
	}
	_ = before
}

// TestPublishRemovesAndHolds: the plan's removals leave the index; a held
// arch changes nothing.
func TestPublishRemovesAndHolds(t *testing.T) {
	f := newFixture(t)
	f.publish(Request{Arch: "x86_64", Packages: f.stage("x86_64",
		pkg(t, "a", "1-r0", "x86_64", "a", ""), pkg(t, "a-old", "1-r0", "x86_64", "a", ""), pkg(t, "b", "1-r0", "x86_64", "b", ""))})
	before, _ := os.ReadFile(f.repo.IndexPath("x86_64"))
	os.RemoveAll(f.staging.Dir)
	res := f.publish(Request{Arch: "x86_64", Held: "all-or-nothing: 1 build failed", Remove: []string{"b"},
		Packages: f.stage("x86_64", pkg(t, "a", "2-r0", "x86_64", "a", ""))})
	after, _ := os.ReadFile(f.repo.IndexPath("x86_64"))
	if a := res.Arches[0]; a.Changed || len(a.Added) != 0 || string(before) != string(after) || a.Held == "" {
		t.Fatalf("held arch changed: %+v", a)
	}
	res = f.publish(Request{Arch: "x86_64", Remove: []string{"b", "a-old"}})
	if a := res.Arches[0]; strings.Join(a.Retired, " ") != "a-old-1-r0.apk b-1-r0.apk" || f.indexed("x86_64") != "a=1-r0" {
		t.Fatalf("removal: %+v, index %q", a, f.indexed("x86_64"))
	}
	f.checkConsistent("x86_64")
}

// TestPublishRotation: with the old and the new key signing, clients that
// know either key install (the real apk 2.14).
func TestPublishRotation(t *testing.T) {
	farm, next := testKeys(t)
	f := newFixture(t, farm, next)
	f.publish(Request{Arch: "x86_64", Packages: f.stage("x86_64", pkg(t, "hello", "1.0-r0", "x86_64", "hello", ""))})
	for _, key := range []string{"farm-11111111.rsa.pub", "next-22222222.rsa.pub"} {
		only := t.TempDir()
		b, err := os.ReadFile(filepath.Join(f.repo.Dir, KeysDir, key))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(only, key), b, 0o644)
		c := f.client()
		if res := c.run(only, "add", "hello"); res.ExitCode != 0 {
			t.Errorf("client trusting only %s: exit %d\n%s", key, res.ExitCode, res.Stderr)
		}
	}
}

// TestPublishBadStaged: a staged file that is not a valid package is
// rejected by name; the others are published.
func TestPublishBadStaged(t *testing.T) {
	f := newFixture(t)
	good := f.stage("x86_64", pkg(t, "good", "1-r0", "x86_64", "good", ""))
	bad := filepath.Join(f.staging.ArchDir("x86_64"), "bad-1-r0.apk")
	os.WriteFile(bad, []byte("not a package"), 0o644)
	wrongArch := f.stage("x86_64", pkg(t, "arm", "1-r0", "aarch64", "arm", ""))
	res := f.publish(Request{Arch: "x86_64", Packages: append(append(good, bad), wrongArch...)})
	a := res.Arches[0]
	if names(a.Added) != "good=1-r0" || len(a.Rejected) != 2 || a.Rejected[0].File != bad || !strings.Contains(a.Rejected[1].Reason, `arch "aarch64"`) {
		t.Fatalf("%+v", a)
	}
}

// TestPublishSignerFails: a signer that fails stops the publish before
// anything is promoted, with an error naming the file.
func TestPublishSignerFails(t *testing.T) {
	f := newFixture(t)
	f.opts.Signer = failingSigner{f.opts.Signer}
	_, err := f.repo.Publish(context.Background(), []Request{{Arch: "x86_64",
		Packages: f.stage("x86_64", pkg(t, "hello", "1.0-r0", "x86_64", "hello", ""))}}, f.opts)
	if err == nil || !strings.Contains(err.Error(), "hello-1.0-r0.apk") || !strings.Contains(err.Error(), "signer unreachable") {
		t.Fatalf("err %v", err)
	}
	if _, err := os.Stat(f.repo.ArchDir("x86_64")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("something was promoted: %v", err)
	}
}

type failingSigner struct{ signer.Signer }

func (failingSigner) Sign(_ context.Context, kind, name string, _ []byte) ([]apk.Signature, error) {
	return nil, errors.New("sign " + kind + " " + name + ": signer unreachable")
}

// TestPublishFullDisk: a disk that fills up during promotion is that
// arch's error naming the file; the index stays as it was, no temporary
// file is left, and the repository stays consistent.
func TestPublishFullDisk(t *testing.T) {
	alpinetest.RequireRoot(t)
	f := newFixture(t)
	small := filepath.Join(t.TempDir(), "small")
	os.MkdirAll(small, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=600k", "tmpfs", small).CombinedOutput(); err != nil {
		alpinetest.SkipOrFail(t, "mount a tmpfs: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", small).Run() })
	f.repo.Dir = small
	f.publish(Request{Arch: "x86_64", Packages: f.stage("x86_64", pkg(t, "hello", "1.0-r0", "x86_64", "hello", ""))})
	before, _ := os.ReadFile(f.repo.IndexPath("x86_64"))
	noise := make([]byte, 1<<20)
	rand.Read(noise)
	res, err := f.repo.Publish(context.Background(), []Request{{Arch: "x86_64",
		Packages: f.stage("x86_64", pkg(t, "big", "1-r0", "x86_64", "big", string(noise)))}}, f.opts)
	if err != nil {
		t.Fatal(err)
	}
	a := res.Arches[0]
	if a.Error == "" || !strings.Contains(a.Error, "big-1-r0.apk") || !strings.Contains(a.Error, "no space left") {
		t.Fatalf("arch error %q, want the full disk naming the file", a.Error)
	}
	after, _ := os.ReadFile(f.repo.IndexPath("x86_64"))
	if !bytes.Equal(before, after) {
		t.Error("the index changed")
	}
	ents, _ := os.ReadDir(f.repo.ArchDir("x86_64"))
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), ".") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
	f.checkConsistent("x86_64")
}
