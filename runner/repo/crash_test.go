package repo

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/signer"
)

// crashJob is what a child process publishes, and where it kills itself.
type crashJob struct {
	Dir      string // the fixture's root: repo/, staging/, journal/
	Key      string
	Now      time.Time
	Requests []Request
	KillAt   int // 1-based step to SIGKILL at; 0 none (prints the steps)
}

func TestMain(m *testing.M) {
	if job := os.Getenv("APKFARM_REPO_CRASH_JOB"); job != "" {
		os.Exit(crashChild(job))
	}
	os.Exit(m.Run())
}

func crashChild(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 2
	}
	var job crashJob
	if err := json.Unmarshal(b, &job); err != nil {
		return 2
	}
	s, err := signer.LoadKeys([]string{job.Key}, "")
	if err != nil {
		return 2
	}
	r := Repository{Dir: filepath.Join(job.Dir, "repo"), Keys: keyringOf(s)}
	n := 0
	opts := Options{Signer: s, JournalDir: filepath.Join(job.Dir, "journal"), Now: func() time.Time { return job.Now },
		Jobs: 1, Step: func(step string) {
			n++
			fmt.Println(step)
			if n == job.KillAt {
				syscall.Kill(os.Getpid(), syscall.SIGKILL)
				time.Sleep(time.Hour)
			}
		}}
	res, err := r.Publish(context.Background(), job.Requests, opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	for _, a := range res.Arches {
		if a.Error != "" {
			fmt.Fprintln(os.Stderr, a.Error)
			return 1
		}
	}
	return 0
}

// TestCrashAtEveryStep: a publisher SIGKILLed before any step that changes
// the repository leaves an index that names only files that exist, with
// the right size and checksum, which the real apk reads and installs
// from; publishing again converges to exactly what an uninterrupted run
// publishes.
func TestCrashAtEveryStep(t *testing.T) {
	farm, _ := testKeys(t)
	base := newFixture(t)
	t0 := base.now
	// Published before: hello 1.0, then 1.05 (1.0 retired at t0), b and a doc.
	base.publish(Request{Arch: "x86_64", Packages: base.stage("x86_64", pkg(t, "hello", "1.0-r0", "x86_64", "hello", ""))})
	os.RemoveAll(base.staging.Dir)
	base.publish(Request{Arch: "x86_64", Packages: base.stage("x86_64", pkg(t, "hello", "1.05-r0", "x86_64", "hello", ""),
		pkg(t, "b", "1-r0", "x86_64", "b", ""), pkg(t, "hello-doc", "1-r0", "noarch", "hello", ""))})
	os.RemoveAll(base.staging.Dir)
	// The run that is killed: a new hello, a new package, b removed, a day
	// later (so hello 1.0 is deleted).
	staged := base.stage("x86_64", pkg(t, "hello", "1.1-r0", "x86_64", "hello", ""), pkg(t, "c", "1-r0", "x86_64", "c", ""),
		pkg(t, "hello-doc", "1.1-r0", "noarch", "hello", ""))
	root := filepath.Dir(base.repo.Dir)
	job := crashJob{Key: farm, Now: t0.Add(DefaultGrace + time.Hour)}
	rel := func(dir string) []Request {
		var out []Request
		for _, p := range staged {
			r, _ := filepath.Rel(root, p)
			out = append(out, Request{Arch: "x86_64", Packages: []string{filepath.Join(dir, r)}})
		}
		req := Request{Arch: "x86_64", Remove: []string{"b"}}
		for _, r := range out {
			req.Packages = append(req.Packages, r.Packages...)
		}
		return []Request{req}
	}
	runChild := func(dir string, killAt int) (string, bool) {
		t.Helper()
		j := job
		j.Dir, j.KillAt, j.Requests = dir, killAt, rel(dir)
		b, _ := json.Marshal(j)
		jp := filepath.Join(t.TempDir(), "job.json")
		os.WriteFile(jp, b, 0o644)
		exe, _ := os.Executable()
		cmd := exec.Command(exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), "APKFARM_REPO_CRASH_JOB="+jp)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		killed := false
		if ee, ok := err.(*exec.ExitError); ok {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
				killed = true
			} else {
				t.Fatalf("child failed: %v\n%s", err, errb.String())
			}
		} else if err != nil {
			t.Fatal(err)
		}
		return out.String(), killed
	}
	clone := func() string {
		t.Helper()
		dir := filepath.Join(t.TempDir(), "w")
		if out, err := exec.Command("cp", "-a", root, dir).CombinedOutput(); err != nil {
			t.Fatalf("cp: %v %s", err, out)
		}
		return dir
	}
	// The uninterrupted run: its steps and its result.
	refDir := clone()
	stepsOut, killed := runChild(refDir, 0)
	steps := strings.Fields(strings.ReplaceAll(stepsOut, " ", "_"))
	if killed || len(steps) < 6 {
		t.Fatalf("reference run: steps %q", steps)
	}
	for _, want := range []string{"package_x86_64/c-1-r0.apk", "journal_x86_64", "index_x86_64", "indexed_x86_64", "delete_x86_64/hello-1.0-r0.apk"} {
		if !slices.Contains(steps, want) {
			t.Fatalf("reference run has no step %q: %q", want, steps)
		}
	}
	ref := snapshot(t, refDir)
	for k := 1; k <= len(steps); k++ {
		t.Run(fmt.Sprintf("%d_%s", k, steps[k-1]), func(t *testing.T) {
			dir := clone()
			if _, killed := runChild(dir, k); !killed {
				t.Fatalf("child was not killed at step %d", k)
			}
			f := &fixture{t: t, repo: Repository{Dir: filepath.Join(dir, "repo"), Keys: base.repo.Keys}}
			f.checkConsistent("x86_64")
			c := f.client()
			c.mustRun("add", "hello", "hello-doc")
			// The next run converges.
			if _, killed := runChild(dir, 0); killed {
				t.Fatal("rerun killed")
			}
			if got := snapshot(t, dir); got != ref {
				t.Errorf("after a crash at %s and a rerun:\n%s\nwant (uninterrupted):\n%s", steps[k-1], got, ref)
			}
		})
	}
}

// snapshot describes a fixture's repository and journal: each file with
// its size and a digest of its bytes.
func snapshot(t *testing.T, dir string) string {
	t.Helper()
	var b strings.Builder
	for _, sub := range []string{"repo", "journal"} {
		filepath.WalkDir(filepath.Join(dir, sub), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() {
				return err
			}
			data, _ := os.ReadFile(p)
			r, _ := filepath.Rel(dir, p)
			fmt.Fprintf(&b, "%s %d %x\n", r, len(data), hashOf(data))
			return nil
		})
	}
	return b.String()
}
