// Command demo is `make demo`: it runs the built `run` binary on the small
// tree in testdata/demo/tree, end to end on this machine, offline, and
// shows what came out. It is a development tool (hence internal/), not a
// part of apkfarm.
//
// Steps: build the stand-in abuild (internal/fakeabuild) for the host's
// arch and put it into a copy of the Alpine minirootfs from
// ../shared/alpine (the build image, as a "rootfs:" tarball); make a key
// pair with `run keygen`; write a configuration; `run --no-publish`
// plans and builds every aport in runc containers; then the staged
// packages are listed, hello's script is read out of its package, and the
// packages are signed and indexed with the demo key (`run sign`, `run
// index`: what publishing will do) and checked with `run verify`.
//
// Usage: go run ./internal/demo [-run bin/run] [-dir DIR] [-keep]
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
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
	"github.com/apkfarm/apkfarm/runner/config"
)

func main() {
	runBin := flag.String("run", "bin/run", "the run binary to demonstrate")
	dir := flag.String("dir", "", "working directory (default: a new one under /var/tmp)")
	keep := flag.Bool("keep", true, "keep the working directory afterwards")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := demo(ctx, *runBin, *dir, *keep)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func step(format string, args ...any) {
	fmt.Printf("\n==> %s\n", fmt.Sprintf(format, args...))
}

func demo(ctx context.Context, runBin, dir string, keep bool) error {
	t0 := time.Now()
	if os.Geteuid() != 0 {
		return errors.New("builds run in runc containers, which needs root: run `make demo` as root (after `make deps`)")
	}
	if _, err := exec.LookPath("runc"); err != nil {
		return errors.New("runc not found: run `make deps` as root (it installs runc)")
	}
	runBin, err := filepath.Abs(runBin)
	if err != nil {
		return err
	}
	tree, err := filepath.Abs(filepath.Join("testdata", "demo", "tree"))
	if err != nil {
		return err
	}
	if _, err := os.Stat(tree); err != nil {
		return fmt.Errorf("demo tree: %w (run from the repository's root)", err)
	}
	arch := config.HostArch()
	base, err := minirootfs(arch)
	if err != nil {
		return err
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("/var/tmp", "apkfarm-demo-"); err != nil {
			return err
		}
	}
	if !keep {
		defer os.RemoveAll(dir)
	}

	step("build image: %s + the stand-in abuild", filepath.Base(base))
	bin := filepath.Join(dir, "abuild-"+arch)
	if err := standin.Binary(ctx, arch, bin); err != nil {
		return err
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return err
	}
	rootfs := filepath.Join(dir, "build-image-"+arch+".tar.gz")
	if err := standin.Rootfs(base, b, rootfs); err != nil {
		return err
	}
	fmt.Printf("rootfs:%s\n", rootfs)

	step("a key pair for the demo repository (run keygen)")
	keyDir, pubDir := filepath.Join(dir, "keygen"), filepath.Join(dir, "keys")
	out, err := runOut(ctx, runBin, "keygen", "--dir", keyDir, "--name", "demo", "--bits", "2048")
	if err != nil {
		return err
	}
	paths := strings.Fields(out)
	if len(paths) != 2 {
		return fmt.Errorf("run keygen printed %q, want two paths", out)
	}
	priv, pub := paths[0], paths[1]
	if err := os.MkdirAll(pubDir, 0o755); err != nil {
		return err
	}
	if err := copyFile(pub, filepath.Join(pubDir, filepath.Base(pub))); err != nil {
		return err
	}
	fmt.Print(out)

	step("configuration")
	stateDir := filepath.Join(dir, "state")
	cfgPath := filepath.Join(dir, "apkfarm.toml")
	cfg := fmt.Sprintf(`# written by make demo
arches = [%q]
jobs = 2
[source]
path = %q
[publish]
dir = %q   # empty: nothing is published yet, everything is new
keys = %q
[state]
dir = %q
[build]
image = "rootfs:%s"
work_dir = %q
timeout = "5m"
`, arch, tree, filepath.Join(dir, "repo"), pubDir, stateDir, rootfs, filepath.Join(dir, "sessions"))
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return err
	}
	fmt.Print(cfg)

	step("run --no-publish --config %s", cfgPath)
	cmd := exec.CommandContext(ctx, runBin, "--no-publish", "--config", cfgPath)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stdout
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("run --no-publish: %w (see the logs under %s)", err, filepath.Join(stateDir, "logs"))
	}

	step("staged packages (%s)", filepath.Join(stateDir, "staging", arch))
	staged, _ := filepath.Glob(filepath.Join(stateDir, "staging", arch, "*.apk"))
	slices.Sort(staged)
	if len(staged) == 0 {
		return errors.New("nothing staged")
	}
	helloScript := ""
	for _, f := range staged {
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		pf, err := apk.ReadPackageFile(b, f)
		if err != nil {
			return err
		}
		var files []string
		for _, e := range pf.Files {
			if e.Typeflag == tar.TypeReg {
				files = append(files, "/"+e.Name)
			}
		}
		if pf.Info.Name == "hello" {
			content, err := pf.ReadFile("usr/bin/hello")
			if err != nil {
				return err
			}
			helloScript = string(content)
		}
		fmt.Printf("%-28s %-16s %-8s %6d bytes  %s\n", pf.Info.Name, pf.Info.Version, pf.Info.Arch, len(b), strings.Join(files, " "))
	}

	step("hello's /usr/bin/hello, from its package: built against libgreet-dev installed in its container")
	fmt.Print(helloScript)

	step("sign and index with the demo key, then verify (run sign, run index, run verify)")
	preview := filepath.Join(dir, "signed", arch)
	if err := os.MkdirAll(preview, 0o755); err != nil {
		return err
	}
	var signed []string
	for _, f := range staged {
		dst := filepath.Join(preview, filepath.Base(f))
		if err := copyFile(f, dst); err != nil {
			return err
		}
		signed = append(signed, dst)
	}
	if _, err := runOut(ctx, runBin, append([]string{"sign", "--key", priv}, signed...)...); err != nil {
		return err
	}
	index := filepath.Join(preview, "APKINDEX.tar.gz")
	if _, err := runOut(ctx, runBin, append([]string{"index", "--key", priv, "--out", index, "--description", "apkfarm demo"}, signed...)...); err != nil {
		return err
	}
	if _, err := runOut(ctx, runBin, append([]string{"verify", "--keys-dir", pubDir, index}, signed...)...); err != nil {
		return err
	}
	fmt.Printf("%d packages and %s: signatures, checksums and data hashes good\n", len(signed), index)

	step("done in %s; everything is in %s", time.Since(t0).Round(100*time.Millisecond), dir)
	fmt.Printf("status.json: %s\nlogs:        %s\n", filepath.Join(stateDir, "status.json"), filepath.Join(stateDir, "logs", arch))
	return nil
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

// runOut runs the run binary and returns its stdout; its stderr goes to
// ours.
func runOut(ctx context.Context, runBin string, args ...string) (string, error) {
	cmd := exec.CommandContext(ctx, runBin, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, os.Stderr
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("run %s: %w\n%s", args[0], err, out.String())
	}
	return out.String(), nil
}

func copyFile(src, dst string) error {
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return os.WriteFile(dst, b, 0o644)
}
