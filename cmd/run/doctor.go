package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cheggaaa/pb/v3"

	"github.com/apkfarm/apkfarm/runner/config"
	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/runner/executor/oci"
	"github.com/apkfarm/apkfarm/runner/image"
)

// cmdDoctor implements `run doctor [--config FILE] [--runtime PATH]
// [--work-dir DIR] [--sweep] [--image REF --cache DIR]`: it prints what this
// host can do for the OCI executor (the runtime: which one is configured,
// where, and where it was found, and its version; root, namespaces, overlayfs,
// cgroups and their memory and pids controllers, a qemu binfmt handler per
// arch, each ✗ with its remedy: a handler not installed, installed but
// disabled, registered but disabled or without the F flag each get their
// own command). The runtime and work directory are
// build.runtime and build.work_dir of --config's file when given (runc and
// the default work directory otherwise); --runtime and --work-dir override
// them. --sweep first removes what dead runners
// left (oci.Sweep). --image also pulls REF for each native arch (a
// progress bar on a terminal) and runs `true` in a session without
// network, end to end. With --config, what publishing needs is checked
// (checkPublish), and each of its [[mirrors]] (doctor_mirrors.go). Exit 0
// when native builds can run and publishing and every mirror are ready; 1
// when only a mirror is not; 2 when native builds or publishing cannot
// work.
func cmdDoctor(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfgPath := fs.String("config", "", "take build.runtime and build.work_dir from this configuration")
	runtime := fs.String("runtime", "", "OCI runtime: runc, crun or a path to one (default build.runtime, else runc)")
	workDir := fs.String("work-dir", "", "session directory of the runners (default build.work_dir, else "+oci.DefaultWorkDir+")")
	sweep := fs.Bool("sweep", false, "remove containers, mounts and session directories left by dead runners first")
	ref := fs.String("image", "", "also pull this image for each native arch and run `true` in it")
	cache := fs.String("cache", filepath.Join(os.TempDir(), "apkfarm-doctor-images"), "image store for --image")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: run doctor [--config FILE] [--runtime PATH] [--work-dir DIR] [--sweep] [--image REF [--cache DIR]]")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if fs.NArg() != 0 {
		fs.Usage()
		return exitTrouble
	}
	rt, rtFrom, wd := config.DefaultRuntime, "the default", oci.DefaultWorkDir
	var cfg *config.Config
	if *cfgPath != "" {
		var err error
		cfg, err = loadConfig(*cfgPath)
		if err != nil {
			fmt.Fprintf(stderr, "run doctor: %v\n", err)
			return exitTrouble
		}
		rt, rtFrom = cfg.Build.Runtime, "build.runtime in "+*cfgPath
		if cfg.Build.WorkDir != "" {
			wd = cfg.Build.WorkDir
		}
	}
	if *runtime != "" {
		rt, rtFrom = *runtime, "--runtime"
	}
	if *workDir != "" {
		wd = *workDir
	}
	opts := []oci.Option{oci.WithRuntime(rt), oci.WithWorkDir(wd)}
	if *sweep {
		if err := oci.Sweep(ctx, opts...); err != nil {
			fmt.Fprintf(stdout, "%-11s %s %v\n", "sweep", bad, err)
		} else {
			fmt.Fprintf(stdout, "%-11s %s leftovers of dead runners removed\n", "sweep", good)
		}
	}
	r := oci.Inspect(ctx, image.Arches(), opts...)
	fmt.Fprintf(stdout, "%-11s %s %q, from %s\n", "configured", good, rt, rtFrom)
	printReport(stdout, r)
	ready := r.Ready()
	if ready == nil && *ref != "" {
		ready = smokeTest(ctx, stdout, stderr, *ref, *cache, r.NativeArchs[0], opts)
	}
	publishOK := true
	if cfg != nil {
		fmt.Fprintln(stdout)
		publishOK = checkPublish(ctx, stdout, cfg)
	}
	mirrorsOK := cfg == nil || doctorMirrors(ctx, stdout, cfg.Mirrors)
	if ready != nil {
		fmt.Fprintf(stdout, "\nnative builds: NOT READY\n%v\n", ready)
		return exitTrouble
	}
	fmt.Fprintln(stdout, "\nnative builds: ready")
	if !publishOK {
		fmt.Fprintln(stdout, "publishing: NOT READY (see ✗ above)")
		return exitTrouble
	}
	if !mirrorsOK {
		fmt.Fprintln(stdout, "mirrors: NOT ALL READY (see ✗ above)")
		return exitFailed
	}
	return exitOK
}

const (
	good = "✓"
	bad  = "✗"
)

func mark(ok bool) string {
	if ok {
		return good
	}
	return bad
}

func printReport(w io.Writer, r oci.Report) {
	line := func(what string, ok bool, format string, args ...any) {
		fmt.Fprintf(w, "%-11s %s %s\n", what, mark(ok), fmt.Sprintf(format, args...))
	}
	if r.RuntimeErr != nil {
		line("runtime", false, "%v", r.RuntimeErr)
	} else {
		line("runtime", true, "%s", r.Runtime)
	}
	line("root", r.Root, "%s", map[bool]string{true: "running as root", false: "not root: the OCI executor needs root"}[r.Root])
	var have, lack []string
	for _, n := range []string{"user", "net", "pid", "ipc", "uts", "mnt", "cgroup"} {
		if r.Namespaces[n] {
			have = append(have, n)
		} else {
			lack = append(lack, n)
		}
	}
	nsLine := strings.Join(have, " ")
	if len(lack) > 0 {
		nsLine += " (missing: " + strings.Join(lack, " ") + ")"
	}
	line("namespaces", len(lack) == 0 || r.Namespaces["pid"] && r.Namespaces["net"] && r.Namespaces["mnt"], "%s", nsLine)
	if r.Overlay != nil {
		line("overlayfs", false, "%v: sessions copy the image's rootfs instead (slower, more disk)", r.Overlay)
	} else {
		line("overlayfs", true, "session roots are overlay mounts over the cached rootfs")
	}
	if r.Cgroups.Limits() {
		line("cgroups", true, "%s: memory and pids limits enforced", r.Cgroups)
	} else {
		line("cgroups", false, "%s: builds run without memory and pids limits (enable the memory and pids controllers)", r.Cgroups)
	}
	native := map[string]bool{}
	for _, a := range r.NativeArchs {
		native[a] = true
	}
	for i, arch := range image.Arches() {
		what := ""
		if i == 0 {
			what = "arches"
		}
		err := r.Binfmt[arch]
		switch {
		case native[arch] && oci.Linux32(arch):
			line(what, true, "%-12s native, with the 32-bit personality", arch)
		case native[arch]:
			line(what, true, "%-12s native", arch)
		case err == nil:
			line(what, true, "%-12s qemu binfmt handler with the F flag", arch)
		default:
			line(what, false, "%-12s %v", arch, err)
		}
	}
}

// smokeTest pulls ref for the host's own arch and runs `true` in a session
// without network.
func smokeTest(ctx context.Context, stdout, stderr io.Writer, ref, cache, arch string, opts []oci.Option) error {
	bar := newProgress(stderr)
	st, err := image.NewStore(cache, image.WithProgress(bar.Update))
	if err != nil {
		return err
	}
	e := oci.New(st, opts...)
	t0 := time.Now()
	err = func() error {
		s, err := e.Start(ctx, executor.Spec{ID: "doctor-" + arch, Arch: arch, Image: ref})
		bar.Finish()
		if err != nil {
			return err
		}
		defer s.Close()
		code, err := s.Exec(ctx, executor.ExecRequest{Argv: []string{"true"}})
		if err == nil && code != 0 {
			err = fmt.Errorf("`true` exited %d", code)
		}
		return err
	}()
	if err != nil {
		fmt.Fprintf(stdout, "%-11s %s %-12s %v\n", "smoke test", bad, arch, err)
		return fmt.Errorf("smoke test %s: %w", arch, err)
	}
	fmt.Fprintf(stdout, "%-11s %s %-12s %s: session and `true` in %v\n", "smoke test", good, arch, ref, time.Since(t0).Round(time.Millisecond))
	return nil
}

// progress shows image pulls; the no-op one is used off a terminal.
type progress interface {
	Update(done, total int64)
	Finish()
}

type noProgress struct{}

func (noProgress) Update(int64, int64) {}
func (noProgress) Finish()             {}

type barProgress struct {
	w   io.Writer
	bar *pb.ProgressBar
}

func (p *barProgress) Update(done, total int64) {
	if p.bar == nil {
		if total <= 0 {
			return
		}
		p.bar = pb.New64(total).Set(pb.Bytes, true).SetWriter(p.w).Start()
	}
	p.bar.SetTotal(total)
	p.bar.SetCurrent(done)
}

func (p *barProgress) Finish() {
	if p.bar != nil {
		p.bar.Finish()
		p.bar = nil
	}
}

func newProgress(w io.Writer) progress {
	if !isTerminal(w) {
		return noProgress{}
	}
	return &barProgress{w: w}
}
