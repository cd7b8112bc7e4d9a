package executortest

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/executor"
)

// Options describe the backend under test.
type Options struct {
	Arch  string // Spec.Arch; default "x86_64"
	Image string // Spec.Image
	// Isolated says the backend is a real sandbox: network namespaces,
	// its own root filesystem and pid namespace. The fake is not.
	Isolated bool
	// Machine is what `uname -m` prints inside (checked when Isolated);
	// default the Arch with x86 as i686 and armv7/armhf as armv7l (armv8l
	// on an aarch64 host).
	Machine string
}

// Run runs the suite as subtests of t.
func Run(t *testing.T, newExecutor func(t *testing.T) executor.Executor, opts Options) {
	if opts.Arch == "" {
		opts.Arch = "x86_64"
	}
	h := &harness{newExecutor: newExecutor, opts: opts}
	t.Run("ExitCodes", h.exitCodes)
	t.Run("Streams", h.streams)
	t.Run("FilesPersist", h.filesPersist)
	t.Run("CopyRoundTrip", h.copyRoundTrip)
	t.Run("CleanEnv", h.cleanEnv)
	t.Run("BadRequests", h.badRequests)
	t.Run("CancelKillsEverything", h.cancel)
	t.Run("CloseKillsAndIsIdempotent", h.close)
	if opts.Isolated {
		t.Run("Arch", h.arch)
		t.Run("Network", h.network)
		t.Run("HostInvisible", h.hostInvisible)
	}
}

type harness struct {
	newExecutor func(t *testing.T) executor.Executor
	opts        Options
}

func (h *harness) start(t *testing.T) executor.Session {
	t.Helper()
	e := h.newExecutor(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := e.Check(ctx, h.opts.Arch); err != nil {
		t.Fatalf("Check(%s): %v", h.opts.Arch, err)
	}
	id := "conformance-" + strings.ReplaceAll(filepath.Base(t.Name()), "/", "-")
	s, err := e.Start(ctx, executor.Spec{ID: id, Arch: h.opts.Arch, Image: h.opts.Image, Hostname: "conformance"})
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
	})
	return s
}

// result is one command's outcome.
type result struct {
	code           int
	err            error
	stdout, stderr string
}

func run(t *testing.T, s executor.Session, req executor.ExecRequest) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out, errb bytes.Buffer
	req.Stdout, req.Stderr = &out, &errb
	code, err := s.Exec(ctx, req)
	return result{code, err, out.String(), errb.String()}
}

// sh runs a shell command in dir and fails the test on sandbox trouble.
func sh(t *testing.T, s executor.Session, dir, script string) result {
	t.Helper()
	r := run(t, s, executor.ExecRequest{Argv: []string{"sh", "-c", script}, Dir: dir})
	if r.err != nil {
		t.Fatalf("exec sh -c %q: %v\nstderr: %s", script, r.err, r.stderr)
	}
	return r
}

func (h *harness) exitCodes(t *testing.T) {
	s := h.start(t)
	for _, tc := range []struct {
		script string
		want   int
	}{{"exit 0", 0}, {"exit 3", 3}, {"false", 1}, {"exit 255", 255}} {
		if r := sh(t, s, "", tc.script); r.code != tc.want {
			t.Errorf("sh -c %q exited %d, want %d", tc.script, r.code, tc.want)
		}
	}
	// A program that cannot be run is the command's failure, as in a shell.
	for argv, want := range map[string]int{"/no/such/program": 127, "no-such-program": 127, "/etc/hosts": 126} {
		r := run(t, s, executor.ExecRequest{Argv: []string{argv}})
		if r.err != nil || r.code != want {
			t.Errorf("Exec(%s) = %d, %v; want exit %d and no error", argv, r.code, r.err, want)
		}
	}
}

func (h *harness) streams(t *testing.T) {
	s := h.start(t)
	r := sh(t, s, "", "echo to-out; echo to-err >&2; echo more-out")
	if r.stdout != "to-out\nmore-out\n" || r.stderr != "to-err\n" {
		t.Errorf("stdout %q stderr %q, want %q and %q", r.stdout, r.stderr, "to-out\nmore-out\n", "to-err\n")
	}
	// nil writers discard.
	code, err := s.Exec(context.Background(), executor.ExecRequest{Argv: []string{"sh", "-c", "echo x; echo y >&2"}})
	if err != nil || code != 0 {
		t.Errorf("exec with nil writers: %d %v", code, err)
	}
}

func (h *harness) filesPersist(t *testing.T) {
	s := h.start(t)
	sh(t, s, "/work", "echo persisted > f && mkdir -p sub && echo deep > sub/g")
	r := run(t, s, executor.ExecRequest{Argv: []string{"cat", "f", "sub/g"}, Dir: "/work", Network: true})
	if r.err != nil || r.code != 0 || r.stdout != "persisted\ndeep\n" {
		t.Errorf("second exec read %q (code %d, %v), want the first exec's files", r.stdout, r.code, r.err)
	}
	if r := sh(t, s, "/work", "rm f && test ! -e f"); r.code != 0 {
		t.Errorf("removing a file failed: %s", r.stderr)
	}
}

func tarOf(t *testing.T, files map[string]string) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, body := range files {
		mode := int64(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(body)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, body)
	}
	tw.Close()
	return &buf
}

func untar(t *testing.T, r io.Reader) map[string]string {
	t.Helper()
	out := map[string]string{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatalf("read CopyOut stream: %v", err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = string(b)
	}
}

func (h *harness) copyRoundTrip(t *testing.T) {
	s := h.start(t)
	ctx := context.Background()
	in := tarOf(t, map[string]string{
		"build.sh":     "#!/bin/sh\ncat data/in.txt | tr a-z A-Z > out/result.txt\n",
		"data/in.txt":  "hello apkfarm\n",
		"../escape.sh": "#!/bin/sh\n", // lands at the root of the copy, not above it
	})
	if err := s.CopyIn(ctx, "/src", in); err != nil {
		t.Fatalf("CopyIn: %v", err)
	}
	if r := sh(t, s, "/src", "mkdir -p out && ./build.sh && test -x escape.sh"); r.code != 0 {
		t.Fatalf("script copied in failed (%d): %s", r.code, r.stderr)
	}
	var buf bytes.Buffer
	if err := s.CopyOut(ctx, "/src/out", &buf); err != nil {
		t.Fatalf("CopyOut: %v", err)
	}
	got := untar(t, &buf)
	if got["out/result.txt"] != "HELLO APKFARM\n" {
		t.Errorf("CopyOut(/src/out) = %q, want out/result.txt = HELLO APKFARM", got)
	}
	buf.Reset()
	if err := s.CopyOut(ctx, "/src/data/in.txt", &buf); err != nil {
		t.Fatalf("CopyOut file: %v", err)
	}
	if got := untar(t, &buf); got["in.txt"] != "hello apkfarm\n" || len(got) != 1 {
		t.Errorf("CopyOut(/src/data/in.txt) = %q", got)
	}
	if err := s.CopyOut(ctx, "/src/missing", io.Discard); err == nil {
		t.Errorf("CopyOut of a missing path succeeded")
	}
	if err := s.CopyIn(ctx, "/src", strings.NewReader("not a tar stream, longer than one block? no")); err == nil {
		t.Errorf("CopyIn of garbage succeeded")
	}
}

func (h *harness) cleanEnv(t *testing.T) {
	t.Setenv("APKFARM_CONFORMANCE_LEAK", "host-value")
	s := h.start(t)
	r := run(t, s, executor.ExecRequest{Argv: []string{"env"}, Env: []string{"CARCH=" + h.opts.Arch, "WITH_EQ=a=b"}})
	if r.err != nil || r.code != 0 {
		t.Fatalf("env: %d %v %s", r.code, r.err, r.stderr)
	}
	vars := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
		k, v, _ := strings.Cut(l, "=")
		vars[k] = v
	}
	if vars["CARCH"] != h.opts.Arch || vars["WITH_EQ"] != "a=b" || vars["PATH"] == "" {
		t.Errorf("env lacks the request's variables or PATH: %q", r.stdout)
	}
	if _, ok := vars["APKFARM_CONFORMANCE_LEAK"]; ok {
		t.Errorf("the runner's environment leaked in: %q", r.stdout)
	}
	for k := range vars {
		switch k {
		case "PATH", "CARCH", "WITH_EQ", "PWD", "SHLVL", "HOME", "HOSTNAME", "TERM", "_":
		default:
			t.Errorf("unexpected variable %s in a clean environment", k)
		}
	}
}

func (h *harness) badRequests(t *testing.T) {
	s := h.start(t)
	for _, req := range []executor.ExecRequest{
		{},
		{Argv: []string{"true"}, Env: []string{"NOEQUALS"}},
		{Argv: []string{"true"}, User: "build"},
		{Argv: []string{"true"}, Dir: "relative/dir"},
	} {
		if r := run(t, s, req); r.err == nil {
			t.Errorf("Exec(%+v) = %d, nil; want an error", req, r.code)
		}
	}
	// The session still works after refusing them.
	if r := sh(t, s, "", "exit 0"); r.code != 0 {
		t.Errorf("session broken after bad requests")
	}
}

// marker returns a sleep duration unique to this test, to find its
// processes in /proc.
func marker() string { return strconv.Itoa(100000 + rand.IntN(800000)) }

// procsWith returns the pids whose command line has arg as an argument.
func procsWith(arg string) []int {
	ents, _ := os.ReadDir("/proc")
	var pids []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/cmdline")
		if err != nil {
			continue
		}
		for _, a := range strings.Split(string(b), "\x00") {
			if a == arg {
				pids = append(pids, pid)
				break
			}
		}
	}
	return pids
}

func waitFor(d time.Duration, cond func() bool) bool {
	end := time.Now().Add(d)
	for time.Now().Before(end) {
		if cond() {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return cond()
}

// AssertNoProcess fails t if a process with arg in its command line
// is still there after a short grace.
func AssertNoProcess(t testing.TB, arg string) {
	t.Helper()
	if !waitFor(3*time.Second, func() bool { return len(procsWith(arg)) == 0 }) {
		t.Errorf("processes with argument %s still running: %v", arg, procsWith(arg))
	}
}

// StartSleep runs `sleep N & sleep N; wait` in s in the background and
// waits until both sleeps are visible in /proc. It returns N and the
// channel Exec's result arrives on.
func StartSleep(t testing.TB, ctx context.Context, s executor.Session) (string, <-chan error) {
	t.Helper()
	n := marker()
	done := make(chan error, 1)
	go func() {
		_, err := s.Exec(ctx, executor.ExecRequest{Argv: []string{"sh", "-c", "sleep " + n + " & sleep " + n + "; wait"}})
		done <- err
	}()
	if !waitFor(30*time.Second, func() bool { return len(procsWith(n)) >= 2 }) {
		t.Fatalf("sleep %s did not start", n)
	}
	return n, done
}

func (h *harness) cancel(t *testing.T) {
	s := h.start(t)
	ctx, cancel := context.WithCancel(context.Background())
	n, done := StartSleep(t, ctx, s)
	t0 := time.Now()
	cancel()
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("Exec returned nil after its context was cancelled")
		}
		if d := time.Since(t0); d > 5*time.Second {
			t.Errorf("Exec took %v to return after cancel", d)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Exec did not return 15s after its context was cancelled")
	}
	AssertNoProcess(t, n)
	// A deadline works the same way, and the session is still usable.
	tctx, tcancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer tcancel()
	if _, err := s.Exec(tctx, executor.ExecRequest{Argv: []string{"sleep", "30"}}); err == nil {
		t.Errorf("Exec past its deadline returned nil")
	}
	if r := sh(t, s, "", "exit 7"); r.code != 7 {
		t.Errorf("session unusable after a cancelled exec: %d", r.code)
	}
}

func (h *harness) close(t *testing.T) {
	s := h.start(t)
	n, done := StartSleep(t, context.Background(), s)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if err == nil {
			t.Errorf("Exec killed by Close returned nil")
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Exec did not return after Close")
	}
	AssertNoProcess(t, n)
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Exec(context.Background(), executor.ExecRequest{Argv: []string{"true"}}); err == nil {
		t.Errorf("Exec after Close succeeded")
	}
	if err := s.CopyIn(context.Background(), "/", tarOf(t, map[string]string{"a": "b"})); err == nil {
		t.Errorf("CopyIn after Close succeeded")
	}
}

func (h *harness) arch(t *testing.T) {
	want := h.opts.Machine
	if want == "" {
		switch h.opts.Arch {
		case "x86":
			want = "i686"
		case "armv7", "armhf":
			want = "armv7l" // qemu's; an aarch64 kernel with the 32-bit personality says armv8l
			if runtime.GOARCH == "arm64" {
				want = "armv8l"
			}
		default:
			want = h.opts.Arch
		}
	}
	s := h.start(t)
	if r := sh(t, s, "", "uname -m; cat /etc/apk/arch"); r.stdout != want+"\n"+h.opts.Arch+"\n" {
		t.Errorf("uname -m; cat /etc/apk/arch = %q, want %s and %s", r.stdout, want, h.opts.Arch)
	}
}

// hostAddrs returns the host's first non-loopback IPv4 address and first
// global IPv6 address (bracketed for a URL), those it has.
func hostAddrs() []string {
	addrs, _ := net.InterfaceAddrs()
	var v4, v6 string
	for _, a := range addrs {
		ipn, ok := a.(*net.IPNet)
		if !ok || ipn.IP.IsLoopback() || ipn.IP.IsLinkLocalUnicast() {
			continue
		}
		if ipn.IP.To4() != nil && v4 == "" {
			v4 = ipn.IP.String()
		} else if ipn.IP.To4() == nil && v6 == "" {
			v6 = "[" + ipn.IP.String() + "]"
		}
	}
	var out []string
	for _, a := range []string{v4, v6} {
		if a != "" {
			out = append(out, a)
		}
	}
	return out
}

func (h *harness) network(t *testing.T) {
	token := "apkfarm-net-" + marker()
	ln, err := net.Listen("tcp", ":0") // every address, IPv4 and IPv6
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, token) })}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	targets := append([]string{"127.0.0.1", "[::1]"}, hostAddrs()...)
	if len(targets) == 2 {
		t.Log("host has no non-loopback address: only loopback is tried")
	}
	s := h.start(t)
	fetch := func(ip string, network bool) result {
		return run(t, s, executor.ExecRequest{
			Argv:    []string{"wget", "-q", "-T", "3", "-O", "-", fmt.Sprintf("http://%s:%d/", ip, port)},
			Network: network,
		})
	}
	for _, ip := range targets {
		r := fetch(ip, false)
		if r.err != nil {
			t.Fatalf("exec wget: %v", r.err)
		}
		if r.code == 0 || strings.Contains(r.stdout, token) {
			t.Errorf("Network=false reached the host's listener at %s:%d (exit %d, %q)", ip, port, r.code, r.stdout)
		}
	}
	// Loopback is up in the empty namespace: a server inside is reachable.
	if r := sh(t, s, "", "ip -o link show lo | grep -q 'UP' && ip -o addr show lo | grep -q 127.0.0.1"); r.code != 0 {
		t.Errorf("loopback is not up with Network=false: %s", r.stderr)
	}
	r := fetch("127.0.0.1", true)
	if r.err != nil || r.code != 0 || r.stdout != token {
		t.Errorf("Network=true: wget 127.0.0.1:%d = %d %v %q %q, want %q", port, r.code, r.err, r.stdout, r.stderr, token)
	}
}

func (h *harness) hostInvisible(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "signing.rsa")
	if err := os.WriteFile(key, []byte("-----BEGIN PRIVATE KEY-----\nSECRET\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	s := h.start(t)
	script := fmt.Sprintf(`
		test -e %[1]s && echo "visible at its host path"
		cat /proc/1/root%[1]s 2>/dev/null && echo "visible through /proc/1/root"
		for p in /proc/[0-9]*; do test -e "$p/root%[1]s" && echo "visible through $p/root"; done
		test "$$" = 1 || echo "not in a pid namespace: sh is pid $$"
		grep -rl SECRET /tmp /root /home /etc /var 2>/dev/null | sed 's/^/found in /'
		exit 0`, key)
	for _, network := range []bool{false, true} {
		r := run(t, s, executor.ExecRequest{Argv: []string{"sh", "-c", script}, Network: network})
		if r.err != nil || r.code != 0 {
			t.Fatalf("probe: %d %v %s", r.code, r.err, r.stderr)
		}
		if strings.TrimSpace(r.stdout) != "" {
			t.Errorf("the host's key file leaked (Network=%v):\n%s", network, r.stdout)
		}
	}
}
