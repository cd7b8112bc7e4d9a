package main

// The end-to-end proof of `run --no-publish` with real parts: the fixture
// tree in testdata/run/tree is planned and built in runc containers of the
// Alpine minirootfs plus the stand-in abuild, pulled from an in-memory
// registry on 127.0.0.1; hello's build needs libgreet-dev, which the
// image's real apk installs from the packages built earlier in the run.
// Needs root and runc: outside CI it skips saying so, under CI (CI=true)
// it fails.

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
	"github.com/apkfarm/apkfarm/internal/standin"
	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/config"
	"github.com/apkfarm/apkfarm/runner/image/imagetest"
	"github.com/apkfarm/apkfarm/runner/published/publishedtest"
	"github.com/apkfarm/apkfarm/state"
)

// standInImage pushes the arch's minirootfs plus the stand-in abuild layer
// to a registry and returns its reference.
func standInImage(t *testing.T, arch string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "abuild")
	if err := standin.Binary(context.Background(), arch, bin); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	img, err := standin.Image(imagetest.AlpineImage(t, arch), b)
	if err != nil {
		t.Fatal(err)
	}
	return imagetest.NewRegistry(t).Push(t, img, "apkfarm/build:"+arch)
}

// copyTree copies the fixture tree to dir, so that a test can break it.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	err := filepath.WalkDir(src, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(dst, rel), 0o755)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
}

// realRun is a runner's world for the fixture tree: a copy of the tree, a
// configuration for arches with stand-in images, an empty repository.
type realRun struct {
	tree, stateDir, config string
}

func newRealRun(t *testing.T, fixture string, arches ...string) *realRun {
	t.Helper()
	alpinetest.RequireRoot(t)
	alpinetest.RequireCommand(t, "runc", "apt-get install runc")
	for _, a := range arches {
		alpinetest.RequireBinfmt(t, a)
		if _, ok := standin.GoArch[a]; !ok {
			t.Skipf("no stand-in abuild for %s", a)
		}
	}
	// The failure memory is judged against the real clock here.
	old := now
	now = time.Now
	t.Cleanup(func() { now = old })

	dir := t.TempDir()
	r := &realRun{tree: filepath.Join(dir, "tree"), stateDir: filepath.Join(dir, "state"), config: filepath.Join(dir, "apkfarm.toml")}
	copyTree(t, filepath.Join("..", "..", "testdata", fixture, "tree"), r.tree)
	_, keys := publishedtest.Signer(t)
	var quoted, images []string
	for _, a := range arches {
		quoted = append(quoted, fmt.Sprintf("%q", a))
		images = append(images, fmt.Sprintf("%s = %q", a, standInImage(t, a)))
	}
	cfg := fmt.Sprintf(`arches = [%s]
jobs = 2
[source]
path = %q
[publish]
dir = %q
keys = %q
[state]
dir = %q
[plan]
retry_delays = ["1h"]
[build]
images = { %s }
work_dir = %q
timeout = "5m"
`, strings.Join(quoted, ", "), r.tree, filepath.Join(dir, "repo"), keys, r.stateDir, strings.Join(images, ", "), filepath.Join(dir, "work"))
	if err := os.WriteFile(r.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return r
}

// run runs `run --no-publish` in-process, wants its exit code, and returns
// its stdout and the state it wrote.
func (r *realRun) run(t *testing.T, want int) (string, *state.Status) {
	t.Helper()
	return r.runArgs(t, want, "--no-publish")
}

// runArgs runs `run` with args in-process, wants its exit code (any when
// negative), and returns its stdout and the state it wrote.
func (r *realRun) runArgs(t *testing.T, want int, args ...string) (string, *state.Status) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := runMain(context.Background(), append([]string{"--config", r.config}, args...), &stdout, &stderr)
	t.Logf("stdout:\n%s\nstderr:\n%s", stdout.String(), stderr.String())
	if code != want && want >= 0 {
		t.Fatalf("exit %d, want %d", code, want)
	}
	b, err := os.ReadFile(filepath.Join(r.stateDir, state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	st, err := state.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return stdout.String(), st
}

// staged returns name → "version arch" of the packages staged for arch,
// each read and checked by apk.ReadPackageFile.
func (r *realRun) staged(t *testing.T, arch string) map[string]string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(r.stateDir, "staging", arch, "*.apk"))
	out := map[string]string{}
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pf, err := apk.ReadPackageFile(b, f)
		if err != nil {
			t.Errorf("staged package: %v", err)
			continue
		}
		out[pf.Info.Name] = pf.Info.Version + " " + pf.Info.Arch
	}
	return out
}

// stagedFile returns the content of name inside a package staged for arch.
func (r *realRun) stagedFile(t *testing.T, arch, file, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(r.stateDir, "staging", arch, file))
	if err != nil {
		t.Fatal(err)
	}
	pf, err := apk.ReadPackageFile(b, file)
	if err != nil {
		t.Fatal(err)
	}
	data, err := pf.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func aportStatus(t *testing.T, st *state.Status, arch, name string) *state.Aport {
	t.Helper()
	a := st.Aport(arch, name)
	if a == nil {
		t.Fatalf("status.json has no %s %s", arch, name)
	}
	return a
}

func TestRealRunNoPublish(t *testing.T) {
	arch := config.HostArch()
	r := newRealRun(t, "run", arch)
	stateDir := r.stateDir
	run := func(want int) (string, *state.Status) { t.Helper(); return r.run(t, want) }
	status := func(st *state.Status, name string) *state.Aport { t.Helper(); return aportStatus(t, st, arch, name) }

	// 1. Everything is new: libgreet first, then hello against it; greet-doc
	// beside them.
	out, st := run(exitOK)
	want := map[string]string{"libgreet": "1.0-r0 " + arch, "libgreet-dev": "1.0-r0 " + arch, "hello": "2.0-r1 " + arch, "greet-doc": "3-r0 noarch"}
	if got := r.staged(t, arch); !maps.Equal(got, want) {
		t.Errorf("staged %v, want %v", got, want)
	}
	for _, name := range []string{"libgreet", "hello", "greet-doc"} {
		a := status(st, name)
		if a.Status != state.Built || len(a.Attempts) != 1 || a.Attempts[0].Failed() || a.Dir != "main/"+name {
			t.Errorf("%s: %+v, want built with one good attempt", name, a)
			continue
		}
		if _, err := os.Stat(filepath.Join(stateDir, a.Attempts[0].Log)); err != nil {
			t.Errorf("%s: log: %v", name, err)
		}
	}
	if arch != "aarch64" {
		if a := status(st, "armonly"); a.Status != state.Excluded {
			t.Errorf("armonly: %+v, want excluded", a)
		}
	}
	if !strings.Contains(out, "built 3, failed 0, blocked 0") {
		t.Errorf("summary lacks the counts:\n%s", out)
	}

	// 2. libgreet breaks: it fails, hello is blocked by it, greet-doc is
	// built again (nothing is published, so everything is still new).
	apkbuild := filepath.Join(r.tree, "main", "libgreet", "APKBUILD")
	b, err := os.ReadFile(apkbuild)
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(b), "build() {\n", "build() {\n\techo \"error: broken on purpose\"\n\tfalse\n", 1)
	if err := os.WriteFile(apkbuild, []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	out, st = run(exitFailed)
	lib := status(st, "libgreet")
	if lib.Status != state.Failed || len(lib.Attempts) != 2 || lib.Attempts[1].Class != state.ClassBuildError {
		t.Errorf("libgreet: %+v, want failed, its second attempt a build-error", lib)
	} else if !slices.Contains(lib.Attempts[1].ErrorLines, "error: broken on purpose") &&
		!strings.Contains(strings.Join(lib.Attempts[1].ErrorLines, "\n"), "broken on purpose") {
		t.Errorf("libgreet's error lines %q lack the build's error", lib.Attempts[1].ErrorLines)
	}
	if h := status(st, "hello"); h.Status != state.Blocked || h.BlockedBy != "libgreet" || len(h.Attempts) != 1 {
		t.Errorf("hello: %+v, want blocked by libgreet, not tried again", h)
	}
	if d := status(st, "greet-doc"); d.Status != state.Built || len(d.Attempts) != 2 {
		t.Errorf("greet-doc: %+v, want built a second time", d)
	}
	if got := r.staged(t, arch); !maps.Equal(got, map[string]string{"greet-doc": "3-r0 noarch"}) {
		t.Errorf("staged after the second run: %v, want only greet-doc's package (staging is the last run's)", got)
	}
	if !strings.Contains(out, "failed  "+arch+" libgreet 1.0-r0") || !strings.Contains(out, "(log: logs/"+arch+"/libgreet/") {
		t.Errorf("summary does not name the failure and its log:\n%s", out)
	}

	// 3. Within the retry delay the plan holds libgreet and blocks hello;
	// only greet-doc is built. Still exit 1: something stays failed.
	out, st = run(exitFailed)
	if lib := status(st, "libgreet"); lib.Status != state.Failed || len(lib.Attempts) != 2 {
		t.Errorf("libgreet: %+v, want still failed, not tried again", lib)
	}
	if h := status(st, "hello"); h.Status != state.Blocked || len(h.Attempts) != 1 {
		t.Errorf("hello: %+v, want blocked, not tried", h)
	}
	if d := status(st, "greet-doc"); d.Status != state.Built || len(d.Attempts) != 3 {
		t.Errorf("greet-doc: %+v, want built a third time", d)
	}
	if !strings.Contains(out, "built 1, failed 0, blocked 0") || !strings.Contains(out, "2 blocked by the plan") {
		t.Errorf("summary:\n%s", out)
	}
}

// TestRunFlagConflicts: flags that contradict each other are refused
// before anything is done.
func TestRunFlagConflicts(t *testing.T) {
	f := newFixture(t, "")
	before, err := os.ReadFile(filepath.Join(f.stateDir, state.FileName))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--json"}, "--json prints the plan: use it with --dry-run"},
		{[]string{"--dry-run", "--no-publish"}, "give one of them"},
	} {
		code, stdout, stderr := f.run(t, tt.args...)
		if code != exitTrouble || stdout != "" || !strings.Contains(stderr, tt.want) {
			t.Errorf("run %q: exit %d, stdout %q, stderr %q; want exit 2 and %q", tt.args, code, stdout, stderr, tt.want)
		}
	}
	after, err := os.ReadFile(filepath.Join(f.stateDir, state.FileName))
	if err != nil || !bytes.Equal(before, after) {
		t.Errorf("state changed (%v)", err)
	}
	if _, err := os.Stat(filepath.Join(f.stateDir, "staging")); err == nil {
		t.Error("a refused run staged something")
	}
}

// TestRunNoImage: a build run without build.image stops before planning,
// naming the key.
func TestRunNoImage(t *testing.T) {
	f := newFixture(t, "")
	code, stdout, stderr := f.run(t, "--no-publish")
	if code != exitTrouble || stdout != "" || !strings.Contains(stderr, "build.image: not set") {
		t.Errorf("exit %d, stdout %q, stderr %q; want exit 2 naming build.image", code, stdout, stderr)
	}
}

// TestRealRunTwoArches: x86_64 natively and aarch64 under qemu side by
// side; the noarch greet-doc is built once, on x86_64, and staged for
// aarch64 too; armonly builds only on aarch64.
func TestRealRunTwoArches(t *testing.T) {
	r := newRealRun(t, "run", "x86_64", "aarch64")
	out, st := r.run(t, exitOK)
	for _, arch := range []string{"x86_64", "aarch64"} {
		want := map[string]string{"libgreet": "1.0-r0 " + arch, "libgreet-dev": "1.0-r0 " + arch, "hello": "2.0-r1 " + arch, "greet-doc": "3-r0 noarch"}
		if arch == "aarch64" {
			want["armonly"] = "1-r0 aarch64"
		}
		if got := r.staged(t, arch); !maps.Equal(got, want) {
			t.Errorf("%s: staged %v, want %v", arch, got, want)
		}
		for _, name := range []string{"libgreet", "hello", "greet-doc"} {
			if a := aportStatus(t, st, arch, name); a.Status != state.Built {
				t.Errorf("%s %s: %+v, want built", arch, name, a)
			}
		}
	}
	if a := aportStatus(t, st, "aarch64", "greet-doc"); len(a.Attempts) != 0 || a.Reason != "noarch: built on x86_64" {
		t.Errorf("aarch64 greet-doc: %+v, want the copy of the x86_64 build", a)
	}
	if a := aportStatus(t, st, "x86_64", "armonly"); a.Status != state.Excluded {
		t.Errorf("x86_64 armonly: %+v, want excluded", a)
	}
	if !strings.Contains(out, "built 6, failed 0, blocked 0") || !strings.Contains(out, "1 noarch copied") {
		t.Errorf("summary:\n%s", out)
	}
}

// TestRealRunCrossArchNoarch: the noarch greet-data is built on x86_64 and
// greet-reader (aarch64 only) needs it to build, in one run: the aarch64
// build waits for the x86_64 one, and the real apk in its container
// installs greet-data from its local repository.
func TestRealRunCrossArchNoarch(t *testing.T) {
	r := newRealRun(t, "crossarch", "x86_64", "aarch64")
	out, st := r.run(t, exitOK)
	if got, want := r.staged(t, "x86_64"), map[string]string{"greet-data": "1-r0 noarch"}; !maps.Equal(got, want) {
		t.Errorf("x86_64: staged %v, want %v", got, want)
	}
	want := map[string]string{"greet-data": "1-r0 noarch", "greet-reader": "1-r0 aarch64"}
	if got := r.staged(t, "aarch64"); !maps.Equal(got, want) {
		t.Errorf("aarch64: staged %v, want %v", got, want)
	}
	if a := aportStatus(t, st, "aarch64", "greet-reader"); a.Status != state.Built || len(a.Attempts) != 1 {
		t.Errorf("aarch64 greet-reader: %+v, want built in one attempt", a)
	}
	if !strings.Contains(out, "built 2, failed 0, blocked 0, pending 0;") || !strings.Contains(out, "1 noarch copied") {
		t.Errorf("summary:\n%s", out)
	}
	if data := r.stagedFile(t, "aarch64", "greet-reader-1-r0.apk", "usr/share/greet-reader/greeting.txt"); !bytes.Contains(data, []byte("hello from greet-data\nread on aarch64\n")) {
		t.Error("greet-reader's package lacks the line it read from greet-data")
	}
}

// TestRealDemoTree: the tree of `make demo` builds as the demo says: the
// chain libgreet → hello → greet-tools, hello's script carrying the
// greeting from libgreet-dev's header (installed in its container), the
// options="net" aport; broken fails on purpose and needs-broken waits for
// it.
func TestRealDemoTree(t *testing.T) {
	arch := config.HostArch()
	r := newRealRun(t, "demo", arch)
	_, st := r.run(t, exitFailed)
	want := map[string]string{"libgreet": "1.2-r0 " + arch, "libgreet-dev": "1.2-r0 " + arch, "hello": "2.0-r1 " + arch,
		"hello-doc": "2.0-r1 " + arch, "greet-doc": "3-r0 noarch", "greet-tools": "0.3-r0 " + arch, "netcheck": "1-r0 " + arch}
	if got := r.staged(t, arch); !maps.Equal(got, want) {
		t.Errorf("staged %v, want %v", got, want)
	}
	if data := r.stagedFile(t, arch, "hello-2.0-r1.apk", "usr/bin/hello"); !bytes.Contains(data, []byte(`echo "Hello from an apkfarm build!"`)) {
		t.Error("hello's package lacks the greeting from libgreet-dev")
	}
	if a := aportStatus(t, st, arch, "broken"); a.Status != state.Failed || !strings.Contains(strings.Join(a.Attempts[0].ErrorLines, "\n"), "error: expected ';'") {
		t.Errorf("broken: %+v, want failed with its error line", a)
	}
	if a := aportStatus(t, st, arch, "needs-broken"); a.Status != state.Blocked || a.BlockedBy != "broken" {
		t.Errorf("needs-broken: %+v, want blocked by broken", a)
	}
}
