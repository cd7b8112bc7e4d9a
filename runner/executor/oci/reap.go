package oci

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// reapTimeout bounds how long reap waits for a container's cgroup to empty.
const reapTimeout = 5 * time.Second

// reap makes sure nothing of container name is left once its `runc run`
// has exited, however it exited. `runc kill` and `runc delete` only know a
// container whose state runc recorded, and runc records it only after it
// has forked the container's `runc init` (into the container's cgroup and
// pid namespace): a runc killed while creating (its kill grace ran out
// under load, the OOM killer) leaves an init that no runc command can
// name, blocked for ever, a state directory without state.json with a
// mount in it, and the cgroups. (A crun killed there leaves a state
// directory without its status file, which `crun state` does not know, and
// the cgroups.) So reap
//
//  1. kills every process in the container's cgroups (frozen first where a
//     freezer is available, so none forks or exits under it), and waits
//     until they are empty;
//  2. runs `runc delete --force` (runc's own cleanup of recorded state);
//  3. unmounts and removes a state directory runc says it does not know
//     (`runc state`);
//  4. removes the cgroups runc made;
//
// and returns an error unless the cgroups are empty or gone and the state
// directory is gone. A state directory runc knows but could not delete is
// left to runc (and reported): removing it would hide a container should
// its processes live where this process does not look.
func reap(c config, name string) error {
	dirs := containerCgroups(name)
	var errs []error
	if err := killCgroups(dirs, reapTimeout); err != nil {
		errs = append(errs, err)
	}
	delErr := deleteState(c, name)
	if sd := c.stateDir(name); exists(sd) {
		// runc delete removes a state directory without state.json
		// too, but not with the mount in it.
		if c.knows(name) {
			errs = append(errs, fmt.Errorf("runtime state %s left: %v", sd, delErr))
		} else if err := removeStateDir(sd); err != nil {
			errs = append(errs, err)
		}
	}
	for _, d := range dirs {
		if err := unix.Rmdir(d); err != nil && err != unix.ENOENT {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", d, err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("clean up container %s: %w", name, err)
	}
	return nil
}

// deleteState runs `runc delete --force name` (a container runc does not
// know is no error). One retry: a delete racing runc's own can fail.
func deleteState(c config, name string) error {
	var err error
	for try := 0; try < 2; try++ {
		ctx, cancel := context.WithTimeout(context.Background(), runtimeTimeout)
		out, rerr := c.runtimeCmd(ctx, "delete", "--force", name).CombinedOutput()
		cancel()
		if rerr == nil || notExist(string(out)) {
			return nil
		}
		err = fmt.Errorf("%s delete --force: %w: %s", c.runtime, rerr, strings.TrimSpace(string(out)))
		time.Sleep(100 * time.Millisecond)
	}
	return err
}

// knows says whether the runtime has state for container name (`runc
// state`); when it cannot tell, it says yes.
func (c config) knows(name string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), runtimeTimeout)
	defer cancel()
	out, err := c.runtimeCmd(ctx, "state", name).CombinedOutput()
	return err == nil || !notExist(string(out))
}

// notExist recognises runc's and crun's "no such container".
func notExist(out string) bool {
	return strings.Contains(out, "does not exist") || strings.Contains(out, "No such file or directory")
}

// stateDir is where the runtime keeps container name's state: under the
// runtime root (runc --root), by default /run/runc (/run/crun for crun).
func (c config) stateDir(name string) string {
	root := c.runtimeRoot
	if root == "" {
		root = c.defaultRoot()
	}
	return filepath.Join(root, name)
}

// removeStateDir unmounts what is mounted under a container's state
// directory (runc mounts a read-only copy of itself there while creating)
// and removes it.
func removeStateDir(dir string) error {
	if _, err := os.Lstat(dir); os.IsNotExist(err) {
		return nil
	}
	for _, m := range mountPoints() {
		if m == dir || strings.HasPrefix(m, dir+"/") {
			if err := unix.Unmount(m, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
				return fmt.Errorf("unmount %s: %w", m, err)
			}
		}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("remove runtime state: %w", err)
	}
	return nil
}

// containerCgroups returns the directories of container name's cgroup
// that exist, one per hierarchy: the spec's relative path apkfarm/<name>,
// which runc nests under its own cgroup (the runner's) on cgroup v1 and
// under that cgroup's parent on v2, and crun puts at the root of every
// hierarchy. All three places are looked at: the name is unique.
func containerCgroups(name string) []string {
	var out []string
	seen := map[string]bool{}
	for _, h := range cgroupHierarchies() {
		for _, parent := range []string{h.own, filepath.Dir(h.own), h.mount} {
			d := filepath.Join(parent, "apkfarm", name)
			if fi, err := os.Stat(d); err == nil && fi.IsDir() && !seen[d] {
				seen[d] = true
				out = append(out, d)
			}
		}
	}
	return out
}

// hierarchy is one mounted cgroup hierarchy: where it is mounted, and this
// process's cgroup directory in it.
type hierarchy struct{ mount, own string }

// cgroupHierarchies returns the mounted cgroup hierarchies this process is
// in (v1 controllers and named hierarchies, and v2).
func cgroupHierarchies() []hierarchy {
	type mnt struct {
		point, root string
		opts        map[string]bool // v1 super options: the controllers, name=...
		v2          bool
	}
	var mnts []mnt
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		pre, post, ok := strings.Cut(line, " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if !ok || len(f) < 5 || len(g) < 3 || (g[0] != "cgroup" && g[0] != "cgroup2") {
			continue
		}
		m := mnt{point: unescapeMount(f[4]), root: unescapeMount(f[3]), opts: map[string]bool{}, v2: g[0] == "cgroup2"}
		for _, o := range strings.Split(g[2], ",") {
			m.opts[o] = true
		}
		mnts = append(mnts, m)
	}
	f, err := os.Open("/proc/self/cgroup")
	if err != nil {
		return nil
	}
	defer f.Close()
	var out []hierarchy
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		for _, m := range mnts {
			match := m.v2 && parts[1] == ""
			if !m.v2 && parts[1] != "" {
				match = true
				for _, c := range strings.Split(parts[1], ",") {
					match = match && m.opts[c]
				}
			}
			if !match {
				continue
			}
			rel := parts[2]
			if m.root != "/" {
				rel = strings.TrimPrefix(rel, m.root)
			}
			out = append(out, hierarchy{mount: m.point, own: filepath.Join(m.point, rel)})
			break
		}
	}
	return out
}

// killCgroups SIGKILLs every process in dirs until all are empty or
// timeout passes. A v1 freezer (or v2 cgroup.freeze) holds the processes
// still meanwhile, so none forks a child after the list is read and no pid
// is reused before the kill; v2's cgroup.kill does it all at once.
func killCgroups(dirs []string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var pids []int
		for _, d := range dirs {
			pids = append(pids, cgroupProcs(d)...)
		}
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("processes %v still in cgroups %v", pids, dirs)
		}
		for _, d := range dirs {
			if writeFile(filepath.Join(d, "cgroup.kill"), "1") == nil {
				continue
			}
			thaw := freeze(d)
			for _, pid := range cgroupProcs(d) {
				unix.Kill(pid, unix.SIGKILL)
			}
			thaw()
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// freeze freezes cgroup d if it can (for at most 500 ms) and returns the
// function that thaws it.
func freeze(d string) (thaw func()) {
	v1, v2 := filepath.Join(d, "freezer.state"), filepath.Join(d, "cgroup.freeze")
	var file, on, off string
	switch {
	case exists(v1):
		file, on, off = v1, "FROZEN", "THAWED"
	case exists(v2):
		file, on, off = v2, "1", "0"
	default:
		return func() {}
	}
	if writeFile(file, on) != nil {
		return func() {}
	}
	thaw = func() { writeFile(file, off) }
	end := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(end) {
		if file == v1 {
			if b, _ := os.ReadFile(file); strings.TrimSpace(string(b)) == "FROZEN" {
				return thaw
			}
		} else if b, _ := os.ReadFile(filepath.Join(d, "cgroup.events")); strings.Contains(string(b), "frozen 1") {
			return thaw
		}
		time.Sleep(time.Millisecond)
	}
	return thaw
}

// writeFile writes an existing (cgroup) file.
func writeFile(p, s string) error {
	f, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// cgroupProcs lists the processes in cgroup d (none once it is gone).
func cgroupProcs(d string) []int {
	b, err := os.ReadFile(filepath.Join(d, "cgroup.procs"))
	if err != nil {
		return nil
	}
	var pids []int
	for _, f := range strings.Fields(string(b)) {
		if pid, err := strconv.Atoi(f); err == nil {
			pids = append(pids, pid)
		}
	}
	return pids
}
