package main

// The end-to-end proof of a whole `run` with real parts: runc builds, the
// signer, the repository, and the real apk 2.14 installing and upgrading
// from what was published.

import (
	"bytes"
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apkfarm/apkfarm/runner/mirror/mirrortest"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/config"
	"github.com/apkfarm/apkfarm/runner/repo"
	"github.com/apkfarm/apkfarm/state"
)

// publishRun is a realRun that publishes: a fresh key pair, the signer
// configured with its private half, the repository's keys directory with
// its public half.
type publishRun struct {
	*realRun
	repo, keysDir, privKey string
}

func newPublishRun(t *testing.T, extra string) *publishRun {
	t.Helper()
	arch := config.HostArch()
	r := newRealRun(t, "run", arch)
	dir := filepath.Dir(r.config)
	k, err := apk.GenerateKey(2048)
	if err != nil {
		t.Fatal(err)
	}
	secret := filepath.Join(dir, "secret")
	os.MkdirAll(secret, 0o700)
	priv, pub, err := apk.WriteKeyPair(secret, "farm-abcdef01", k)
	if err != nil {
		t.Fatal(err)
	}
	keysDir := filepath.Join(dir, "farm-keys")
	os.MkdirAll(keysDir, 0o755)
	b, _ := os.ReadFile(pub)
	os.WriteFile(filepath.Join(keysDir, filepath.Base(pub)), b, 0o644)
	cfg, _ := os.ReadFile(r.config)
	// The fixture's keys directory is replaced by the farm's.
	lines := strings.Split(string(cfg), "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, "keys = ") {
			lines[i] = fmt.Sprintf("keys = %q", keysDir)
		}
	}
	// The [signer] section last: a test may replace it by cutting there.
	out := strings.Join(lines, "\n") + extra + fmt.Sprintf("\n[signer]\nkeys = [%q]\n", priv)
	os.WriteFile(r.config, []byte(out), 0o644)
	return &publishRun{realRun: r, repo: filepath.Join(dir, "repo"), keysDir: keysDir, privKey: priv}
}

// runPublish runs a whole `run` in-process and wants its exit code (any
// when negative).
func (r *publishRun) runPublish(t *testing.T, want int, args ...string) (string, *state.Status) {
	t.Helper()
	return r.runArgs(t, want, args...)
}

// apk runs the real apk 2.14 of the arch against the published repository
// with the farm's key, in a client root kept across calls.
func (r *publishRun) apk(t *testing.T, root string, args ...string) alpinetest.Result {
	t.Helper()
	arch := config.HostArch()
	os.MkdirAll(root, 0o755)
	argv := []string{"--root", "/home", "--keys-dir", "/srv", "--repositories-file", "/dev/null", "-X", "/mnt", "--no-progress", "--arch", arch}
	if _, err := os.Stat(filepath.Join(root, "lib/apk/db/installed")); err != nil {
		argv = append([]string{"--initdb"}, argv...)
	}
	return alpinetest.Apk(t, arch, []alpinetest.Mount{{Host: r.repo, Guest: "/mnt"}, {Host: r.keysDir, Guest: "/srv"},
		{Host: root, Guest: "/home", Writable: true}}, append(argv, args...)...)
}

// keyHunt is an aport whose build fails if the farm's private key is
// anywhere in its sandbox: its files or its environment. The needle (a
// line of the key's PEM) is written reversed, so that the APKBUILD itself
// does not hold it.
func keyHunt(t *testing.T, tree, privKey string) {
	t.Helper()
	b, err := os.ReadFile(privKey)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	needle := lines[len(lines)/2] // from the middle: the private exponent or primes
	rev := []rune(needle)
	for i, j := 0, len(rev)-1; i < j; i, j = i+1, j-1 {
		rev[i], rev[j] = rev[j], rev[i]
	}
	apkbuild := fmt.Sprintf(`# Fails when the farm's signing key is visible to a build.
pkgname=keyhunt
pkgver=1
pkgrel=0
pkgdesc="looks for the signing key (apkfarm test)"
url="https://example.org/keyhunt"
arch="all"
license="MIT"
options="!check"

build() {
	needle=$(echo '%s' | rev)
	[ ${#needle} -gt 40 ] || { echo "needle too short"; return 1; }
	if env | grep -qF "$needle"; then echo "FOUND the key in the environment"; return 1; fi
	found=$(find / \( -path /proc -o -path /sys -o -path /dev \) -prune -o -type f -print0 2>/dev/null |
		xargs -0 grep -lF -- "$needle" 2>/dev/null || true)
	if [ -n "$found" ]; then echo "FOUND the key in: $found"; return 1; fi
	echo "searched $(find / \( -path /proc -o -path /sys -o -path /dev \) -prune -o -type f -print 2>/dev/null | wc -l) files"
	echo "no key anywhere"
}

package() {
	mkdir -p "$pkgdir"/usr/share/keyhunt
	echo clean > "$pkgdir"/usr/share/keyhunt/result
}
`, string(rev))
	os.MkdirAll(filepath.Join(tree, "main", "keyhunt"), 0o755)
	if err := os.WriteFile(filepath.Join(tree, "main", "keyhunt", "APKBUILD"), []byte(apkbuild), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRealRunPublish: a whole run builds, signs and publishes; the real
// apk installs from the repository with the farm's key and refuses it
// without; a run with nothing to do changes nothing; a new version of one
// aport is built against a dependency only the published repository has,
// and apk upgrades to it; the signing key is nowhere in a build.
func TestRealRunPublish(t *testing.T) {
	arch := config.HostArch()
	mirrorDir := filepath.Join(t.TempDir(), "mirror")
	daemon := mirrortest.StartDaemon(t, mirrortest.DaemonOptions{})
	r := newPublishRun(t, fmt.Sprintf("\n[[mirrors]]\nname = \"local\"\nurl = %q\n\n[[mirrors]]\nname = \"daemon\"\nurl = %q\n",
		mirrorDir, daemon.URL()))
	keyHunt(t, r.tree, r.privKey)

	// 1. Everything is new: built, signed, published, on both mirrors.
	out, st := r.runPublish(t, -1)
	if a := st.Aport(arch, "keyhunt"); a == nil || a.Status != state.Built || !strings.Contains(readLog(t, r.stateDir, a), "no key anywhere") {
		t.Fatalf("keyhunt did not build clean: %+v", a)
	}
	if !strings.Contains(out, "published 5 packages") {
		t.Errorf("summary:\n%s", out)
	}
	for _, name := range []string{"libgreet", "hello", "greet-doc", "keyhunt"} {
		if a := aportStatus(t, st, arch, name); a.Status != state.Built || a.Published != a.Version {
			t.Errorf("%s: %+v, want built and published", name, a)
		}
	}
	keys, err := apk.LoadKeyring(r.keysDir)
	if err != nil {
		t.Fatal(err)
	}
	rp := repo.Repository{Dir: r.repo, Keys: keys}
	idx, _, err := rp.Index(arch)
	if err != nil || idx == nil || len(idx.Packages) != 5 {
		t.Fatalf("published index: %v, %v", idx, err)
	}
	for _, p := range idx.Packages {
		b, err := os.ReadFile(filepath.Join(r.repo, arch, repo.FileName(p)))
		if err != nil {
			t.Fatal(err)
		}
		if err := keys.VerifyPackage(b, p.Name); err != nil {
			t.Errorf("%s is not signed by the farm's key: %v", p.Name, err)
		}
	}
	root := filepath.Join(t.TempDir(), "client")
	if res := r.apk(t, root, "add", "hello", "keyhunt"); res.ExitCode != 0 || !strings.Contains(res.Stdout, "Installing hello (2.0-r1)") {
		t.Fatalf("apk add: exit %d\n%s\n%s", res.ExitCode, res.Stdout, res.Stderr)
	}
	if b, _ := os.ReadFile(filepath.Join(root, "usr/share/keyhunt/result")); string(b) != "clean\n" {
		t.Errorf("keyhunt result %q", b)
	}
	untrusted := alpinetest.Apk(t, arch, []alpinetest.Mount{{Host: r.repo, Guest: "/mnt"}, {Host: t.TempDir(), Guest: "/srv"}},
		"--root", "/tmp", "--initdb", "--keys-dir", "/srv", "--repositories-file", "/dev/null", "-X", "/mnt", "--arch", arch, "add", "hello")
	if untrusted.ExitCode == 0 || !strings.Contains(untrusted.Stderr, "UNTRUSTED") {
		t.Errorf("apk without the key: exit %d\n%s", untrusted.ExitCode, untrusted.Stderr)
	}
	runs, _ := state.ReadRuns(r.stateDir, 0)
	if len(runs) != 1 || runs[0].Result != state.RunOK || runs[0].BytesPublished == 0 || len(runs[0].Arches[0].Published) != 5 ||
		len(runs[0].Mirrors) != 2 || !runs[0].Mirrors[0].OK || !runs[0].Mirrors[1].OK {
		t.Errorf("run record %+v", runs)
	}
	published, _ := os.ReadFile(rp.IndexPath(arch))
	for _, dir := range []string{mirrorDir, daemon.Dir} {
		if b, err := os.ReadFile(filepath.Join(dir, arch, "APKINDEX.tar.gz")); err != nil || !bytes.Equal(b, published) {
			t.Errorf("mirror %s does not serve the published index: %v", dir, err)
		}
		if res := alpinetest.Apk(t, arch, []alpinetest.Mount{{Host: dir, Guest: "/mnt"}, {Host: r.keysDir, Guest: "/srv"}},
			"--root", "/tmp", "--initdb", "--keys-dir", "/srv", "--repositories-file", "/dev/null", "-X", "/mnt", "--arch", arch, "add", "hello"); res.ExitCode != 0 {
			t.Errorf("apk add from mirror %s: exit %d\n%s", dir, res.ExitCode, res.Stderr)
		}
	}
	if m := st.Mirrors["daemon"]; m == nil || m.LastSuccess.IsZero() || m.Error != "" {
		t.Errorf("state of mirror daemon: %+v", m)
	}
	// The status site is rendered and on every mirror, under status/.
	for _, f := range []string{filepath.Join(r.stateDir, "site", "index.html"), filepath.Join(mirrorDir, "status", "index.html"),
		filepath.Join(daemon.Dir, "status", "failed.json"), filepath.Join(r.stateDir, "site", "pkg", "hello.html")} {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("site: %v", err)
		}
	}

	// 2. Nothing to do: no build, the index untouched.
	before, _ := os.ReadFile(rp.IndexPath(arch))
	out, _ = r.runPublish(t, exitOK)
	after, _ := os.ReadFile(rp.IndexPath(arch))
	if !strings.Contains(out, "built 0, failed 0") || !bytes.Equal(before, after) {
		t.Errorf("second run changed something:\n%s", out)
	}

	// 3. hello gets a new pkgrel; libgreet is not rebuilt, so hello's
	// build must install libgreet-dev from the published repository. The
	// signer is now `run signer` as a process of its own (backend command).
	cfg, _ := os.ReadFile(r.config)
	i := bytes.Index(cfg, []byte("\n[signer]\n"))
	cfg = append(cfg[:i], fmt.Sprintf("\n[signer]\nbackend = \"command\"\ncommand = [%q, \"signer\", \"--key\", %q]\n", runBinary(t), r.privKey)...)
	os.WriteFile(r.config, cfg, 0o644)
	hello := filepath.Join(r.tree, "main", "hello", "APKBUILD")
	b, _ := os.ReadFile(hello)
	os.WriteFile(hello, bytes.Replace(b, []byte("pkgrel=1"), []byte("pkgrel=2"), 1), 0o644)
	out, st = r.runPublish(t, exitOK)
	if !strings.Contains(out, "built 1, failed 0") || aportStatus(t, st, arch, "hello").Published != "2.0-r2" {
		t.Fatalf("third run:\n%s", out)
	}
	r.apk(t, root, "update")
	if res := r.apk(t, root, "upgrade"); res.ExitCode != 0 || !strings.Contains(res.Stdout, "Upgrading hello (2.0-r1 -> 2.0-r2)") {
		t.Fatalf("apk upgrade: exit %d\n%s\n%s", res.ExitCode, res.Stdout, res.Stderr)
	}
	if _, err := os.Stat(filepath.Join(r.repo, arch, "hello-2.0-r1.apk")); err != nil {
		t.Errorf("the old hello is gone before the grace period: %v", err)
	}

	// 4. A mirror that fails: the others are pushed, the run exits 1 and
	// says which.
	cfg, _ = os.ReadFile(r.config)
	i = bytes.Index(cfg, []byte("\n[signer]\n"))
	signerSection := string(cfg[i:])
	cfg = append(cfg[:i:i], fmt.Sprintf("\n[[mirrors]]\nname = \"down\"\nurl = \"rsync://127.0.0.1:%d/repo\"\nretries = 0\n%s",
		mirrortest.ClosedPort(t), signerSection)...)
	os.WriteFile(r.config, cfg, 0o644)
	out, st = r.runPublish(t, exitFailed)
	if !strings.Contains(out, "mirror down: FAILED") || !strings.Contains(out, "mirror local: ok") || !strings.Contains(out, "mirror daemon: ok") ||
		st.Mirrors["down"].Error == "" || st.Mirrors["daemon"].Error != "" {
		t.Errorf("a failing mirror:\n%s", out)
	}

	// 5. The hunt can fail: with the key put where a build sees it (the
	// aport's directory), keyhunt fails and says where it found it.
	key, _ := os.ReadFile(r.privKey)
	os.WriteFile(filepath.Join(r.tree, "main", "keyhunt", "leak.txt"), key, 0o644)
	kh := filepath.Join(r.tree, "main", "keyhunt", "APKBUILD")
	b, _ = os.ReadFile(kh)
	os.WriteFile(kh, bytes.Replace(b, []byte("pkgrel=0"), []byte("pkgrel=1"), 1), 0o644)
	_, st = r.runPublish(t, exitFailed)
	if a := aportStatus(t, st, arch, "keyhunt"); a.Status != state.Failed || !strings.Contains(readLog(t, r.stateDir, a), "FOUND the key in: /home/build/aports/main/keyhunt/leak.txt") {
		t.Errorf("keyhunt with the key in its aport: %+v, want failed having found it", a)
	}
}

// readLog returns the text of an aport's last attempt's log.
func readLog(t *testing.T, stateDir string, a *state.Aport) string {
	t.Helper()
	if len(a.Attempts) == 0 {
		return ""
	}
	f, err := os.Open(filepath.Join(stateDir, a.Attempts[len(a.Attempts)-1].Log))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(zr)
	return string(b)
}

// TestRealRunChannel: a staging channel builds only what differs from its
// base (the main repository), into its own repository, with its builds
// seeing the base's packages; the real apk installs the channel's newer
// package with both repositories configured; `run channel rm` removes it.
func TestRealRunChannel(t *testing.T) {
	arch := config.HostArch()
	r := newPublishRun(t, "")
	r.runPublish(t, exitOK) // the base: libgreet 1.0-r0, hello 2.0-r1, greet-doc

	ch := filepath.Join(filepath.Dir(r.config), "channel-tree")
	copyTree(t, filepath.Join(r.tree, "main", "libgreet"), filepath.Join(ch, "systemd", "libgreet")) // same version: not built
	copyTree(t, filepath.Join(r.tree, "main", "hello"), filepath.Join(ch, "systemd", "hello"))
	hello := filepath.Join(ch, "systemd", "hello", "APKBUILD")
	b, _ := os.ReadFile(hello)
	os.WriteFile(hello, bytes.Replace(b, []byte("pkgrel=1"), []byte("pkgrel=5"), 1), 0o644)
	cfg, _ := os.ReadFile(r.config)
	withChannel := append(cfg, fmt.Sprintf("\n[[channels]]\nname = \"systemd\"\nsource = %q\n", ch)...)
	os.WriteFile(r.config, withChannel, 0o644)

	out, _ := r.runPublish(t, exitOK)
	if !strings.Contains(out, "=== channel systemd") || !strings.Contains(out, "hello 2.0-r1 → 2.0-r5") && !strings.Contains(out, "hello - → 2.0-r5") {
		t.Fatalf("channel pass:\n%s", out)
	}
	chState := filepath.Join(r.stateDir, "channels", "systemd", state.FileName)
	b, err := os.ReadFile(chState)
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if a := aportStatus(t, st, arch, "hello"); a.Status != state.Built || a.Published != "2.0-r5" {
		t.Errorf("channel hello %+v", a)
	}
	if a := aportStatus(t, st, arch, "libgreet"); a.Status != state.UpToDate || len(a.Attempts) != 0 {
		t.Errorf("channel libgreet %+v, want up to date through the base, never built", a)
	}
	keys, _ := apk.LoadKeyring(r.keysDir)
	idx, _, err := repo.Repository{Dir: filepath.Join(r.repo, "systemd"), Keys: keys}.Index(arch)
	if err != nil || idx == nil || len(idx.Packages) != 1 || idx.Packages[0].Name != "hello" {
		t.Fatalf("channel index %+v, %v: want hello alone", idx, err)
	}
	root := filepath.Join(t.TempDir(), "client")
	os.MkdirAll(root, 0o755)
	res := alpinetest.Apk(t, arch, []alpinetest.Mount{{Host: r.repo, Guest: "/mnt"}, {Host: r.keysDir, Guest: "/srv"}, {Host: root, Guest: "/home", Writable: true}},
		"--root", "/home", "--initdb", "--keys-dir", "/srv", "--repositories-file", "/dev/null", "-X", "/mnt", "-X", "/mnt/systemd", "--arch", arch, "add", "hello")
	if res.ExitCode != 0 || !strings.Contains(res.Stdout, "Installing hello (2.0-r5)") {
		t.Fatalf("apk add from base and channel: exit %d\n%s\n%s", res.ExitCode, res.Stdout, res.Stderr)
	}
	runs, _ := state.ReadRuns(filepath.Join(r.stateDir, "channels", "systemd"), 0)
	if len(runs) != 1 || runs[0].Channel != "systemd" {
		t.Errorf("channel run records %+v", runs)
	}

	// Removed from the configuration, then removed for good.
	os.WriteFile(r.config, cfg, 0o644)
	var stdout, stderr bytes.Buffer
	if code := runMain(context.Background(), []string{"channel", "rm", "--config", r.config, "systemd"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("channel rm: exit %d: %s", code, stderr.String())
	}
	for _, dir := range []string{filepath.Join(r.repo, "systemd"), filepath.Join(r.stateDir, "channels", "systemd")} {
		if _, err := os.Stat(dir); err == nil {
			t.Errorf("%s still there", dir)
		}
	}
}
