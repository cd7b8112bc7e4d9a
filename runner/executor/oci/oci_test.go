package oci

import (
	"archive/tar"
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/runner/executor/executortest"
	"github.com/apkfarm/apkfarm/runner/image"
	"github.com/apkfarm/apkfarm/runner/image/imagetest"
)

// storeDir is one image store for the whole test binary, so the minirootfs
// is unpacked once.
var storeDir string

const helperEnv = "APKFARM_OCI_TEST_HELPER"

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(sweepHelper())
	}
	d, err := os.MkdirTemp("", "apkfarm-oci-test-store-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	storeDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

// testRuntimes are the OCI runtimes the tests run against; `make deps`
// installs both, so under CI a missing one fails its subtests.
var testRuntimes = []struct{ name, install string }{
	{"runc", "apt-get install runc"},
	{"crun", "apt-get install crun"},
}

// testRuntime is one runtime under test: its binary and a state root
// private to the test, so what a test finds there is its own.
type testRuntime struct{ name, path, root string }

// opts are the executor options that use rt.
func (rt testRuntime) opts() []Option {
	return []Option{WithRuntime(rt.path), WithRuntimeRoot(rt.root)}
}

// cmd runs rt (as the backend does) on its private root.
func (rt testRuntime) cmd(args ...string) *exec.Cmd {
	return newConfig(rt.opts()).runtimeCmd(context.Background(), args...)
}

// requireRuntime needs root, the runtime and arch's binfmt handler
// (skipped outside CI, failed under CI).
func requireRuntime(t testing.TB, name, install, arch string) testRuntime {
	t.Helper()
	alpinetest.RequireRoot(t)
	p := alpinetest.RequireCommand(t, name, install)
	alpinetest.RequireBinfmt(t, arch)
	return testRuntime{name: name, path: p, root: t.TempDir()}
}

// forEachRuntime runs f as a subtest per runtime in testRuntimes.
func forEachRuntime(t *testing.T, arch string, f func(t *testing.T, rt testRuntime)) {
	for _, r := range testRuntimes {
		t.Run(r.name, func(t *testing.T) { f(t, requireRuntime(t, r.name, r.install, arch)) })
	}
}

func testStore(t testing.TB) *image.Store {
	t.Helper()
	st, err := image.NewStore(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// newTestExecutor is an executor using rt, with a private work directory.
func newTestExecutor(t testing.TB, rt testRuntime, opts ...Option) *Executor {
	t.Helper()
	work := t.TempDir()
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	base := append([]Option{WithWorkDir(work), WithLogger(log)}, rt.opts()...)
	return New(testStore(t), append(base, opts...)...)
}

func TestConformance(t *testing.T) {
	forEachRuntime(t, "x86_64", func(t *testing.T, rt testRuntime) {
		executortest.Run(t, func(t *testing.T) executor.Executor { return newTestExecutor(t, rt) },
			executortest.Options{Arch: "x86_64", Image: imagetest.AlpineRef(t, "x86_64"), Isolated: true})
	})
}

func TestConformanceCopyRoot(t *testing.T) {
	forEachRuntime(t, "x86_64", func(t *testing.T, rt testRuntime) {
		executortest.Run(t, func(t *testing.T) executor.Executor { return newTestExecutor(t, rt, WithoutOverlay()) },
			executortest.Options{Arch: "x86_64", Image: imagetest.AlpineRef(t, "x86_64"), Isolated: true})
	})
}

// TestForeignArch runs an aarch64 image through qemu binfmt, pulled from a
// registry on 127.0.0.1.
func TestForeignArch(t *testing.T) {
	forEachRuntime(t, "aarch64", func(t *testing.T, rt testRuntime) {
		reg := imagetest.NewRegistry(t)
		ref := reg.Push(t, imagetest.AlpineImage(t, "aarch64"), "alpine:aarch64")
		executortest.Run(t, func(t *testing.T) executor.Executor { return newTestExecutor(t, rt) },
			executortest.Options{Arch: "aarch64", Image: ref, Isolated: true})
	})
}

func TestCheck(t *testing.T) {
	forEachRuntime(t, "x86_64", func(t *testing.T, rt testRuntime) { testCheck(t, rt) })
}

func testCheck(t *testing.T, rt testRuntime) {
	e := newTestExecutor(t, rt)
	ctx := context.Background()
	if err := e.Check(ctx, "x86_64"); err != nil {
		t.Errorf("Check(x86_64): %v", err)
	}
	if err := e.Check(ctx, "sparc"); err == nil || !strings.Contains(err.Error(), `unknown arch "sparc"`) {
		t.Errorf("Check(sparc) = %v", err)
	}
	// An arch without a handler fails at once, saying what to install.
	for _, arch := range []string{"riscv64", "s390x", "loongarch64"} {
		if _, err := os.Stat(binfmtDir + "/qemu-" + qemuNames[arch]); err == nil {
			continue
		}
		t0 := time.Now()
		_, err := e.Start(ctx, executor.Spec{ID: "x", Arch: arch, Image: "rootfs:/nonexistent"})
		if err == nil || !strings.Contains(err.Error(), "update-binfmts --enable qemu-"+qemuNames[arch]) {
			t.Errorf("Start(%s) = %v, want the binfmt remedy", arch, err)
		}
		if time.Since(t0) > time.Second {
			t.Errorf("Start(%s) took %v to fail", arch, time.Since(t0))
		}
	}
	// A missing runtime: the remedy installs the one named.
	for runtime, want := range map[string]string{"no-such-runtime": "apt-get install runc", "/nonexistent/crun": "apt-get install crun"} {
		e2 := newTestExecutor(t, rt, WithRuntime(runtime))
		if err := e2.Check(ctx, "x86_64"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Check with a missing runtime %s = %v, want %q", runtime, err, want)
		}
	}
	// Which runtime it is comes from its --version, whatever its path.
	if got := newConfig(rt.opts()).flavor; got != rt.name {
		t.Errorf("%s detected as %s", rt.path, got)
	}
}

// containers lists the runtime's containers named with prefix.
func containers(t testing.TB, rt testRuntime, prefix string) []string {
	t.Helper()
	out, err := rt.cmd("list", "--format", "json").Output()
	if err != nil {
		t.Fatalf("%s list: %v", rt.name, err)
	}
	var list []struct{ ID string }
	json.Unmarshal(out, &list)
	var ids []string
	for _, c := range list {
		if strings.HasPrefix(c.ID, prefix) {
			ids = append(ids, c.ID)
		}
	}
	return ids
}

func assertGone(t *testing.T, rt testRuntime, s *session) {
	t.Helper()
	if ids := containers(t, rt, Prefix+s.id); len(ids) > 0 {
		t.Errorf("containers left: %v", ids)
	}
	if isMountPoint(s.root) {
		t.Errorf("root %s still mounted", s.root)
	}
	if _, err := os.Stat(s.dir); !os.IsNotExist(err) {
		t.Errorf("session directory %s still there (%v)", s.dir, err)
	}
}

func TestCancelLeavesNothing(t *testing.T) {
	forEachRuntime(t, "x86_64", testCancelLeavesNothing)
}

func testCancelLeavesNothing(t *testing.T, rt testRuntime) {
	e := newTestExecutor(t, rt)
	ss, err := e.Start(context.Background(), executor.Spec{ID: "cancel", Arch: "x86_64", Image: imagetest.AlpineRef(t, "x86_64")})
	if err != nil {
		t.Fatal(err)
	}
	s := ss.(*session)
	t.Cleanup(func() { s.Close() }) // on a failed assertion too; Close is idempotent
	if !s.overlay || !isMountPoint(s.root) {
		t.Fatalf("session root is not an overlay mount (overlay=%v)", s.overlay)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n, done := executortest.StartSleep(t, ctx, s)
	if ids := containers(t, rt, Prefix+s.id); len(ids) != 1 {
		t.Errorf("while running, runc list shows %v, want one container", ids)
	}
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "context canceled") {
			t.Errorf("Exec after cancel = %v, want a context canceled error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Exec did not return after cancel")
	}
	executortest.AssertNoProcess(t, n)
	if ids := containers(t, rt, Prefix+s.id); len(ids) > 0 {
		t.Errorf("after cancel, runc list shows %v", ids)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	assertGone(t, rt, s)
}

func TestLowerStaysPristine(t *testing.T) {
	forEachRuntime(t, "x86_64", testLowerStaysPristine)
}

func testLowerStaysPristine(t *testing.T, rt testRuntime) {
	ref := imagetest.AlpineRef(t, "x86_64")
	lower, _, err := testStore(t).Rootfs(context.Background(), ref, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	for _, opts := range [][]Option{nil, {WithoutOverlay()}} {
		e := newTestExecutor(t, rt, opts...)
		s, err := e.Start(context.Background(), executor.Spec{ID: "pristine", Arch: "x86_64", Image: ref})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		var stderr bytes.Buffer
		code, err := s.Exec(context.Background(), executor.ExecRequest{
			Argv:   []string{"sh", "-c", "rm /etc/hosts && echo changed > /etc/motd && touch /newfile && apk --version >/dev/null"},
			Stderr: &stderr,
		})
		if err != nil || code != 0 {
			t.Fatalf("exec: %d %v %s", code, err, stderr.String())
		}
		s.Close()
		if _, err := os.Stat(filepath.Join(lower, "etc/hosts")); err != nil {
			t.Errorf("cached rootfs lost /etc/hosts: %v", err)
		}
		if b, _ := os.ReadFile(filepath.Join(lower, "etc/motd")); strings.Contains(string(b), "changed") {
			t.Errorf("cached rootfs /etc/motd was written")
		}
		if _, err := os.Stat(filepath.Join(lower, "newfile")); err == nil {
			t.Errorf("cached rootfs gained /newfile")
		}
	}
}

func TestLimits(t *testing.T) {
	forEachRuntime(t, "x86_64", testLimits)
}

func testLimits(t *testing.T, rt testRuntime) {
	if !DetectCgroups().Limits() {
		alpinetest.SkipOrFail(t, "host has no cgroup memory and pids controllers (%s)", DetectCgroups())
	}
	ref := imagetest.AlpineRef(t, "x86_64")
	e := newTestExecutor(t, rt)
	// 64 MiB in a shell variable: fine unlimited, killed under a 32 MiB limit.
	mem := "x=$(head -c 67108864 /dev/zero | tr '\\0' a); echo ${#x}"
	forks := "for i in $(seq 40); do sleep 2 & done; wait"
	for _, tc := range []struct {
		name   string
		limits executor.Limits
		script string
		fails  bool
	}{
		{"memory unlimited", executor.Limits{}, mem, false},
		{"memory 32MiB", executor.Limits{MemoryBytes: 32 << 20}, mem, true},
		{"pids unlimited", executor.Limits{}, forks, false},
		{"pids 16", executor.Limits{Pids: 16}, forks, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := e.Start(context.Background(), executor.Spec{ID: "limits", Arch: "x86_64", Image: ref, Limits: tc.limits})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var stderr bytes.Buffer
			code, err := s.Exec(context.Background(), executor.ExecRequest{Argv: []string{"sh", "-c", tc.script}, Stderr: &stderr})
			if err != nil {
				t.Fatal(err)
			}
			if (code != 0) != tc.fails {
				t.Errorf("exit %d (stderr %q), want failure=%v", code, stderr.String(), tc.fails)
			}
		})
	}
}

// sweepHelper is the runner that gets SIGKILLed: it starts a session
// (work directory, store, runtime and its root from the environment),
// prints the session's directory and runs `sleep N` until killed.
func sweepHelper() int {
	work, n := os.Getenv(helperEnv), os.Getenv("APKFARM_OCI_TEST_SLEEP")
	st, err := image.NewStore(os.Getenv("APKFARM_OCI_TEST_STORE"))
	if err != nil {
		fmt.Println("error", err)
		return 2
	}
	e := New(st, WithWorkDir(work), WithRuntime(os.Getenv("APKFARM_OCI_TEST_RUNTIME")), WithRuntimeRoot(os.Getenv("APKFARM_OCI_TEST_ROOT")))
	s, err := e.Start(context.Background(), executor.Spec{ID: "killed-runner", Arch: "x86_64", Image: os.Getenv("APKFARM_OCI_TEST_IMAGE")})
	if err != nil {
		fmt.Println("error", err)
		return 2
	}
	fmt.Println("ready", s.(*session).id)
	s.Exec(context.Background(), executor.ExecRequest{Argv: []string{"sleep", n}})
	return 0
}

func TestSweepAfterSIGKILL(t *testing.T) {
	forEachRuntime(t, "x86_64", testSweepAfterSIGKILL)
}

func testSweepAfterSIGKILL(t *testing.T, rt testRuntime) {
	ref := imagetest.AlpineRef(t, "x86_64")
	testStore(t).Rootfs(context.Background(), ref, "x86_64") // unpack before the helper runs
	work := t.TempDir()
	n := "3" + fmt.Sprint(time.Now().UnixNano()%100000)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+work, "APKFARM_OCI_TEST_SLEEP="+n,
		"APKFARM_OCI_TEST_STORE="+storeDir, "APKFARM_OCI_TEST_IMAGE="+ref,
		"APKFARM_OCI_TEST_RUNTIME="+rt.path, "APKFARM_OCI_TEST_ROOT="+rt.root)
	out, _ := cmd.StdoutPipe()
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	id, ok := strings.CutPrefix(strings.TrimSpace(line), "ready ")
	if !ok {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("helper: %q", line)
	}
	dir := filepath.Join(work, id)
	deadline := time.Now().Add(20 * time.Second)
	for len(containers(t, rt, Prefix+id)) == 0 || !sleeping(n) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatal("helper's container never ran")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	io.Copy(io.Discard, out)

	// What a dead runner leaves: the container, the mount, the directory.
	time.Sleep(200 * time.Millisecond)
	// (If this ever changes, Sweep's test below proves less: say so.)
	if !sleeping(n) || len(containers(t, rt, Prefix+id)) == 0 || !isMountPoint(filepath.Join(dir, "root")) {
		t.Errorf("after SIGKILL: sleeping=%v containers=%v mounted=%v, want all three left for Sweep",
			sleeping(n), containers(t, rt, Prefix+id), isMountPoint(filepath.Join(dir, "root")))
	}
	// A live session beside it must survive the sweep.
	e := newTestExecutor(t, rt, WithWorkDir(work))
	live, err := e.Start(context.Background(), executor.Spec{ID: "live", Arch: "x86_64", Image: ref})
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()

	// Another work directory's sweep does not touch it.
	if err := Sweep(context.Background(), append(rt.opts(), WithWorkDir(t.TempDir()))...); err != nil {
		t.Fatalf("Sweep elsewhere: %v", err)
	}
	if len(containers(t, rt, Prefix+id)) == 0 || !isMountPoint(filepath.Join(dir, "root")) {
		t.Errorf("a sweep of another work directory removed this one's leftovers")
	}
	if err := Sweep(context.Background(), append(rt.opts(), WithWorkDir(work))...); err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	executortest.AssertNoProcess(t, n)
	if ids := containers(t, rt, Prefix+id); len(ids) > 0 {
		t.Errorf("containers left after Sweep: %v", ids)
	}
	if isMountPoint(filepath.Join(dir, "root")) {
		t.Errorf("mount left after Sweep")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("session directory left after Sweep: %v", err)
	}
	if code, err := live.Exec(context.Background(), executor.ExecRequest{Argv: []string{"true"}}); err != nil || code != 0 {
		t.Errorf("live session broken by Sweep: %d %v", code, err)
	}
}

func sleeping(n string) bool {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err == nil && strings.Contains(string(b), "\x00"+n+"\x00") {
			return true
		}
	}
	return false
}

// TestNameResolution: the host's resolv.conf and hosts are bind-mounted
// read-only with Network only.
func TestNameResolution(t *testing.T) {
	forEachRuntime(t, "x86_64", testNameResolution)
}

func testNameResolution(t *testing.T, rt testRuntime) {
	host, err := os.ReadFile("/etc/resolv.conf")
	if err != nil {
		alpinetest.SkipOrFail(t, "host has no /etc/resolv.conf: %v", err)
	}
	e := newTestExecutor(t, rt)
	s, err := e.Start(context.Background(), executor.Spec{ID: "dns", Arch: "x86_64", Image: imagetest.AlpineRef(t, "x86_64")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cat := func(network bool) (string, int) {
		var out bytes.Buffer
		code, err := s.Exec(context.Background(), executor.ExecRequest{
			Argv: []string{"sh", "-c", "cat /etc/resolv.conf; echo x >> /etc/resolv.conf"}, Network: network, Stdout: &out, Stderr: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		return out.String(), code
	}
	if out, _ := cat(false); out != "" {
		t.Errorf("without Network the build sees a resolv.conf: %q", out)
	}
	out, code := cat(true)
	if out != string(host) {
		t.Errorf("with Network resolv.conf = %q, want the host's %q", out, host)
	}
	if code == 0 {
		t.Errorf("the host's resolv.conf was writable from the build")
	}
	if b, _ := os.ReadFile("/etc/resolv.conf"); !bytes.Equal(b, host) {
		t.Errorf("the host's resolv.conf changed")
	}
}

// TestSyscallFilter: a build cannot make a user namespace (the way to
// regain capabilities and reach kernel code meant for root) or touch the
// kernel keyring, while ordinary process creation still works.
func TestSyscallFilter(t *testing.T) {
	forEachRuntime(t, "x86_64", testSyscallFilter)
}

func testSyscallFilter(t *testing.T, rt testRuntime) {
	e := newTestExecutor(t, rt)
	s, err := e.Start(context.Background(), executor.Spec{ID: "seccomp", Arch: "x86_64", Image: imagetest.AlpineRef(t, "x86_64")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for script, wantOK := range map[string]bool{
		"unshare -U true":                 false,
		"unshare -U -r id":                false,
		"unshare -n true":                 false,
		"nsenter -t 1 -n true":            false,
		"sh -c 'sleep 0 & wait' && true":  true,
		"echo a | sort | uniq | wc -l":    true,
		"chown 1:1 /tmp && ls -ld /tmp":   true,
		"ln -s /x /tmp/l && rm /tmp/l":    true,
		"adduser -D b && su b -c 'id -u'": true,
	} {
		var stderr bytes.Buffer
		code, err := s.Exec(context.Background(), executor.ExecRequest{Argv: []string{"sh", "-c", script}, Stderr: &stderr, Stdout: io.Discard})
		if err != nil {
			t.Fatal(err)
		}
		if (code == 0) != wantOK {
			t.Errorf("%s: exit %d (%s), want success=%v", script, code, strings.TrimSpace(stderr.String()), wantOK)
		}
	}
}

// TestCloneNamespacesRefused runs a static Go program (testdata/clonens)
// that asks clone(2) for each kind of namespace: all refused, a plain
// child fine.
func TestCloneNamespacesRefused(t *testing.T) {
	forEachRuntime(t, "x86_64", testCloneNamespacesRefused)
}

func testCloneNamespacesRefused(t *testing.T, rt testRuntime) {
	alpinetest.RequireCommand(t, "go", "the Go toolchain")
	bin := filepath.Join(t.TempDir(), "clonens")
	build := exec.Command("go", "build", "-o", bin, "./testdata/clonens")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=amd64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build clonens: %v\n%s", err, out)
	}
	body, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "clonens", Mode: 0o755, Size: int64(len(body)), Typeflag: tar.TypeReg})
	tw.Write(body)
	tw.Close()
	e := newTestExecutor(t, rt)
	s, err := e.Start(context.Background(), executor.Spec{ID: "clonens", Arch: "x86_64", Image: imagetest.AlpineRef(t, "x86_64")})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.CopyIn(context.Background(), "/opt", &tb); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code, err := s.Exec(context.Background(), executor.ExecRequest{Argv: []string{"/opt/clonens"}, Stdout: &out, Stderr: &out})
	if err != nil || code != 0 {
		t.Fatalf("clonens: %d %v\n%s", code, err, out.String())
	}
	got := out.String()
	lines := map[string]string{}
	for _, l := range strings.Split(got, "\n") {
		k, v, _ := strings.Cut(l, ": ")
		lines[k] = v
	}
	for _, ns := range []string{"user", "net", "mnt", "pid", "uts", "ipc"} {
		if !strings.HasSuffix(lines[ns], "operation not permitted") {
			t.Errorf("clone with a new %s namespace was not refused:\n%s", ns, got)
		}
	}
	if lines["plain"] != "ok" {
		t.Errorf("a plain child failed:\n%s", got)
	}
}
