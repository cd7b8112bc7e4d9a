package oci

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// The OCI runtimes the backend knows. They take the same command lines
// (run, kill, delete, state, list with --root, --log and --log-format
// json) but differ in what the backend has to know:
//
//   - the default state root: /run/runc, /run/crun;
//   - "no such container": runc says `container does not exist`, crun
//     `error opening file `<root>/<name>/status`: No such file or directory`;
//   - a program that cannot be run (see execFailure);
//   - where a relative cgroupsPath lands: runc nests it under its own
//     cgroup (v1) or that cgroup's parent (v2), crun puts it at the root of
//     every hierarchy (see containerCgroups);
//   - what a runtime killed mid-create leaves: runc a state directory
//     without state.json holding a bind mount of the runc binary; crun a
//     state directory without its status file (see reap);
//   - crun (up to at least 1.8) refuses to run anything on a hybrid cgroup
//     host (v1 controllers, plus cgroup2 at /sys/fs/cgroup/unified) whose
//     cgroup2 hierarchy has a controller: "cgroups in hybrid mode not
//     supported, drop all controllers from cgroupv2". See hideUnified.
const (
	flavorRunc = "runc"
	flavorCrun = "crun"
)

// detectFlavor says which runtime binary is: what its `--version` says
// ("crun version 1.8.1", "runc version 1.1.5"), else its name.
func detectFlavor(runtime string) string {
	if p, err := exec.LookPath(runtime); err == nil {
		ctx, cancel := context.WithTimeout(context.Background(), runtimeTimeout)
		defer cancel()
		if out, err := exec.CommandContext(ctx, p, "--version").Output(); err == nil {
			if strings.HasPrefix(string(out), "crun ") {
				return flavorCrun
			}
			if strings.HasPrefix(string(out), "runc ") {
				return flavorRunc
			}
		}
	}
	if strings.Contains(filepath.Base(runtime), "crun") {
		return flavorCrun
	}
	return flavorRunc
}

// unifiedMount is where a hybrid cgroup host mounts its cgroup2 hierarchy.
const unifiedMount = "/sys/fs/cgroup/unified"

// hybridWithV2Controllers says whether this is a hybrid cgroup host (v1
// controllers under a tmpfs /sys/fs/cgroup, cgroup2 at
// /sys/fs/cgroup/unified) whose cgroup2 hierarchy has a controller (e.g.
// hugetlb, when no v1 hierarchy takes it): the setup crun refuses.
func hybridWithV2Controllers() bool {
	var fs unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &fs) != nil || fs.Type == unix.CGROUP2_SUPER_MAGIC {
		return false
	}
	if unix.Statfs(unifiedMount, &fs) != nil || fs.Type != unix.CGROUP2_SUPER_MAGIC {
		return false
	}
	b, err := os.ReadFile(unifiedMount + "/cgroup.controllers")
	return err == nil && strings.TrimSpace(string(b)) != ""
}

// hideUnifiedScript runs the runtime in a mount namespace of its own (a
// slave of the host's, so the host's later mounts and unmounts, the
// session roots', reach it) without the cgroup2 mount: crun then sees a
// plain cgroup v1 host and puts the container in the v1 hierarchies, with
// the memory and pids limits. The container's own mount namespace is made
// from this one, and sees no cgroup filesystem either way.
const hideUnifiedScript = `umount -l ` + unifiedMount + ` && exec "$@"`

// command returns the argv that runs the runtime with args.
func (c config) command(args ...string) []string {
	var full []string
	if c.hideUnified {
		full = append(full, "unshare", "--mount", "--propagation", "slave", "--", "sh", "-c", hideUnifiedScript, "sh")
	}
	full = append(full, c.runtime)
	if c.runtimeRoot != "" {
		full = append(full, "--root", c.runtimeRoot)
	}
	return append(full, args...)
}

// runtimeCmd builds a runtime command line with the global flags.
func (c config) runtimeCmd(ctx context.Context, args ...string) *exec.Cmd {
	argv := c.command(args...)
	return exec.CommandContext(ctx, argv[0], argv[1:]...)
}

// defaultRoot is the runtime's own state root, used without
// WithRuntimeRoot.
func (c config) defaultRoot() string {
	if c.flavor == flavorCrun {
		return "/run/crun"
	}
	return "/run/runc"
}

// install is the package that provides the runtime, for error messages.
func (c config) install() string {
	if c.flavor == flavorCrun {
		return "apt-get install crun"
	}
	return "apt-get install runc"
}

// runtimeTimeout bounds one `runc kill`, `runc delete`, `runc state`.
const runtimeTimeout = 10 * time.Second
