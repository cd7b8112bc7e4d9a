// Package alpinetest gives tests the real Alpine userland from ../shared/alpine:
// an extracted minirootfs per arch and a way to run programs inside it (the
// real apk-tools client, busybox ash) through bubblewrap, with no network.
//
// Tests that need it call Require first. Outside CI a missing prerequisite
// (bubblewrap, the shared tarballs, qemu for a foreign arch) skips the test
// with the command that installs it; under CI (CI is set) it fails the test,
// because a check that silently does not run is no check.
package alpinetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// Tarballs maps an apk arch to the minirootfs file name in ../shared/alpine.
var Tarballs = map[string]string{}

// Arches are the nine Alpine arches ../shared/alpine has a minirootfs of.
var Arches = []string{"x86_64", "aarch64", "armv7", "armhf", "x86", "riscv64", "ppc64le", "s390x", "loongarch64"}

func init() {
	for _, a := range Arches {
		Tarballs[a] = "alpine-minirootfs-20240923-" + a + ".tar.gz"
	}
}

// SharedDir returns the path of ../shared beside the project root, or
// $APKFARM_SHARED when set.
func SharedDir() (string, error) {
	if d := os.Getenv("APKFARM_SHARED"); d != "" {
		return d, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(filepath.Dir(dir), "shared"), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("find project root: no go.mod above the working directory")
		}
		dir = parent
	}
}

// TarballPath returns the path of the minirootfs tarball for arch.
func TarballPath(arch string) (string, error) {
	name, ok := Tarballs[arch]
	if !ok {
		return "", fmt.Errorf("no minirootfs for arch %q", arch)
	}
	shared, err := SharedDir()
	if err != nil {
		return "", err
	}
	p := filepath.Join(shared, "alpine", name)
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("minirootfs for %s: %w (tests read ../shared/alpine beside the project root)", arch, err)
	}
	return p, nil
}

// skipOrFail skips the test outside CI and fails it under CI.
func skipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if os.Getenv("CI") != "" {
		t.Fatalf("prerequisite missing under CI: %s", msg)
	}
	t.Skipf("prerequisite missing (this test runs in CI): %s", msg)
}

// Require checks that tests can run programs in the arch's rootfs: bubblewrap
// installed, the tarball present and, for a foreign arch, a qemu binfmt
// handler with the F flag.
func Require(t testing.TB, arch string) {
	t.Helper()
	if _, err := exec.LookPath("bwrap"); err != nil {
		skipOrFail(t, "bwrap not found: run `make deps` (apt-get install bubblewrap)")
	}
	if _, err := TarballPath(arch); err != nil {
		skipOrFail(t, "%v", err)
	}
	if err := binfmtReady(arch); err != nil {
		skipOrFail(t, "%v", err)
	}
}

var qemuNames = map[string]string{"x86_64": "x86_64", "aarch64": "aarch64", "armv7": "arm", "armhf": "arm",
	"x86": "i386", "riscv64": "riscv64", "ppc64le": "ppc64le", "s390x": "s390x", "loongarch64": "loongarch64"}

func nativeArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	}
	return runtime.GOARCH
}

func binfmtReady(arch string) error {
	if arch == nativeArch() {
		return nil
	}
	h := "/proc/sys/fs/binfmt_misc/qemu-" + qemuNames[arch]
	b, err := os.ReadFile(h)
	if err != nil && arch == "x86" && nativeArch() == "x86_64" {
		return nil // the kernel's IA-32 emulation, if it has it (make deps registers qemu-i386 if not)
	}
	if err != nil {
		return fmt.Errorf("qemu binfmt handler for %s missing (%s): run `make deps` (apt-get install qemu-user-static binfmt-support; update-binfmts --enable qemu-%s)", arch, h, qemuNames[arch])
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "flags:") && strings.Contains(line, "F") {
			return nil
		}
	}
	return fmt.Errorf("qemu binfmt handler %s lacks the F flag: reinstall qemu-user-static", h)
}

var (
	rootfsMu    sync.Mutex
	rootfsCache = map[string]string{}
)

// Rootfs returns a directory holding the extracted minirootfs for arch. It is
// extracted once per machine into the user cache directory (keyed by the
// tarball's hash) and must be treated as read-only: bind it read-only and
// mount writable directories over it (see Run).
func Rootfs(t testing.TB, arch string) string {
	t.Helper()
	Require(t, arch)
	rootfsMu.Lock()
	defer rootfsMu.Unlock()
	if d, ok := rootfsCache[arch]; ok {
		return d
	}
	d, err := extract(arch)
	if err != nil {
		t.Fatalf("extract minirootfs %s: %v", arch, err)
	}
	rootfsCache[arch] = d
	return d
}

func extract(arch string) (string, error) {
	tb, err := TarballPath(arch)
	if err != nil {
		return "", err
	}
	f, err := os.Open(tb)
	if err != nil {
		return "", err
	}
	h := sha256.New()
	_, err = io.Copy(h, f)
	f.Close()
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		cache = os.TempDir()
	}
	base := filepath.Join(cache, "apkfarm-test")
	dir := filepath.Join(base, "alpine-"+arch+"-"+hex.EncodeToString(h.Sum(nil))[:16])
	if _, err := os.Stat(filepath.Join(dir, "sbin", "apk")); err == nil {
		return dir, nil
	}
	if err := os.MkdirAll(base, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(base, ".extract-")
	if err != nil {
		return "", err
	}
	out, err := exec.Command("tar", "-xzf", tb, "-C", tmp).CombinedOutput()
	if err != nil {
		os.RemoveAll(tmp)
		return "", fmt.Errorf("tar -xzf %s: %v: %s", tb, err, out)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		if _, serr := os.Stat(filepath.Join(dir, "sbin", "apk")); serr == nil {
			return dir, nil // another test process won the race
		}
		return "", err
	}
	return dir, nil
}

// Mount binds a host path into the sandbox. The rootfs is bound read-only,
// so Guest must be a directory that exists in it (/mnt, /srv, /opt, /home,
// /media) or lie under the fresh /tmp.
type Mount struct {
	Host, Guest string
	Writable    bool
}

// Cmd describes one program run inside a rootfs.
type Cmd struct {
	Arch    string
	Mounts  []Mount
	Argv    []string
	Stdin   io.Reader
	Timeout time.Duration // default 60s
}

// Result is what a program run printed and how it ended.
type Result struct {
	Stdout, Stderr string
	ExitCode       int
}

// Run runs c inside the arch's rootfs (bound read-only, /tmp a fresh tmpfs,
// no network, new namespaces) and returns its output. A non-zero exit is not
// an error: look at ExitCode. Errors are for a sandbox that could not start.
func Run(t testing.TB, c Cmd) Result {
	t.Helper()
	root := Rootfs(t, c.Arch)
	timeout := c.Timeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	args := []string{"--ro-bind", root, "/", "--proc", "/proc", "--dev", "/dev",
		"--tmpfs", "/tmp", "--unshare-all", "--die-with-parent", "--new-session",
		"--clearenv", "--setenv", "PATH", "/usr/sbin:/usr/bin:/sbin:/bin"}
	for _, m := range c.Mounts {
		flag := "--ro-bind"
		if m.Writable {
			flag = "--bind"
		}
		args = append(args, flag, m.Host, m.Guest)
	}
	args = append(args, "--")
	args = append(args, c.Argv...)
	cmd := exec.CommandContext(ctx, "bwrap", args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr, cmd.Stdin = &stdout, &stderr, c.Stdin
	err := cmd.Run()
	res := Result{Stdout: stdout.String(), Stderr: stderr.String()}
	if ctx.Err() != nil {
		t.Fatalf("run %q in %s rootfs: timed out after %v\nstderr: %s", c.Argv, c.Arch, timeout, res.Stderr)
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		res.ExitCode = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run %q in %s rootfs: %v", c.Argv, c.Arch, err)
	}
	return res
}

// Apk runs the real apk client of the arch's rootfs with the given mounts.
func Apk(t testing.TB, arch string, mounts []Mount, args ...string) Result {
	t.Helper()
	return Run(t, Cmd{Arch: arch, Mounts: mounts, Argv: append([]string{"/sbin/apk"}, args...)})
}
