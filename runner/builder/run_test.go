package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/runner/executor/fake"
	"github.com/apkfarm/apkfarm/state"
	"github.com/klauspost/compress/gzip"
)

func testOptions(t testing.TB) Options {
	return Options{
		Jobs:           1,
		Image:          "test-image",
		StateDir:       t.TempDir(),
		PrepareCommand: "prepare-cmd",
		BuildCommand:   "build-cmd",
		NativeArches:   []string{"x86_64"},
	}
}

func aportDir(t testing.TB, name string) string {
	t.Helper()
	d := filepath.Join(t.TempDir(), "main", name)
	if err := os.MkdirAll(d, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(d, "APKBUILD"), []byte("pkgname="+name+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return d
}

func job(t testing.TB, name string, batch, cp int, deps ...string) Job {
	return Job{Arch: "x86_64", Pkgname: name, Version: "1.0-r0", Dir: aportDir(t, name), Hash: "h-" + name,
		Batch: batch, CriticalPath: cp, Deps: deps, Packages: []string{name}}
}

func outcomeOf(t testing.TB, res *Result, name string) Outcome {
	t.Helper()
	for _, o := range res.Outcomes {
		if o.Job.Pkgname == name {
			return o
		}
	}
	t.Fatalf("no outcome for %s", name)
	return Outcome{}
}

func readLog(t testing.TB, stateDir string, at *state.Attempt) string {
	t.Helper()
	if at == nil {
		t.Fatal("no attempt")
	}
	f, err := os.Open(filepath.Join(stateDir, at.Log))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestScheduleOrderBlockingAndState(t *testing.T) {
	fe := newFakeExec(t)
	jobs := []Job{
		job(t, "a", 0, 2),
		job(t, "b", 0, 5),
		job(t, "c", 0, 3),
		job(t, "d", 1, 1, "a"),
		job(t, "e", 1, 2, "c"),
		job(t, "f", 2, 0, "e"),
		job(t, "g", 2, 0, "d"),
	}
	for _, n := range []string{"a", "b", "d", "g"} {
		fe.behavior[n] = buildsOK(t, n)
	}
	fe.behavior["c"] = failsWith(2, "checking stuff", "c.c:1: error: boom", "more")
	opts := testOptions(t)
	res, err := Run(context.Background(), jobs, opts, fe, nil)
	if err != nil {
		t.Fatal(err)
	}
	order := fe.startedPkgs()
	if want := []string{"b", "c", "a", "d", "g"}; !slices.Equal(order, want) {
		t.Errorf("start order %v; want %v (batches in order, longest critical path first)", order, want)
	}
	want := map[string]string{"a": state.Built, "b": state.Built, "c": state.Failed, "d": state.Built,
		"e": state.Blocked, "f": state.Blocked, "g": state.Built}
	for name, st := range want {
		if got := outcomeOf(t, res, name).Status; got != st {
			t.Errorf("%s: status %q; want %q", name, got, st)
		}
	}
	e, f := outcomeOf(t, res, "e"), outcomeOf(t, res, "f")
	if e.BlockedBy != "c" || f.BlockedBy != "c" || !strings.Contains(f.Reason, "depends on e, which blocked by c") {
		t.Errorf("blocked: e=%q/%q f=%q/%q; want both blocked by c", e.BlockedBy, e.Reason, f.BlockedBy, f.Reason)
	}
	if e.Attempt != nil {
		t.Error("a blocked job has an attempt")
	}
	c := outcomeOf(t, res, "c")
	if c.Attempt.Class != state.ClassBuildError || c.Attempt.ExitCode != 2 {
		t.Errorf("c attempt = %+v; want build-error exit 2", c.Attempt)
	}
	if len(c.Attempt.ErrorLines) != 1 || !strings.HasSuffix(c.Attempt.ErrorLines[0], "] c.c:1: error: boom") || !strings.HasPrefix(c.Attempt.ErrorLines[0], "[00:0") {
		t.Errorf("c error lines = %q", c.Attempt.ErrorLines)
	}
	if c.Attempt.Log != "logs/x86_64/c/1.0-r0-1.log.gz" {
		t.Errorf("c log = %q", c.Attempt.Log)
	}
	logText := readLog(t, opts.StateDir, c.Attempt)
	for _, want := range []string{"apkfarm: prepare (network on): prepare-cmd", "apkfarm: build (network off): build-cmd",
		"c.c:1: error: boom", "apkfarm: failed (build-error): build: exit 2"} {
		if !strings.Contains(logText, want) {
			t.Errorf("c log lacks %q:\n%s", want, logText)
		}
	}
	for _, line := range strings.Split(strings.TrimSpace(logText), "\n") {
		if len(line) < 8 || line[0] != '[' || line[3] != ':' || line[6] != ']' {
			t.Errorf("log line without [mm:ss] stamp: %q", line)
		}
	}
	a := outcomeOf(t, res, "a")
	if !slices.Equal(a.Packages, []string{"staging/x86_64/a-1.0-r0.apk"}) {
		t.Errorf("a packages = %v", a.Packages)
	}
	b, err := os.ReadFile(filepath.Join(opts.StateDir, a.Packages[0]))
	if err != nil {
		t.Fatal(err)
	}
	if pf, err := apk.ReadPackageFile(b, "a"); err != nil || pf.Info.Name != "a" {
		t.Errorf("staged a: %v", err)
	}
	if m, _ := filepath.Glob(filepath.Join(opts.StateDir, "logs", "*", "*", "*.log")); len(m) != 0 {
		t.Errorf("uncompressed logs left: %v", m)
	}
	if n := fe.openSessions(); n != 0 {
		t.Errorf("%d sessions left open", n)
	}

	st := state.New()
	res.Record(st)
	if p := st.Aport("x86_64", "f"); p.Status != state.Blocked || p.BlockedBy != "c" {
		t.Errorf("state f = %+v", p)
	}
	if p := st.Aport("x86_64", "c"); p.Status != state.Failed || len(p.Attempts) != 1 || p.Dir != "main/c" || p.Hash != "h-c" {
		t.Errorf("state c = %+v", p)
	}
	if fl, ok := st.Failures("x86_64", "c"); !ok || fl.Attempts != 1 || fl.Version != "1.0-r0" {
		t.Errorf("failure memory of c = %+v, %v", fl, ok)
	}
	if res.Failed() != 3 {
		t.Errorf("Failed() = %d; want 3", res.Failed())
	}

	// A second run numbers its attempts after those on disk.
	res2, err := Run(context.Background(), []Job{jobs[2]}, opts, fe, nil)
	if err != nil {
		t.Fatal(err)
	}
	if got := res2.Outcomes[0].Attempt.Log; got != "logs/x86_64/c/1.0-r0-2.log.gz" {
		t.Errorf("second attempt log = %q; want -2", got)
	}
}

func TestLocalRepositoryOfferedToDependents(t *testing.T) {
	fe := newFakeExec(t)
	fe.behavior["mid"] = buildsOK(t, "mid")
	// What the sessions hold when their build command runs.
	var mu sync.Mutex
	seen := map[string][]string{}
	index := map[string][]byte{}
	local := filepath.Join(guestLocal, "x86_64")
	snapshot := func(next fakeBehavior) fakeBehavior {
		return func(ctx context.Context, s sess, req executor.ExecRequest) (int, error) {
			if isBuild(req) {
				mu.Lock()
				name := env(req, "PKGNAME")
				seen[name] = filesUnder(filepath.Join(s.root, local))
				slices.Sort(seen[name])
				index[name], _ = os.ReadFile(filepath.Join(s.root, local, "APKINDEX.tar.gz"))
				if _, err := os.Stat(filepath.Join(s.root, "home/build/aports/main", name, "APKBUILD")); err != nil {
					seen[name+"/aport"] = []string{err.Error()}
				}
				mu.Unlock()
			}
			return next(ctx, s, req)
		}
	}
	fe.behavior["lib"] = snapshot(buildsOK(t, "lib", "lib-dev"))
	fe.behavior["app"] = snapshot(buildsOK(t, "app"))
	lib := job(t, "lib", 0, 2)
	lib.Packages = []string{"lib", "lib-dev"}
	mid := job(t, "mid", 1, 1, "lib")
	mid.BuildDeps = []string{"lib-dev"}
	app := job(t, "app", 2, 0, "mid")
	app.BuildDeps = []string{"mid", "lib-dev"}
	opts := testOptions(t)
	res, err := Run(context.Background(), []Job{app, mid, lib}, opts, fe, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Outcomes {
		if o.Status != state.Built {
			t.Fatalf("%s: %s %s", o.Job.Pkgname, o.Status, o.Reason)
		}
	}
	if want := []string{"APKINDEX.tar.gz", "lib-1.0-r0.apk", "lib-dev-1.0-r0.apk", "mid-1.0-r0.apk"}; !slices.Equal(seen["app"], want) {
		t.Errorf("local repository of app = %v; want %v (transitive dependencies)", seen["app"], want)
	}
	idx, err := apk.ReadIndexArchive(index["app"], "APKINDEX.tar.gz")
	if err != nil || len(idx.Packages) != 3 {
		t.Fatalf("local index: %v, %+v", err, idx)
	}
	if len(seen["lib"]) != 0 {
		t.Errorf("lib, with no dependencies, got a local repository: %v", seen["lib"])
	}
	if e := seen["app/aport"]; e != nil {
		t.Errorf("aport not copied in where abuild finds its repo name: %v", e)
	}
	var install executor.ExecRequest
	for _, e := range fe.Execs() {
		if strings.Contains(e.SessionID, "-app-") {
			install = e.Req
			break
		}
	}
	if !slices.Equal(install.Argv, []string{"apk", "add", "--no-progress", "--allow-untrusted", "--repository", guestLocal, "mid", "lib-dev"}) || !install.Network {
		t.Errorf("install = %q network=%v", install.Argv, install.Network)
	}
}

func TestFailureClasses(t *testing.T) {
	for _, tc := range []struct {
		name      string
		arch      string
		behavior  fakeBehavior
		startErr  error
		timeout   time.Duration
		idle      time.Duration
		wantClass string
		wantExit  int
		wantLog   string
	}{
		{name: "exit code", behavior: failsWith(1), wantClass: state.ClassBuildError, wantExit: 1},
		{name: "wall timeout", behavior: hangs(10 * time.Millisecond), timeout: 200 * time.Millisecond,
			wantClass: state.ClassTimeout, wantExit: -1, wantLog: "killed after the 200ms limit"},
		{name: "idle timeout", behavior: hangs(0), idle: 150 * time.Millisecond,
			wantClass: state.ClassIdleTimeout, wantExit: -1, wantLog: "no output for 150ms: killing the build"},
		{name: "start fails", startErr: errors.New("runc: no space left"), wantClass: state.ClassInfra, wantExit: -1, wantLog: "runc: no space left"},
		{name: "exec fails", behavior: func(ctx context.Context, s sess, req executor.ExecRequest) (int, error) {
			return -1, errors.New("runc exec: broken pipe")
		}, wantClass: state.ClassInfra, wantExit: -1},
		{name: "native segfault", behavior: failsWith(139, "Segmentation fault"), wantClass: state.ClassBuildError, wantExit: 139},
		{name: "foreign segfault", arch: "aarch64", behavior: failsWith(139), wantClass: state.ClassQemuCrash, wantExit: 139},
		{name: "foreign sigill", arch: "aarch64", behavior: failsWith(132), wantClass: state.ClassQemuCrash, wantExit: 132},
		{name: "foreign qemu message", arch: "aarch64", behavior: failsWith(1, "qemu: uncaught target signal 6 (Aborted) - core dumped"),
			wantClass: state.ClassQemuCrash, wantExit: 1},
		{name: "foreign plain failure", arch: "aarch64", behavior: failsWith(1, "error: nope"), wantClass: state.ClassBuildError, wantExit: 1},
		{name: "missing package", behavior: buildsOK(t, "other"), wantClass: state.ClassBuildError, wantExit: 0,
			wantLog: `output check: expected package "p" is missing from $REPODEST`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fe := newFakeExec(t)
			j := job(t, "p", 0, 0)
			if tc.arch != "" {
				j.Arch = tc.arch
			}
			fe.behavior["p"] = tc.behavior
			if tc.startErr != nil {
				fe.startErr[j.Arch+"-p"] = tc.startErr
			}
			opts := testOptions(t)
			opts.Timeout, opts.IdleTimeout = tc.timeout, tc.idle
			res, err := Run(context.Background(), []Job{j}, opts, fe, nil)
			if err != nil {
				t.Fatal(err)
			}
			o := res.Outcomes[0]
			if o.Status != state.Failed || o.Attempt.Class != tc.wantClass || o.Attempt.ExitCode != tc.wantExit {
				t.Errorf("outcome %s (%s), attempt %+v; want failed, class %s, exit %d", o.Status, o.Reason, o.Attempt, tc.wantClass, tc.wantExit)
			}
			if tc.wantLog != "" {
				if l := readLog(t, opts.StateDir, o.Attempt); !strings.Contains(l, tc.wantLog) {
					t.Errorf("log lacks %q:\n%s", tc.wantLog, l)
				}
			}
			if n := fe.openSessions(); n != 0 {
				t.Errorf("%d sessions left open", n)
			}
		})
	}
}

func TestOutputCheck(t *testing.T) {
	mk := func(name, version, arch string) []byte { return makeAPK(t, name, version, arch) }
	for _, tc := range []struct {
		name         string
		files        map[string][]byte
		wantProblem  string
		wantAccepted int
		wantIgnored  []string
	}{
		{name: "all there", files: map[string][]byte{"p-1.0-r0.apk": mk("p", "1.0-r0", "x86_64"), "p-doc-1.0-r0.apk": mk("p-doc", "1.0-r0", "noarch")},
			wantAccepted: 2},
		{name: "subpackage missing", files: map[string][]byte{"p-1.0-r0.apk": mk("p", "1.0-r0", "x86_64")},
			wantProblem: `expected package "p-doc" is missing`},
		{name: "wrong version", files: map[string][]byte{"p-1.0-r0.apk": mk("p", "1.1-r0", "x86_64"), "p-doc-1.0-r0.apk": mk("p-doc", "1.0-r0", "noarch")},
			wantProblem: `has version "1.1-r0"`},
		{name: "wrong arch", files: map[string][]byte{"p-1.0-r0.apk": mk("p", "1.0-r0", "aarch64"), "p-doc-1.0-r0.apk": mk("p-doc", "1.0-r0", "noarch")},
			wantProblem: `has arch "aarch64"`},
		{name: "not an apk", files: map[string][]byte{"p-1.0-r0.apk": []byte("garbage"), "p-doc-1.0-r0.apk": mk("p-doc", "1.0-r0", "noarch")},
			wantProblem: "p-1.0-r0.apk: not a valid apk"},
		{name: "unexpected ignored", files: map[string][]byte{"p-1.0-r0.apk": mk("p", "1.0-r0", "x86_64"), "p-doc-1.0-r0.apk": mk("p-doc", "1.0-r0", "noarch"),
			"p-dbg-1.0-r0.apk": mk("p-dbg", "1.0-r0", "x86_64"), "APKINDEX.tar.gz": []byte("x")},
			wantAccepted: 2, wantIgnored: []string{"p-dbg-1.0-r0.apk"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			tw := tar.NewWriter(&buf)
			for n, b := range tc.files {
				tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "main/x86_64/" + n, Mode: 0o644, Size: int64(len(b))})
				tw.Write(b)
			}
			tw.Close()
			j := &Job{Arch: "x86_64", Version: "1.0-r0", Packages: []string{"p", "p-doc"}}
			staging := t.TempDir()
			acc, ign, problems, err := checkOutputs(j, &buf, staging)
			if err != nil {
				t.Fatal(err)
			}
			if ents, _ := os.ReadDir(staging); len(ents) != len(acc) {
				t.Errorf("%d files in staging for %d accepted packages: the others must be gone", len(ents), len(acc))
			}
			discard(acc)
			if ents, _ := os.ReadDir(staging); len(ents) != 0 {
				t.Errorf("%d files left in staging after discard", len(ents))
			}
			if tc.wantProblem == "" && len(problems) > 0 || tc.wantProblem != "" && !strings.Contains(strings.Join(problems, "\n"), tc.wantProblem) {
				t.Errorf("problems %q; want %q", problems, tc.wantProblem)
			}
			if tc.wantProblem == "" && len(acc) != tc.wantAccepted {
				t.Errorf("accepted %d; want %d", len(acc), tc.wantAccepted)
			}
			if !slices.Equal(ign, tc.wantIgnored) {
				t.Errorf("ignored %v; want %v", ign, tc.wantIgnored)
			}
		})
	}
}

func TestCancelLeavesNothingRunning(t *testing.T) {
	fe := newFakeExec(t)
	fe.behavior["slow"] = hangs(10 * time.Millisecond)
	fe.behavior["later"] = buildsOK(t, "later")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	opts := testOptions(t)
	res, err := Run(ctx, []Job{job(t, "slow", 0, 5), job(t, "later", 1, 0)}, opts, fe, nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run error = %v; want context.Canceled", err)
	}
	slow, later := outcomeOf(t, res, "slow"), outcomeOf(t, res, "later")
	if slow.Status != state.Pending || slow.Attempt == nil || slow.Attempt.Class != state.ClassInfra || !strings.HasPrefix(slow.Reason, "interrupted") {
		t.Errorf("slow = %s %q %+v; want pending, interrupted, infra attempt", slow.Status, slow.Reason, slow.Attempt)
	}
	if later.Status != state.Pending || later.Attempt != nil {
		t.Errorf("later = %s %+v; want pending, not started", later.Status, later.Attempt)
	}
	if n := fe.openSessions(); n != 0 {
		t.Errorf("%d sessions left open", n)
	}
	if l := readLog(t, opts.StateDir, slow.Attempt); !strings.Contains(l, "still working") || !strings.Contains(l, "apkfarm: interrupted") {
		t.Errorf("slow log:\n%s", l)
	}
}

func TestUnusableArchStaysPending(t *testing.T) {
	fe := newFakeExec(t, fake.WithCheckError("aarch64", errors.New("qemu-aarch64 binfmt handler missing")))
	fe.behavior["p"] = buildsOK(t, "p")
	a := job(t, "p", 0, 0)
	b := job(t, "p", 0, 0)
	b.Arch = "aarch64"
	res, err := Run(context.Background(), []Job{a, b}, testOptions(t), fe, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.Outcomes[0].Status != state.Built || res.Outcomes[1].Status != state.Pending || res.Unusable["aarch64"] == nil {
		t.Errorf("outcomes %s / %s (%s), unusable %v", res.Outcomes[0].Status, res.Outcomes[1].Status, res.Outcomes[1].Reason, res.Unusable)
	}
}

func TestBadInputNamesTheJob(t *testing.T) {
	good := job(t, "a", 0, 0)
	sameBatch := job(t, "b", 0, 0, "a")
	noDir := job(t, "c", 1, 0)
	noDir.Dir = "/nonexistent/c"
	dup := good
	evil := job(t, "evil", 0, 0)
	evil.Pkgname = "../../etc"
	_, err := Run(context.Background(), []Job{good, sameBatch, noDir, dup, evil}, testOptions(t), newFakeExec(t), nil)
	if err == nil {
		t.Fatal("Run accepted bad jobs")
	}
	for _, want := range []string{"b (batch 0): depends on a in batch 0", `aport directory "/nonexistent/c"`, "(x86_64 a): listed twice",
		`must be plain names (no "/", not "." or ".."): "x86_64" "../../etc"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	opts := testOptions(t)
	opts.Image = ""
	if _, err := Run(context.Background(), []Job{good}, opts, newFakeExec(t), nil); err == nil || !strings.Contains(err.Error(), "no build image") {
		t.Errorf("missing image: %v", err)
	}
}

func TestParallelSlots(t *testing.T) {
	fe := newFakeExec(t)
	var jobs []Job
	var wg sync.WaitGroup
	wg.Add(4)
	all := make(chan struct{})
	go func() { wg.Wait(); close(all) }()
	for _, n := range []string{"a", "b", "c", "d"} {
		fe.behavior[n] = func(ctx context.Context, s sess, req executor.ExecRequest) (int, error) {
			if isBuild(req) {
				// Every build waits for the four to be building at once.
				wg.Done()
				select {
				case <-all:
				case <-time.After(10 * time.Second):
					return 1, nil
				}
			}
			return buildsOK(t, env(req, "PKGNAME"))(ctx, s, req)
		}
		jobs = append(jobs, job(t, n, 0, 0))
	}
	opts := testOptions(t)
	opts.Jobs = 4
	res, err := Run(context.Background(), jobs, opts, fe, nil)
	if err != nil || res.Failed() != 0 {
		t.Fatalf("%v, %d failed: four builds in four slots did not run side by side", err, res.Failed())
	}
}

func TestStateDirTroubleStopsTheRun(t *testing.T) {
	fe := newFakeExec(t)
	fe.behavior["a"] = buildsOK(t, "a")
	opts := testOptions(t)
	opts.StateDir = filepath.Join(t.TempDir(), "a-file")
	if err := os.WriteFile(opts.StateDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), []Job{job(t, "a", 0, 0), job(t, "b", 1, 0)}, opts, fe, nil)
	if err == nil || !strings.Contains(err.Error(), "create log for x86_64 a") {
		t.Fatalf("Run error = %v; want the log directory trouble", err)
	}
	for _, o := range res.Outcomes {
		if o.Status != state.Pending {
			t.Errorf("%s: %s; want pending", o.Job.Pkgname, o.Status)
		}
	}
	if started := fe.startedPkgs(); len(started) != 0 {
		t.Errorf("sessions started: %v", started)
	}
}

func TestSpecFromJobAndOptions(t *testing.T) {
	fe := newFakeExec(t)
	fe.behavior["a"] = buildsOK(t, "a")
	opts := testOptions(t)
	opts.MemoryBytes, opts.Pids = 1<<30, 512
	opts.Images = map[string]string{"x86_64": "registry.example.org/build:x86_64"}
	opts.Prepare = executor.Prepare{Packages: []string{"abuild", "ccache"}, Repositories: []string{"/srv/repo"}, KeysDir: "/srv/keys"}
	caches := t.TempDir()
	opts.SourcesDir, opts.CcacheDir, opts.CcacheSize = filepath.Join(caches, "sources"), filepath.Join(caches, "ccache"), 1<<30
	if _, err := Run(context.Background(), []Job{job(t, "a", 0, 0)}, opts, fe, nil); err != nil {
		t.Fatal(err)
	}
	specs := fe.Specs()
	if len(specs) != 1 {
		t.Fatalf("specs %+v", specs)
	}
	want := executor.Spec{ID: "x86_64-a-1.0-r0-1", Arch: "x86_64", Image: "registry.example.org/build:x86_64", Hostname: "build",
		Limits: executor.Limits{MemoryBytes: 1 << 30, Pids: 512}, Prepare: opts.Prepare,
		Mounts: []executor.Mount{{Source: opts.SourcesDir, Target: "/home/build/sources", Writable: true},
			{Source: filepath.Join(opts.CcacheDir, "x86_64"), Target: "/home/build/.ccache", Writable: true}}}
	if !reflect.DeepEqual(specs[0], want) {
		t.Errorf("spec %+v; want %+v", specs[0], want)
	}
	for _, d := range want.Mounts {
		if fi, err := os.Stat(d.Source); err != nil || !fi.IsDir() {
			t.Errorf("cache directory %s not made: %v", d.Source, err)
		}
	}
	for _, e := range fe.Execs() {
		if got := strings.Join(e.Req.Env, " "); !strings.Contains(got, "USE_CCACHE=1 CCACHE_DIR=/home/build/.ccache CCACHE_MAXSIZE=1048576Ki") {
			t.Errorf("%q: env %s lacks the ccache variables", e.Req.Argv, got)
		}
	}
}
