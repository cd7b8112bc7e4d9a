package oci

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/runner/executor/executortest"
	"github.com/apkfarm/apkfarm/runner/image/imagetest"
)

// TestKillRaceLeavesNothing cancels `sh -c 'sleep N & sleep N; wait'` at
// random moments from 0 to 200 ms after Exec is called: before runc has
// made the container, between create and start, while the shell forks its
// sleeps, and later. Each round is one session, stopped one of four ways:
//
//   - cancel: Exec's ctx is cancelled, then Close;
//   - close: Close while Exec runs;
//   - stuck-runc: as cancel after 0–80 ms, with a kill grace of 0–20 ms, so runc itself
//     is SIGKILLed wherever it is (what happens when runc hangs under
//     load): mid-create, with its `runc init` processes not yet recorded
//     in the runtime's state, or between create and start;
//   - stuck-close: as close, with that short grace.
//
// After Exec returns nothing of the command may run, and after Close
// nothing of the session may exist: no process with the round's marker, in
// one of the session's container cgroups, or with its cwd or root in the
// session directory; no apkfarm- container in `runc list` (the backend's
// runtime root, private to this test); no mount under the session
// directory; no session directory. It runs against every runtime in
// testRuntimes.
func TestKillRaceLeavesNothing(t *testing.T) {
	forEachRuntime(t, "x86_64", testKillRaceLeavesNothing)
}

func testKillRaceLeavesNothing(t *testing.T, rt testRuntime) {
	ref := imagetest.AlpineRef(t, "x86_64")
	runtimeRoot := rt.root
	const rounds, budget = 30, 30 * time.Second
	t0 := time.Now()
	modes := []string{"cancel", "close", "stuck-runc", "stuck-close"}
	for i := 0; i < rounds && time.Since(t0) < budget; i++ {
		mode := modes[i%len(modes)]
		delay := time.Duration(rand.IntN(201)) * time.Millisecond
		e := newTestExecutor(t, rt)
		if strings.HasPrefix(mode, "stuck-") {
			// Mostly while runc creates the container (~50 ms).
			delay = time.Duration(rand.IntN(81)) * time.Millisecond
			e.cfg.killGrace = time.Duration(rand.IntN(21)) * time.Millisecond
		}
		ss, err := e.Start(context.Background(), executor.Spec{ID: "race", Arch: "x86_64", Image: ref})
		if err != nil {
			t.Fatal(err)
		}
		s := ss.(*session)
		what := fmt.Sprintf("round %d (%s after %v, kill grace %v)", i, mode, delay, e.cfg.killGrace)
		n := strconv.Itoa(2000000 + rand.IntN(7000000))
		if i%4 == 0 {
			// A command that ends by itself leaves nothing either: its
			// init's exit takes the background sleep with it.
			code, err := s.Exec(context.Background(), executor.ExecRequest{Argv: []string{"sh", "-c", "sleep " + n + " & exit 3"}})
			if code != 3 || err != nil {
				t.Fatalf("%s: exit 3 = %d, %v", what, code, err)
			}
			if left := raceLeftovers(t, s, n, runtimeRoot, false); len(left) > 0 {
				t.Errorf("%s: after a command ended by itself:\n  %s", what, strings.Join(left, "\n  "))
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			_, err := s.Exec(ctx, executor.ExecRequest{Argv: []string{"sh", "-c", "sleep " + n + " & sleep " + n + "; wait"}})
			done <- err
		}()
		time.Sleep(delay)
		var closeErr error
		if strings.HasSuffix(mode, "close") {
			closeErr = s.Close()
		} else {
			cancel()
		}
		select {
		case err = <-done:
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: Exec did not return", what)
		}
		cancel()
		if err == nil {
			t.Errorf("%s: Exec returned nil", what)
		}
		if left := raceLeftovers(t, s, n, runtimeRoot, false); len(left) > 0 {
			t.Errorf("%s: after Exec returned (%v):\n  %s", what, err, strings.Join(left, "\n  "))
		}
		if err := s.Close(); err != nil || closeErr != nil {
			t.Errorf("%s: Close: %v, %v", what, closeErr, err)
		}
		if left := raceLeftovers(t, s, n, runtimeRoot, true); len(left) > 0 {
			t.Errorf("%s: after Close:\n  %s", what, strings.Join(left, "\n  "))
		}
		if t.Failed() {
			return // one round's report is enough; the rest would repeat it
		}
	}
	t.Logf("%s: %d rounds in %v", rt.name, rounds, time.Since(t0).Round(time.Millisecond))
}

// raceLeftovers lists what is left of session s: processes (marker n, the
// session's container cgroups, cwd or root in its directory), containers
// in runtimeRoot (as the session's runtime lists them) and, when closed,
// mounts and the directory.
func raceLeftovers(t testing.TB, s *session, n, runtimeRoot string, closed bool) []string {
	t.Helper()
	var out []string
	cgroupMark := "/apkfarm/" + Prefix + s.id + "-"
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		p := "/proc/" + e.Name()
		stat, _ := os.ReadFile(p + "/stat")
		if strings.HasPrefix(procState(string(stat)), "state Z ") {
			// Dead: a container init whose runc was killed is a
			// zombie until pid 1, its new parent, reaps it. (An init
			// exits only after every process of its pid namespace.)
			continue
		}
		cmdline, _ := os.ReadFile(p + "/cmdline")
		args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		why := ""
		for _, a := range args {
			if a == n {
				why = "marker"
			}
		}
		if cg, _ := os.ReadFile(p + "/cgroup"); strings.Contains(string(cg), cgroupMark) {
			why += " cgroup"
		}
		for _, l := range []string{"cwd", "root"} {
			if d, err := os.Readlink(p + "/" + l); err == nil && (d == s.dir || strings.HasPrefix(d, s.dir+"/")) {
				why += " " + l
			}
		}
		if why != "" {
			out = append(out, fmt.Sprintf("process %d (%s): %q %s", pid, strings.TrimSpace(why), args, procState(string(stat))))
		}
	}
	lc := s.e.cfg
	lc.runtimeRoot = runtimeRoot
	b, err := lc.runtimeCmd(context.Background(), "list", "--format", "json").Output()
	if err != nil {
		t.Errorf("%s list: %v", lc.runtime, err)
	}
	var list []struct{ ID, Status string }
	json.Unmarshal(b, &list)
	for _, c := range list {
		if strings.HasPrefix(c.ID, Prefix+s.id) {
			out = append(out, "container "+c.ID+" "+c.Status)
		}
	}
	// A state directory runc never finished writing is not in the list.
	if ds, _ := os.ReadDir(runtimeRoot); len(ds) > 0 {
		for _, d := range ds {
			if strings.HasPrefix(d.Name(), Prefix+s.id) {
				out = append(out, "runtime state "+filepath.Join(runtimeRoot, d.Name()))
			}
		}
	}
	for _, m := range mountPoints() {
		if strings.HasPrefix(m, filepath.Join(runtimeRoot, Prefix+s.id)) {
			out = append(out, "mount "+m)
		}
	}
	// The containers' cgroups (apkfarm/<container> in every hierarchy).
	filepath.WalkDir("/sys/fs/cgroup", func(p string, d os.DirEntry, err error) error {
		if err != nil || !d.IsDir() {
			return nil
		}
		if strings.HasPrefix(d.Name(), Prefix+s.id+"-") {
			out = append(out, "cgroup "+p)
			return filepath.SkipDir
		}
		if strings.Count(p, "/") > 8 {
			return filepath.SkipDir
		}
		return nil
	})
	if !closed {
		return out
	}
	for _, m := range mountPoints() {
		if m == s.dir || strings.HasPrefix(m, s.dir+"/") {
			out = append(out, "mount "+m)
		}
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		out = append(out, "session directory "+s.dir)
	}
	return out
}

// procState is the state letter ("Z" a zombie) and parent of a
// /proc/PID/stat line.
func procState(stat string) string {
	if i := strings.LastIndexByte(stat, ')'); i >= 0 {
		if f := strings.Fields(stat[i+1:]); len(f) > 1 {
			return "state " + f[0] + " ppid " + f[1]
		}
	}
	return ""
}

// TestSweepReapsUnrecordedContainer: a runner SIGKILLed while the runtime
// was creating a container leaves what `runc list` does not show: a
// process in the container's cgroup, a half-written state directory (runc:
// without state.json, with a mount of the runc binary in it; crun: without
// its status file). Sweep finds them through the session's bundle
// directory.
func TestSweepReapsUnrecordedContainer(t *testing.T) {
	forEachRuntime(t, "x86_64", testSweepReapsUnrecordedContainer)
}

func testSweepReapsUnrecordedContainer(t *testing.T, rt testRuntime) {
	work, runtimeRoot := t.TempDir(), rt.root
	id := "dead-" + strconv.Itoa(rand.IntN(1e8))
	name := Prefix + id + "-1"
	dir := filepath.Join(work, id)
	for _, d := range []string{filepath.Join(dir, "exec-1"), filepath.Join(dir, "root")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "lock"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	// The runtime's half-written state: runc's a directory with a bind
	// mount, crun's a directory with the container's config.json and no
	// status file.
	state := filepath.Join(runtimeRoot, name)
	if err := os.MkdirAll(state, 0o700); err != nil {
		t.Fatal(err)
	}
	switch rt.name {
	case "runc":
		bin := filepath.Join(state, "runc.bin")
		os.WriteFile(bin, nil, 0o600)
		if out, err := exec.Command("mount", "--bind", "/bin/true", bin).CombinedOutput(); err != nil {
			t.Fatalf("mount: %v %s", err, out)
		}
		t.Cleanup(func() { exec.Command("umount", bin).Run() })
	case "crun":
		os.WriteFile(filepath.Join(state, "config.json"), []byte("{}"), 0o600)
	}
	// The orphaned init: a host process in the container's cgroup, where
	// the runtime puts it (runc under its own cgroup, crun at the root of
	// the hierarchy).
	var cg string
	var tried []string
	for _, h := range cgroupHierarchies() {
		parent := h.own
		if rt.name == "crun" {
			parent = h.mount
		}
		d := filepath.Join(parent, "apkfarm", name)
		tried = append(tried, d)
		if os.MkdirAll(d, 0o755) == nil {
			cg = d
			break
		}
	}
	if cg == "" {
		alpinetest.SkipOrFail(t, "cannot make a cgroup: tried %v", tried)
	}
	t.Cleanup(func() { os.Remove(cg) })
	n := strconv.Itoa(2000000 + rand.IntN(7000000))
	sleep := exec.Command("sleep", n)
	if err := sleep.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { sleep.Wait(); close(exited) }()
	t.Cleanup(func() { // before the cgroup's removal
		sleep.Process.Kill()
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
		}
	})
	if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(strconv.Itoa(sleep.Process.Pid)), 0); err != nil {
		t.Fatal(err)
	}
	if got := containerCgroups(name); len(got) == 0 {
		t.Fatalf("containerCgroups(%s) found nothing; made %s", name, cg)
	}

	if err := Sweep(context.Background(), append(rt.opts(), WithWorkDir(work))...); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
		t.Errorf("the process in the container's cgroup survived Sweep")
	}
	if got := containerCgroups(name); len(got) > 0 {
		t.Errorf("cgroups left: %v", got)
	}
	for _, m := range mountPoints() {
		if strings.HasPrefix(m, state) {
			t.Errorf("mount left: %s", m)
		}
	}
	for _, p := range []string{state, dir} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s left (%v)", p, err)
		}
	}
}

// TestCloseReportsWhatItCannotReap: when the runtime will neither kill nor
// delete a container, its processes still die (runc is killed after the
// kill grace, then everything in the container's cgroups), Exec and Close
// say what is left, and Close keeps the root mounted and the directory for
// Sweep instead of detaching the mount from under the container's state.
func TestCloseReportsWhatItCannotReap(t *testing.T) {
	forEachRuntime(t, "x86_64", testCloseReportsWhatItCannotReap)
}

func testCloseReportsWhatItCannotReap(t *testing.T, rt testRuntime) {
	tmp, runtimeRoot := t.TempDir(), rt.root
	wrapper := filepath.Join(tmp, "stubborn-"+rt.name)
	script := "#!/bin/sh\nfor a; do case $a in kill|delete) echo \"$a refused by the test\" >&2; exit 1;; esac; done\nexec " + rt.path + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	e := newTestExecutor(t, rt, WithRuntime(wrapper))
	e.cfg.killGrace = 300 * time.Millisecond
	ss, err := e.Start(context.Background(), executor.Spec{ID: "stubborn", Arch: "x86_64", Image: imagetest.AlpineRef(t, "x86_64")})
	if err != nil {
		t.Fatal(err)
	}
	s := ss.(*session)
	t.Cleanup(func() {
		s.lock.Close() // as if this runner had exited
		rt.cmd("delete", "--force", Prefix+s.id+"-1").Run()
		if err := Sweep(context.Background(), append(rt.opts(), WithWorkDir(e.cfg.workDir))...); err != nil {
			t.Errorf("Sweep: %v", err)
		}
		if left := raceLeftovers(t, s, "none", runtimeRoot, true); len(left) > 0 {
			t.Errorf("after Sweep:\n  %s", strings.Join(left, "\n  "))
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n, done := executortest.StartSleep(t, ctx, s)
	cancel()
	select {
	case err = <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("Exec did not return")
	}
	if err == nil || !strings.Contains(err.Error(), "delete refused by the test") {
		t.Errorf("Exec = %v, want the refused delete", err)
	}
	// The processes are gone all the same: killed through the cgroup.
	for _, l := range raceLeftovers(t, s, n, runtimeRoot, false) {
		if strings.HasPrefix(l, "process") {
			t.Errorf("after Exec returned: %s", l)
		}
	}
	err = s.Close()
	if err == nil || !strings.Contains(err.Error(), "delete refused by the test") {
		t.Errorf("Close = %v, want the refused delete", err)
	}
	if !isMountPoint(s.root) {
		t.Errorf("Close unmounted the root of a session it could not clean up")
	}
	if err2 := s.Close(); err2 == nil || err2.Error() != err.Error() {
		t.Errorf("second Close = %v, want %v", err2, err)
	}
}
