package builder

// The proof with real parts: builds run through runc in the Alpine
// minirootfs (x86_64 natively, aarch64 under qemu binfmt) plus a layer with
// the stand-in abuild, pulled by reference from an in-memory registry on
// 127.0.0.1; build dependencies are installed by the image's real apk
// (apk-tools 2.14) from the packages built earlier in the run. These tests
// need root, runc and qemu-user-static: outside CI they skip saying so,
// under CI (CI=true) they fail.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
	"github.com/apkfarm/apkfarm/internal/standin"
	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/executor/oci"
	"github.com/apkfarm/apkfarm/runner/image"
	"github.com/apkfarm/apkfarm/runner/image/imagetest"
	"github.com/apkfarm/apkfarm/state"
)

const helperEnv = "APKFARM_BUILD_TEST_HELPER"

// storeDir is one image store for the test binary: each image is unpacked
// once.
var storeDir string

func TestMain(m *testing.M) {
	if os.Getenv(helperEnv) != "" {
		os.Exit(runnerHelper())
	}
	d, err := os.MkdirTemp("", "apkfarm-build-test-store-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	storeDir = d
	code := m.Run()
	os.RemoveAll(d)
	os.Exit(code)
}

func requireReal(t testing.TB, arches ...string) {
	t.Helper()
	alpinetest.RequireRoot(t)
	alpinetest.RequireCommand(t, "runc", "apt-get install runc")
	for _, a := range arches {
		alpinetest.RequireBinfmt(t, a)
		if _, err := alpinetest.TarballPath(a); err != nil {
			alpinetest.SkipOrFail(t, "%v", err)
		}
	}
}

var (
	standInMu   sync.Mutex
	standInBins = map[string]string{}
)

// standIn builds the stand-in abuild, static, for arch.
func standIn(t testing.TB, arch string) string {
	t.Helper()
	standInMu.Lock()
	defer standInMu.Unlock()
	if p := standInBins[arch]; p != "" {
		return p
	}
	out := filepath.Join(storeDir, "fakeabuild-"+arch)
	if err := standin.Binary(context.Background(), arch, out); err != nil {
		t.Fatal(err)
	}
	standInBins[arch] = out
	return out
}

var (
	regMu  sync.Mutex
	regRef = map[string]string{}
	reg    *imagetest.Registry
)

// buildImage returns the reference of the arch's build image (minirootfs +
// stand-in layer) in the in-memory registry.
func buildImage(t testing.TB, arch string) string {
	t.Helper()
	regMu.Lock()
	defer regMu.Unlock()
	if reg == nil {
		reg = imagetest.NewRegistry(&cleanupless{t})
	}
	if r := regRef[arch]; r != "" {
		return r
	}
	bin, err := os.ReadFile(standIn(t, arch))
	if err != nil {
		t.Fatal(err)
	}
	img, err := standin.Image(imagetest.AlpineImage(t, arch), bin)
	if err != nil {
		t.Fatal(err)
	}
	ref := reg.Push(t, img, "apkfarm/build:"+arch)
	regRef[arch] = ref
	return ref
}

// cleanupless keeps the registry for the whole test binary: its Cleanup is
// never run (the process ends).
type cleanupless struct{ testing.TB }

func (c *cleanupless) Cleanup(func()) {}

type real struct {
	exec     *oci.Executor
	workDir  string
	runcRoot string // private runtime root: other tests' containers are not ours to count
	stateDir string
	opts     Options
	logger   *slog.Logger
}

type tlogWriter struct{ t testing.TB }

func (w tlogWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func newReal(t *testing.T, arches ...string) *real {
	t.Helper()
	requireReal(t, arches...)
	store, err := image.NewStore(storeDir)
	if err != nil {
		t.Fatal(err)
	}
	work, root := t.TempDir(), t.TempDir()
	logger := slog.New(slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	r := &real{
		exec:     oci.New(store, oci.WithWorkDir(work), oci.WithRuntimeRoot(root), oci.WithLogger(logger)),
		workDir:  work,
		runcRoot: root,
		stateDir: t.TempDir(),
		logger:   logger,
	}
	r.opts = Options{Jobs: 2, StateDir: r.stateDir, Images: map[string]string{}, Timeout: 5 * time.Minute, NativeArches: oci.NativeArches()}
	for _, a := range arches {
		r.opts.Images[a] = buildImage(t, a)
	}
	return r
}

func fixture(t testing.TB, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("testdata", "aports", "main", name))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func fjob(t testing.TB, arch, name, version string, batch int, pkgs ...string) Job {
	if len(pkgs) == 0 {
		pkgs = []string{name}
	}
	return Job{Arch: arch, Pkgname: name, Version: version, Dir: fixture(t, name), Batch: batch, Packages: pkgs}
}

func outcomeArch(t testing.TB, res *Result, arch, name string) Outcome {
	t.Helper()
	for _, o := range res.Outcomes {
		if o.Job.Arch == arch && o.Job.Pkgname == name {
			return o
		}
	}
	t.Fatalf("no outcome for %s %s", arch, name)
	return Outcome{}
}

// packageFile returns the content of name inside a staged package.
func packageFile(t testing.TB, stateDir, rel, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(stateDir, rel))
	if err != nil {
		t.Fatal(err)
	}
	pf, err := apk.ReadPackageFile(b, rel)
	if err != nil {
		t.Fatal(err)
	}
	c, err := pf.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(c)
}

// leftovers lists what a build may leave behind: processes running the
// fixtures' sleep, runtime containers of the given build IDs, mounts under
// the executor's work directory.
func leftovers(t testing.TB, r *real, idPart string) []string {
	t.Helper()
	var out []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), "sleep\x006543") {
			out = append(out, "process "+filepath.Base(filepath.Dir(p))+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	if b, err := exec.Command("runc", "--root", r.runcRoot, "list", "-q").Output(); err == nil {
		for _, id := range strings.Fields(string(b)) {
			if strings.HasPrefix(id, oci.Prefix) && strings.Contains(id, idPart) {
				out = append(out, "container "+id)
			}
		}
	}
	if b, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.Contains(l, r.workDir) {
				out = append(out, "mount "+l)
			}
		}
	}
	return out
}

// TestRealChainBothArches builds a three-level chain (app needs libb, which
// needs liba-dev, whose depends pulls liba) on x86_64 and, under qemu, on
// aarch64, side by side: each level's build fails unless the real apk
// installed the previous level's packages from this run's local repository.
func TestRealChainBothArches(t *testing.T) {
	r := newReal(t, "x86_64", "aarch64")
	var jobs []Job
	for _, arch := range []string{"x86_64", "aarch64"} {
		a := fjob(t, arch, "liba", "1.0-r0", 0, "liba", "liba-dev")
		a.CriticalPath = 2
		b := fjob(t, arch, "libb", "2.0-r1", 1)
		b.Deps, b.BuildDeps, b.CriticalPath = []string{"liba"}, []string{"liba-dev"}, 1
		c := fjob(t, arch, "app", "3.0-r2", 2)
		c.Deps, c.BuildDeps = []string{"libb"}, []string{"libb"}
		jobs = append(jobs, a, b, c)
	}
	res, err := Run(context.Background(), jobs, r.opts, r.exec, r.logger)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range res.Outcomes {
		if o.Status != state.Built {
			t.Errorf("%s %s: %s (%s)\n%s", o.Job.Arch, o.Job.Pkgname, o.Status, o.Reason, readLog(t, r.stateDir, o.Attempt))
		} else {
			t.Logf("%s %s built in %v", o.Job.Arch, o.Job.Pkgname, time.Duration(o.Attempt.DurationMS)*time.Millisecond)
		}
	}
	if t.Failed() {
		return
	}
	for _, arch := range []string{"x86_64", "aarch64"} {
		app := outcomeArch(t, res, arch, "app")
		got := packageFile(t, r.stateDir, app.Packages[0], "usr/share/app/app.txt")
		if want := "libb built on liba level 1\napp on " + arch + "\n"; got != want {
			t.Errorf("%s app.txt = %q; want %q", arch, got, want)
		}
		libb := readLog(t, r.stateDir, outcomeArch(t, res, arch, "libb").Attempt)
		for _, want := range []string{"Installing liba (1.0-r0)", "Installing liba-dev (1.0-r0)", "local repository: 2 packages"} {
			if !strings.Contains(libb, want) {
				t.Errorf("%s libb log lacks %q:\n%s", arch, want, libb)
			}
		}
		liba := outcomeArch(t, res, arch, "liba")
		if len(liba.Packages) != 2 {
			t.Errorf("%s liba staged %v; want liba and liba-dev", arch, liba.Packages)
		}
	}
	if got := packageFile(t, r.stateDir, "staging/aarch64/liba-1.0-r0.apk", "usr/share/liba/machine"); got != "aarch64\n" {
		t.Errorf("aarch64 build ran on %q; want aarch64 (qemu)", got)
	}
	for _, name := range []string{"-liba-", "-libb-", "-app-"} {
		if l := leftovers(t, r, name); len(l) > 0 {
			t.Errorf("left behind: %v", l)
		}
	}
}

// TestRealNetworkOnlyWithOptionsNet: the same build connects to a listener
// on the host; it fails without options="net" and succeeds with it.
func TestRealNetworkOnlyWithOptionsNet(t *testing.T) {
	r := newReal(t, "x86_64")
	var hits atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		hits.Add(1)
		io.WriteString(w, "hello-from-host\n")
	})}
	go srv.Serve(ln)
	defer srv.Close()
	r.opts.Env = []string{"APKFARM_TEST_URL=http://" + ln.Addr().String() + "/"}
	off := fjob(t, "x86_64", "netcheck", "1.0-r0", 0)
	on := fjob(t, "x86_64", "netcheck-net", "1.0-r0", 0)
	on.Net = true
	res, err := Run(context.Background(), []Job{off, on}, r.opts, r.exec, r.logger)
	if err != nil {
		t.Fatal(err)
	}
	o := outcomeArch(t, res, "x86_64", "netcheck")
	if o.Status != state.Failed || o.Attempt.Class != state.ClassBuildError {
		t.Errorf("without options=net: %s %+v; want a build-error", o.Status, o.Attempt)
	}
	if l := readLog(t, r.stateDir, o.Attempt); !strings.Contains(l, "build (network off)") {
		t.Errorf("log:\n%s", l)
	}
	o = outcomeArch(t, res, "x86_64", "netcheck-net")
	if o.Status != state.Built {
		t.Errorf("with options=net: %s %s\n%s", o.Status, o.Reason, readLog(t, r.stateDir, o.Attempt))
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("the listener was reached %d times; want once (by the net build only)", n)
	}
}

// TestRealSigningKeyOutOfSight: a build looking for the release key (its
// host path, *.rsa files, its content) finds nothing.
func TestRealSigningKeyOutOfSight(t *testing.T) {
	r := newReal(t, "x86_64")
	key, err := apk.GenerateKey(2048)
	if err != nil {
		t.Fatal(err)
	}
	keyDir := filepath.Join(t.TempDir(), "keys")
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		t.Fatal(err)
	}
	priv, _, err := apk.WriteKeyPair(keyDir, "release-0123abcd", key)
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := os.ReadFile(priv)
	lines := strings.Split(string(pem), "\n")
	mark := lines[3] // a base64 line from the middle of the key
	r.opts.Env = []string{"APKFARM_TEST_KEY_PATH=" + priv,
		"APKFARM_TEST_MARK_A=" + mark[:len(mark)/2], "APKFARM_TEST_MARK_B=" + mark[len(mark)/2:]}
	// Would the probe see the key if it were there? Plant a copy in the
	// aport: the same build must then fail.
	planted := filepath.Join(t.TempDir(), "main", "keysearch")
	copyDir(t, fixture(t, "keysearch"), planted)
	if err := os.WriteFile(filepath.Join(planted, "leak.txt"), pem, 0o644); err != nil {
		t.Fatal(err)
	}
	clean := fjob(t, "x86_64", "keysearch", "1.0-r0", 0)
	res, err := Run(context.Background(), []Job{clean}, r.opts, r.exec, r.logger)
	if err != nil {
		t.Fatal(err)
	}
	if o := res.Outcomes[0]; o.Status != state.Built {
		t.Errorf("key search: %s %s\n%s", o.Status, o.Reason, readLog(t, r.stateDir, o.Attempt))
	}
	leak := clean
	leak.Dir = planted
	res, err = Run(context.Background(), []Job{leak}, r.opts, r.exec, r.logger)
	if err != nil {
		t.Fatal(err)
	}
	o := res.Outcomes[0]
	if l := readLog(t, r.stateDir, o.Attempt); o.Status != state.Failed || !strings.Contains(l, "found: the key's content") {
		t.Errorf("a planted key was not found (%s): the probe proves nothing\n%s", o.Status, l)
	}
}

func copyDir(t testing.TB, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	ents, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestRealTimeoutKillsEverything: a build sleeping past its timeout is
// killed, marked timeout, and leaves no process, container or mount.
func TestRealTimeoutKillsEverything(t *testing.T) {
	r := newReal(t, "x86_64")
	j := fjob(t, "x86_64", "sleeper", "1.0-r0", 0)
	j.Timeout = 3 * time.Second
	res, err := Run(context.Background(), []Job{j}, r.opts, r.exec, r.logger)
	if err != nil {
		t.Fatal(err)
	}
	o := res.Outcomes[0]
	if o.Status != state.Failed || o.Attempt.Class != state.ClassTimeout {
		t.Errorf("sleeper: %s %+v; want failed, class timeout", o.Status, o.Attempt)
	}
	l := readLog(t, r.stateDir, o.Attempt)
	if !strings.Contains(l, "sleeping now") || !strings.Contains(l, "killed after the 3s limit") {
		t.Errorf("log:\n%s", l)
	}
	if d := time.Duration(o.Attempt.DurationMS) * time.Millisecond; d > time.Minute {
		t.Errorf("attempt took %v; the 3s timeout did not stop it", d)
	}
	left := leftovers(t, r, "-sleeper-")
	if len(left) > 0 {
		time.Sleep(3 * time.Second)
		t.Errorf("left behind after a timeout: %v; 3s later: %v", left, leftovers(t, r, "-sleeper-"))
	}
}

// TestRealIdleTimeout: a build that goes quiet is killed after the idle
// limit, long before its wall-clock limit.
func TestRealIdleTimeout(t *testing.T) {
	r := newReal(t, "x86_64")
	r.opts.IdleTimeout = 2 * time.Second
	res, err := Run(context.Background(), []Job{fjob(t, "x86_64", "sleeper", "1.0-r0", 0)}, r.opts, r.exec, r.logger)
	if err != nil {
		t.Fatal(err)
	}
	o := res.Outcomes[0]
	if o.Status != state.Failed || o.Attempt.Class != state.ClassIdleTimeout {
		t.Errorf("sleeper: %s %+v; want class idle-timeout", o.Status, o.Attempt)
	}
	if l := readLog(t, r.stateDir, o.Attempt); !strings.Contains(l, "no output for 2s: killing the build") {
		t.Errorf("log:\n%s", l)
	}
	if left := leftovers(t, r, "-sleeper-"); len(left) > 0 {
		t.Errorf("left behind after an idle timeout: %v", left)
	}
}

// TestRealLogCap: a build printing 200 MB has its log capped with a marker.
func TestRealLogCap(t *testing.T) {
	r := newReal(t, "x86_64")
	const capBytes = 1 << 20
	r.opts.LogMaxBytes = capBytes
	res, err := Run(context.Background(), []Job{fjob(t, "x86_64", "chatty", "1.0-r0", 0)}, r.opts, r.exec, r.logger)
	if err != nil {
		t.Fatal(err)
	}
	o := res.Outcomes[0]
	if o.Status != state.Built {
		t.Errorf("chatty: %s %s", o.Status, o.Reason)
	}
	l := readLog(t, r.stateDir, o.Attempt)
	if len(l) > capBytes+4096 {
		t.Errorf("log is %d bytes; cap %d", len(l), capBytes)
	}
	if !strings.Contains(l, fmt.Sprintf("apkfarm: log truncated at %d bytes; further output discarded", capBytes)) ||
		strings.Contains(l, "done printing") || !strings.Contains(l, "apkfarm: built; staged") {
		t.Errorf("log does not end as a capped log should:\n%s", l[max(0, len(l)-2000):])
	}
}

// TestRealRunnerKilled kills a runner process mid-build: with SIGTERM it
// closes the session itself; with SIGKILL, oci.Sweep (run at the start of
// the next run) removes what it left. Either way nothing stays behind and
// the log written so far is kept.
func TestRealRunnerKilled(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGKILL} {
		t.Run(sig.String(), func(t *testing.T) {
			r := newReal(t, "x86_64")
			cmd := exec.Command(os.Args[0], "-test.run=^$")
			cmd.Env = append(os.Environ(), helperEnv+"=1", "HELPER_STORE="+storeDir, "HELPER_WORK="+r.workDir, "HELPER_RUNC_ROOT="+r.runcRoot,
				"HELPER_STATE="+r.stateDir, "HELPER_IMAGE="+r.opts.Images["x86_64"], "HELPER_APORT="+fixture(t, "sleeper"))
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			logPath := filepath.Join(r.stateDir, "logs", "x86_64", "sleeper", "1.0-r0-1.log")
			deadline := time.Now().Add(2 * time.Minute)
			for {
				b, _ := os.ReadFile(logPath)
				if bytes.Contains(b, []byte("sleeping now")) {
					break
				}
				if time.Now().After(deadline) {
					cmd.Process.Kill()
					cmd.Wait()
					t.Fatalf("the build did not start in time:\n%s\n%s", b, out.String())
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			err := cmd.Wait()
			t.Logf("runner exited: %v\n%s", err, out.String())
			if sig == syscall.SIGKILL {
				// What a SIGKILLed runner leaves is for the next run's Sweep.
				if err := oci.Sweep(context.Background(), oci.WithWorkDir(r.workDir), oci.WithRuntimeRoot(r.runcRoot)); err != nil {
					t.Fatalf("sweep: %v", err)
				}
				if b, err := os.ReadFile(logPath); err != nil || !bytes.Contains(b, []byte("sleeping now")) {
					t.Errorf("log of the killed runner not kept: %v", err)
				}
			} else {
				var ee *exec.ExitError
				if !errors.As(err, &ee) || ee.ExitCode() != 3 {
					t.Errorf("runner exit = %v; want code 3 (interrupted)", err)
				}
				b, gzErr := os.ReadFile(logPath + ".gz")
				if gzErr != nil {
					t.Fatalf("log not compressed after SIGTERM: %v", gzErr)
				}
				zr, _ := gzip.NewReader(bytes.NewReader(b))
				text, _ := io.ReadAll(zr)
				if !bytes.Contains(text, []byte("apkfarm: interrupted")) {
					t.Errorf("log:\n%s", text)
				}
			}
			// Give the kernel a moment to reap the container's processes.
			var left []string
			for range 50 {
				if left = leftovers(t, r, "-sleeper-"); len(left) == 0 {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if len(left) > 0 {
				t.Errorf("left behind after %v: %v", sig, left)
			}
		})
	}
}

// runnerHelper is the runner process TestRealRunnerKilled kills: it builds
// the sleeper until a signal comes. Exit 3 when interrupted.
func runnerHelper() int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	store, err := image.NewStore(os.Getenv("HELPER_STORE"))
	if err != nil {
		logger.Error("store", "err", err)
		return 2
	}
	ex := oci.New(store, oci.WithWorkDir(os.Getenv("HELPER_WORK")), oci.WithRuntimeRoot(os.Getenv("HELPER_RUNC_ROOT")), oci.WithLogger(logger))
	j := Job{Arch: "x86_64", Pkgname: "sleeper", Version: "1.0-r0", Dir: os.Getenv("HELPER_APORT"), Packages: []string{"sleeper"}}
	opts := Options{StateDir: os.Getenv("HELPER_STATE"), Image: os.Getenv("HELPER_IMAGE"), Timeout: 10 * time.Minute, NativeArches: oci.NativeArches()}
	res, err := Run(ctx, []Job{j}, opts, ex, logger)
	if err != nil {
		logger.Info("run ended", "err", err)
		if res != nil && res.Outcomes[0].Status == state.Pending {
			return 3
		}
		return 2
	}
	return 0
}

// BenchmarkBuildOverhead builds an empty package in a container (prepare
// and build phases, image cached) and runs the same prepare and build
// commands directly on the host with the host's stand-in abuild; it
// reports both and the difference, the runner's overhead per build.
func BenchmarkBuildOverhead(b *testing.B) {
	requireReal(b, "x86_64")
	if runtime.GOARCH != "amd64" {
		b.Skip("the benchmark compares against the host: x86_64 only")
	}
	store, err := image.NewStore(storeDir)
	if err != nil {
		b.Fatal(err)
	}
	work := b.TempDir()
	logger := slog.New(slog.DiscardHandler)
	ex := oci.New(store, oci.WithWorkDir(work), oci.WithLogger(logger))
	imgRef := buildImage(b, "x86_64")
	opts := Options{StateDir: b.TempDir(), Image: imgRef, NativeArches: oci.NativeArches()}
	j := fjob(b, "x86_64", "empty", "1.0-r0", 0)
	// Warm the image cache.
	if res, err := Run(context.Background(), []Job{j}, opts, ex, logger); err != nil || res.Failed() > 0 {
		b.Fatalf("warm-up build: %v %+v", err, res)
	}
	hostBin := filepath.Join(b.TempDir(), "bin")
	os.MkdirAll(hostBin, 0o755)
	bin, _ := os.ReadFile(standIn(b, "x86_64"))
	os.WriteFile(filepath.Join(hostBin, "abuild"), bin, 0o755)
	os.Symlink("abuild", filepath.Join(hostBin, "abuild-keygen"))

	var inContainer, direct time.Duration
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		res, err := Run(context.Background(), []Job{j}, opts, ex, logger)
		if err != nil || res.Failed() > 0 {
			b.Fatalf("build: %v", err)
		}
		inContainer += time.Since(t0)

		t1 := time.Now()
		runDirect(b, hostBin, j.Dir)
		direct += time.Since(t1)
	}
	n := float64(b.N)
	b.ReportMetric(float64(inContainer.Milliseconds())/n, "container-ms/build")
	b.ReportMetric(float64(direct.Milliseconds())/n, "direct-ms/build")
	b.ReportMetric(float64((inContainer-direct).Milliseconds())/n, "overhead-ms/build")
}

// runDirect runs the default prepare and build commands on the host.
func runDirect(b *testing.B, hostBin, aport string) {
	root := b.TempDir()
	dir := filepath.Join(root, "aports", "main", "empty")
	copyDir(b, aport, dir)
	env := append(os.Environ(), "PATH="+hostBin+":"+os.Getenv("PATH"), "HOME="+root, "REPODEST="+root+"/packages",
		"SRCDEST="+root+"/sources", "CARCH=x86_64", "PKGNAME=empty")
	for _, c := range []string{DefaultPrepareCommand, DefaultBuildCommand} {
		cmd := exec.Command("/bin/sh", "-c", c)
		cmd.Dir, cmd.Env = dir, env
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s: %v\n%s", c, err, out)
		}
	}
	if _, err := os.Stat(filepath.Join(root, "packages", "main", "x86_64", "empty-1.0-r0.apk")); err != nil {
		b.Fatal(err)
	}
}

// TestRealBuildAsUser: with Options.User the prepare and build commands
// run unprivileged (dependencies are still installed as root).
func TestRealBuildAsUser(t *testing.T) {
	r := newReal(t, "x86_64")
	r.opts.User = "65534:65534" // nobody in the minirootfs
	j := fjob(t, "x86_64", "unprivileged", "1.0-r0", 0)
	res, err := Run(context.Background(), []Job{j}, r.opts, r.exec, r.logger)
	if err != nil {
		t.Fatal(err)
	}
	o := res.Outcomes[0]
	if o.Status != state.Built {
		t.Fatalf("%s %s\n%s", o.Status, o.Reason, readLog(t, r.stateDir, o.Attempt))
	}
	if got := packageFile(t, r.stateDir, o.Packages[0], "usr/share/unprivileged/uid"); got != "65534\n" {
		t.Errorf("built as uid %q; want 65534", got)
	}
}

// TestRealQemuCrash: a build step killed by SIGSEGV is a qemu-crash on
// aarch64 (qemu says "uncaught target signal") and a build-error natively.
func TestRealQemuCrash(t *testing.T) {
	r := newReal(t, "x86_64", "aarch64")
	res, err := Run(context.Background(), []Job{fjob(t, "x86_64", "segv", "1.0-r0", 0), fjob(t, "aarch64", "segv", "1.0-r0", 0)},
		r.opts, r.exec, r.logger)
	if err != nil {
		t.Fatal(err)
	}
	for arch, want := range map[string]string{"x86_64": state.ClassBuildError, "aarch64": state.ClassQemuCrash} {
		o := outcomeArch(t, res, arch, "segv")
		if o.Status != state.Failed || o.Attempt.Class != want {
			t.Errorf("%s: %s %+v; want class %s\n%s", arch, o.Status, o.Attempt, want, readLog(t, r.stateDir, o.Attempt))
		}
		if arch == "aarch64" && !strings.Contains(strings.Join(o.Attempt.ErrorLines, "\n"), "uncaught target signal 11") {
			t.Errorf("aarch64 error lines %q lack qemu's report", o.Attempt.ErrorLines)
		}
	}
}
