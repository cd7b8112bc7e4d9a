// Command demo is `make demo`: the whole job of apkfarm on this machine,
// offline, with configs/demo.toml. It is a development tool (hence
// internal/), not a part of apkfarm.
//
// Steps: build images of the Alpine minirootfs from ../shared/alpine plus
// the stand-in abuild (internal/fakeabuild) for x86_64 and aarch64 (as
// "rootfs:" tarballs); make a fresh demo key pair; start an rsync daemon
// on 127.0.0.1:8873 (one of the two mirrors); `run --config
// configs/demo.toml` builds the eight aports of testdata/demo/tree in runc
// containers (aarch64 under qemu), signs, publishes, pushes to both mirrors
// and renders the status site; the real apk of the minirootfs installs a
// package from the published repository; a second run finds nothing to
// do; the daemon is stopped. Everything is in /var/tmp/apkfarm-demo;
// `make demo-clean` removes it.
//
// Usage: go run ./internal/demo [-run bin/run] [-config configs/demo.toml]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/apkfarm/apkfarm/internal/standin"
	"github.com/apkfarm/apkfarm/runner/apk"
)

// Dir is where the demo keeps everything (configs/demo.toml names it).
const Dir = "/var/tmp/apkfarm-demo"

// rsyncPort is the demo daemon's port (configs/demo.toml names it).
const rsyncPort = 8873

func main() {
	runBin := flag.String("run", "bin/run", "the run binary to demonstrate")
	cfg := flag.String("config", "configs/demo.toml", "the demo's configuration")
	clean := flag.Bool("clean", false, "remove what the demo made, and do nothing else")
	flag.Parse()
	if *clean {
		if err := os.RemoveAll(Dir); err != nil {
			fmt.Fprintf(os.Stderr, "demo: %v\n", err)
			os.Exit(1)
		}
		fmt.Printf("removed %s\n", Dir)
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := demo(ctx, *runBin, *cfg)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) {
	fmt.Printf("\n==> %s\n", fmt.Sprintf(format, args...))
}

func demo(ctx context.Context, runBin, cfg string) error {
	t0 := time.Now()
	if os.Geteuid() != 0 {
		return errors.New("builds run in runc containers, which needs root: run `make demo` as root (after `make deps`)")
	}
	for _, tool := range []string{"runc", "rsync", "bwrap"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found: run `make deps` as root (it installs runc, rsync and bubblewrap)", tool)
		}
	}
	if _, err := os.Stat("/proc/sys/fs/binfmt_misc/qemu-aarch64"); err != nil {
		return errors.New("no qemu-aarch64 binfmt handler: run `make deps` as root (it installs qemu-user-static and enables the handlers)")
	}
	runBin, err := filepath.Abs(runBin)
	if err != nil {
		return err
	}
	if _, err := os.Stat(cfg); err != nil {
		return fmt.Errorf("demo configuration: %w (run from the repository's root)", err)
	}
	if err := os.RemoveAll(Dir); err != nil {
		return err
	}

	step("build images: the Alpine minirootfs + the stand-in abuild, for x86_64 and aarch64")
	for _, arch := range []string{"x86_64", "aarch64"} {
		base, err := minirootfs(arch)
		if err != nil {
			return err
		}
		bin := filepath.Join(Dir, "abuild-"+arch)
		if err := standin.Binary(ctx, arch, bin); err != nil {
			return err
		}
		b, err := os.ReadFile(bin)
		if err != nil {
			return err
		}
		out := filepath.Join(Dir, "image-"+arch+".tar.gz")
		if err := standin.Rootfs(base, b, out); err != nil {
			return err
		}
		fmt.Printf("rootfs:%s (from %s)\n", out, filepath.Base(base))
	}

	step("a fresh key pair for the demo repository")
	k, err := apk.GenerateKey(2048)
	if err != nil {
		return err
	}
	priv, pub, err := apk.WriteKeyPair(mkdir(filepath.Join(Dir, "private")), "apkfarm-demo", k)
	if err != nil {
		return err
	}
	keys := mkdir(filepath.Join(Dir, "keys"))
	if err := copyFile(pub, filepath.Join(keys, filepath.Base(pub))); err != nil {
		return err
	}
	fmt.Printf("private (only the runner reads it): %s\npublic (what clients trust):       %s\n", priv, filepath.Join(keys, filepath.Base(pub)))

	step("an rsync daemon on 127.0.0.1:%d, the second mirror", rsyncPort)
	daemon, err := startRsync(ctx)
	if err != nil {
		return err
	}
	defer func() {
		daemon.Process.Signal(syscall.SIGTERM)
		daemon.Wait()
		fmt.Println("rsync daemon stopped")
	}()

	step("run --config %s (the first run: everything is new)", cfg)
	code, err := runRun(ctx, runBin, cfg)
	if err != nil {
		return err
	}
	if code != 1 {
		return fmt.Errorf("the first run exited %d; the demo expects 1 (broken fails on purpose): see %s", code, filepath.Join(Dir, "state", "logs"))
	}
	fmt.Println("(exit 1: broken failed on purpose, and needs-broken waits for it; everything else is published)")

	step("the published repository and the mirrors")
	for _, dir := range []string{filepath.Join(Dir, "repo"), filepath.Join(Dir, "mirror-dir"), filepath.Join(Dir, "mirror-rsync")} {
		for _, arch := range []string{"x86_64", "aarch64"} {
			files, _ := filepath.Glob(filepath.Join(dir, arch, "*.apk"))
			slices.Sort(files)
			var names []string
			for _, f := range files {
				names = append(names, filepath.Base(f))
			}
			fmt.Printf("%-32s %-8s %s\n", dir, arch, strings.Join(names, " "))
		}
	}

	step("the real apk (Alpine's, from the minirootfs) installs greet-tools from the published repository")
	if err := apkInstall(ctx, "greet-tools"); err != nil {
		return err
	}

	step("run again: nothing to do")
	t1 := time.Now()
	if code, err = runRun(ctx, runBin, cfg); err != nil {
		return err
	}
	fmt.Printf("(the second run took %s, exit %d: broken is held until its retry is due)\n", time.Since(t1).Round(time.Millisecond), code)

	step("done in %s", time.Since(t0).Round(100*time.Millisecond))
	fmt.Printf(`the status site:      file://%s/site/index.html
  on the mirror:      file://%s/mirror-dir/status/index.html
the repository:       %s/repo  (signed with %s)
state and run records: %s/state
remove it all:        make demo-clean
`, Dir, Dir, Dir, filepath.Base(pub), Dir)
	return nil
}

// runRun runs `run --config cfg` with its output on ours and returns its
// exit code; err is for a run that could not start.
func runRun(ctx context.Context, runBin, cfg string) (int, error) {
	cmd := exec.CommandContext(ctx, runBin, "--config", cfg)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		if ee.ExitCode() == 2 {
			return 2, fmt.Errorf("run could not work (exit 2): see above")
		}
		return ee.ExitCode(), nil
	case err != nil:
		return -1, err
	}
	return 0, nil
}

// startRsync starts `rsync --daemon` serving module "demo" on
// 127.0.0.1:rsyncPort, writable, into Dir/mirror-rsync.
func startRsync(ctx context.Context) (*exec.Cmd, error) {
	if ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", rsyncPort)); err != nil {
		return nil, fmt.Errorf("port %d is taken (%v): stop what listens there, or change the demo's port in configs/demo.toml and internal/demo", rsyncPort, err)
	} else {
		ln.Close()
	}
	dir := mkdir(filepath.Join(Dir, "mirror-rsync"))
	conf := filepath.Join(Dir, "rsyncd.conf")
	text := fmt.Sprintf("use chroot = no\npid file = %s/rsyncd.pid\n[demo]\npath = %s\nread only = no\nuid = root\ngid = root\n", Dir, dir)
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		return nil, err
	}
	cmd := exec.Command("rsync", "--daemon", "--no-detach", "--config="+conf, "--address=127.0.0.1", fmt.Sprintf("--port=%d", rsyncPort),
		"--log-file="+filepath.Join(Dir, "rsyncd.log"))
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", rsyncPort)); err == nil {
			c.Close()
			fmt.Printf("rsync://127.0.0.1:%d/demo → %s\n", rsyncPort, dir)
			return cmd, nil
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	return nil, fmt.Errorf("the rsync daemon did not listen: see %s", filepath.Join(Dir, "rsyncd.log"))
}

// apkInstall unpacks the x86_64 minirootfs and runs its apk, through
// bubblewrap, to install pkg from the published repository with the demo
// key trusted, then runs what it installed.
func apkInstall(ctx context.Context, pkg string) error {
	base, err := minirootfs("x86_64")
	if err != nil {
		return err
	}
	root := mkdir(filepath.Join(Dir, "client-rootfs"))
	if out, err := exec.CommandContext(ctx, "tar", "-xzf", base, "-C", root).CombinedOutput(); err != nil {
		return fmt.Errorf("unpack %s: %v: %s", base, err, out)
	}
	target := mkdir(filepath.Join(Dir, "client"))
	var extra []string // more binds, after the root's
	bwrap := func(args ...string) *exec.Cmd {
		a := []string{"--bind", root, "/"}
		a = append(a, extra...)
		a = append(a, "--ro-bind", filepath.Join(Dir, "repo"), "/mnt/repo", "--ro-bind", filepath.Join(Dir, "keys"), "/mnt/keys",
			"--bind", target, "/mnt/client", "--proc", "/proc", "--dev", "/dev", "--unshare-all", "--die-with-parent", "--clearenv",
			"--setenv", "PATH", "/usr/sbin:/usr/bin:/sbin:/bin", "--")
		c := exec.CommandContext(ctx, "bwrap", append(a, args...)...)
		c.Stdout, c.Stderr = os.Stdout, os.Stdout
		return c
	}
	for _, d := range []string{"mnt/repo", "mnt/keys", "mnt/client"} {
		mkdir(filepath.Join(root, d))
	}
	fmt.Printf("$ apk add --root /mnt/client --initdb --keys-dir /mnt/keys -X /mnt/repo %s\n", pkg)
	if err := bwrap("/sbin/apk", "add", "--root", "/mnt/client", "--initdb", "--keys-dir", "/mnt/keys", "--repositories-file", "/dev/null",
		"-X", "/mnt/repo", "--no-progress", "--arch", "x86_64", pkg).Run(); err != nil {
		return fmt.Errorf("apk add %s: %w", pkg, err)
	}
	// The installed root has no shell of its own (only what was
	// installed): run its greet-twice with the minirootfs's, its data
	// where the package put it.
	mkdir(filepath.Join(root, "usr/share/libgreet"))
	fmt.Println("$ greet-twice")
	extra = []string{"--ro-bind", filepath.Join(target, "usr/share/libgreet"), "/usr/share/libgreet"}
	return bwrap("/bin/sh", "-c", "PATH=/mnt/client/usr/bin:$PATH exec greet-twice").Run()
}

// minirootfs finds the arch's Alpine minirootfs tarball in
// $APKFARM_SHARED/alpine or ../shared/alpine.
func minirootfs(arch string) (string, error) {
	shared := os.Getenv("APKFARM_SHARED")
	if shared == "" {
		shared = filepath.Join("..", "shared")
	}
	m, _ := filepath.Glob(filepath.Join(shared, "alpine", "alpine-minirootfs-*-"+arch+".tar.gz"))
	if len(m) == 0 {
		return "", fmt.Errorf("no alpine-minirootfs-*-%s.tar.gz in %s (set $APKFARM_SHARED to the directory holding alpine/)", arch, filepath.Join(shared, "alpine"))
	}
	slices.Sort(m)
	return filepath.Abs(m[len(m)-1])
}

func mkdir(dir string) string {
	os.MkdirAll(dir, 0o755)
	return dir
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
