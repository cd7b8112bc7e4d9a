package oci

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
)

// Cgroups describes the host's cgroup setup.
type Cgroups struct {
	Version     int             // 1, 2, or 0 when none is mounted
	Controllers map[string]bool // available to this process: "memory", "pids", ...
}

// Limits says whether memory and pids limits can be enforced.
func (c Cgroups) Limits() bool { return c.Controllers["memory"] && c.Controllers["pids"] }

func (c Cgroups) String() string {
	if c.Version == 0 {
		return "none"
	}
	var names []string
	for _, n := range []string{"memory", "pids", "cpu", "cpuset", "freezer", "devices"} {
		if c.Controllers[n] {
			names = append(names, n)
		}
	}
	return fmt.Sprintf("v%d (%s)", c.Version, strings.Join(names, " "))
}

// DetectCgroups reads /proc/self/cgroup and the cgroup mounts.
func DetectCgroups() Cgroups {
	c := Cgroups{Controllers: map[string]bool{}}
	var fs unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &fs) == nil && fs.Type == unix.CGROUP2_SUPER_MAGIC {
		c.Version = 2
		if b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers"); err == nil {
			for _, n := range strings.Fields(string(b)) {
				c.Controllers[n] = true
			}
		}
		return c
	}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return c
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 || parts[1] == "" {
			continue
		}
		for _, n := range strings.Split(parts[1], ",") {
			if !strings.HasPrefix(n, "name=") {
				c.Controllers[n] = true
				c.Version = 1
			}
		}
	}
	return c
}

// Namespaces lists which namespace kinds this kernel offers.
func Namespaces() map[string]bool {
	out := map[string]bool{}
	for _, n := range []string{"user", "net", "pid", "ipc", "uts", "mnt", "cgroup"} {
		_, err := os.Stat("/proc/self/ns/" + n)
		out[n] = err == nil
	}
	return out
}

// overlaySupported says whether the kernel knows overlayfs (it may still
// refuse a mount, e.g. with an upper directory on overlayfs; Start then
// falls back to a copy).
func overlaySupported() bool {
	b, err := os.ReadFile("/proc/filesystems")
	return err == nil && strings.Contains(string(b), "\toverlay\n")
}

// ProbeOverlay mounts a small overlay in a temporary directory under dir
// and unmounts it: nil when session roots can be overlays there.
func ProbeOverlay(dir string) error {
	if !overlaySupported() {
		return errors.New("kernel lacks overlayfs (modprobe overlay)")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(dir, ".overlay-probe-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	for _, d := range []string{"lower", "upper", "work", "merged"} {
		if err := os.Mkdir(filepath.Join(tmp, d), 0o700); err != nil {
			return err
		}
	}
	opts := "lowerdir=" + tmp + "/lower,upperdir=" + tmp + "/upper,workdir=" + tmp + "/work"
	merged := filepath.Join(tmp, "merged")
	if err := unix.Mount("overlay", merged, "overlay", 0, opts); err != nil {
		return fmt.Errorf("mount overlay in %s: %w", dir, err)
	}
	return unmountRoot(merged)
}

// runtimeVersion runs `runtime --version` and returns its first line, and
// checks what runs it (hideUnified) is there.
func runtimeVersion(ctx context.Context, c config) (string, error) {
	p, err := exec.LookPath(c.runtime)
	if err != nil {
		return "", fmt.Errorf("find container runtime %q: %w (%s)", c.runtime, err, c.install())
	}
	if c.hideUnified {
		for _, tool := range []string{"unshare", "umount", "sh"} {
			if _, err := exec.LookPath(tool); err != nil {
				return "", fmt.Errorf("crun on this hybrid cgroup host runs under unshare: %w (apt-get install util-linux mount)", err)
			}
		}
	}
	out, err := exec.CommandContext(ctx, p, "--version").Output()
	if err != nil {
		return "", fmt.Errorf("run %s --version: %w", p, err)
	}
	line, _, _ := strings.Cut(string(out), "\n")
	v := p + ": " + strings.TrimSpace(line)
	if c.hideUnified {
		v += " (run without " + unifiedMount + ": crun refuses a hybrid cgroup host whose cgroup2 hierarchy has controllers)"
	}
	return v, nil
}

// Report is what a host can do, for `run doctor`.
type Report struct {
	Runtime     string // path and version, or "" with RuntimeErr
	RuntimeErr  error
	Root        bool
	Namespaces  map[string]bool
	Overlay     error // nil when session roots can be overlay mounts
	Cgroups     Cgroups
	Binfmt      map[string]error // per apk arch: nil when it can run
	NativeArchs []string
}

// Inspect reports what this host offers the oci executor.
func Inspect(ctx context.Context, arches []string, opts ...Option) Report {
	c := newConfig(opts)
	r := Report{
		Root:        os.Geteuid() == 0,
		Namespaces:  Namespaces(),
		Overlay:     ProbeOverlay(c.workDir),
		Cgroups:     DetectCgroups(),
		Binfmt:      map[string]error{},
		NativeArchs: NativeArches(),
	}
	r.Runtime, r.RuntimeErr = runtimeVersion(ctx, c)
	for _, a := range arches {
		r.Binfmt[a] = CheckBinfmt(a)
	}
	return r
}

// Ready says whether native builds can run: a runtime, root, and the pid,
// mount and network namespaces.
func (r Report) Ready() error {
	var errs []error
	if r.RuntimeErr != nil {
		errs = append(errs, r.RuntimeErr)
	}
	if !r.Root {
		errs = append(errs, errors.New("not root: the runc backend needs root (mounts, namespaces)"))
	}
	for _, n := range []string{"pid", "mnt", "net", "ipc", "uts"} {
		if !r.Namespaces[n] {
			errs = append(errs, fmt.Errorf("kernel lacks %s namespaces", n))
		}
	}
	return errors.Join(errs...)
}
