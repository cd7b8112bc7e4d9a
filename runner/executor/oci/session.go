package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/runner/image/tarfs"
)

type session struct {
	e       *Executor
	spec    executor.Spec
	id      string
	dir     string
	root    string
	digest  string
	overlay bool
	lock    *os.File
	log     *slog.Logger

	// ctx is cancelled by Close: every running Exec is killed.
	ctx    context.Context
	cancel context.CancelFunc

	mu     sync.Mutex
	closed bool
	seq    int
	wg     sync.WaitGroup
	// leaked holds the containers reap could not make sure of; Close
	// tries again and, failing, keeps the root mounted and says so.
	leaked map[string]error

	closeOnce sync.Once
	closeErr  error

	// cpu is the CPU time of the session's commands so far.
	cpu time.Duration
}

// addUsage adds what a finished runtime process and the processes it
// waited for (the command and what it reaped) used: runc waits for the
// container's init, which reaps its children.
func (s *session) addUsage(cmd *exec.Cmd) {
	if cmd.ProcessState == nil {
		return
	}
	s.mu.Lock()
	s.cpu += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	s.mu.Unlock()
}

// Usage implements executor.UsageReporter.
func (s *session) Usage() executor.Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return executor.Usage{CPU: s.cpu}
}

var errClosed = errors.New("session closed")

// begin registers a command about to run; it fails once Close has begun.
func (s *session) begin() (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return 0, errClosed
	}
	s.seq++
	s.wg.Add(1)
	return s.seq, nil
}

// killGrace is how long a killed container's runc gets to exit before it
// is killed itself.
const killGrace = 5 * time.Second

// Exec runs one command as its own container over the session's root.
func (s *session) Exec(ctx context.Context, req executor.ExecRequest) (int, error) {
	n, err := s.begin()
	if err != nil {
		return -1, fmt.Errorf("exec %q: %w", req.Argv, err)
	}
	defer s.wg.Done()
	name := fmt.Sprintf("%s%s-%d", Prefix, s.id, n)
	bundle := filepath.Join(s.dir, "exec-"+strconv.Itoa(n))
	cfg, err := buildSpec(specInput{
		Root: s.root, Hostname: s.spec.Hostname, Req: req, Limits: s.spec.Limits,
		Cgroups: s.e.cgroups, CgroupPath: "apkfarm/" + name, CgroupNS: s.e.cgroupNS, Mounts: s.spec.Mounts,
		Linux32: Linux32(s.spec.Arch),
	})
	if err != nil {
		return -1, fmt.Errorf("exec %q: %w", req.Argv, err)
	}
	if err := os.Mkdir(bundle, 0o700); err != nil {
		return -1, fmt.Errorf("exec %q: %w", req.Argv, err)
	}
	defer func() {
		if !s.isLeaked(name) { // Sweep finds what is left by its bundle
			os.RemoveAll(bundle)
		}
	}()
	b, err := json.Marshal(cfg)
	if err == nil {
		err = os.WriteFile(filepath.Join(bundle, "config.json"), b, 0o600)
	}
	if err != nil {
		return -1, fmt.Errorf("exec %q: write config: %w", req.Argv, err)
	}
	pidFile := filepath.Join(bundle, "pid")
	logFile := filepath.Join(bundle, "runtime.log")
	cmd := s.e.cfg.runtimeCmd(context.Background(), "--log", logFile, "--log-format", "json",
		"run", "--bundle", bundle, "--pid-file", pidFile, name)
	cmd.Stdout, cmd.Stderr = req.Stdout, req.Stderr
	// runc dies with the runner (Sweep handles the container it leaves);
	// its own process group keeps a terminal's ^C away from it: ctx decides.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL, Setpgid: true}
	cmd.WaitDelay = s.e.cfg.killGrace
	waited, err := startLocked(cmd, cfg.Linux != nil && cfg.Linux.Personality != nil)
	if err != nil {
		return -1, fmt.Errorf("exec %q: start %s: %w", req.Argv, s.e.cfg.runtime, err)
	}
	var werr error
	var killedBy error
	select {
	case werr = <-waited:
	case <-ctx.Done():
		killedBy = ctx.Err()
	case <-s.ctx.Done():
		killedBy = errClosed
	}
	defer s.addUsage(cmd)
	if killedBy != nil {
		s.kill(name, cmd, waited)
		if err := s.reap(name); err != nil {
			return -1, fmt.Errorf("exec %q: killed: %w; %w", req.Argv, killedBy, err)
		}
		return -1, fmt.Errorf("exec %q: killed: %w", req.Argv, killedBy)
	}
	started := false
	if _, err := os.Stat(pidFile); err == nil {
		started = true
	}
	// `runc run` deletes the container when its init exits (and the pid
	// namespace has taken every other process of the command with it);
	// only when runc failed or was killed itself is there anything to reap.
	var ee *exec.ExitError
	switch {
	case werr == nil:
		s.reapIfLeft(name)
		return 0, nil
	case errors.As(werr, &ee) && started:
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			err := fmt.Errorf("exec %q: %s killed by %v", req.Argv, s.e.cfg.runtime, ws.Signal())
			if rerr := s.reap(name); rerr != nil {
				err = fmt.Errorf("%w; %w", err, rerr)
			}
			return -1, err
		}
		s.reapIfLeft(name)
		return ee.ExitCode(), nil
	}
	if err := s.reap(name); err != nil {
		return -1, fmt.Errorf("exec %q: %s run %s: %w%s; %w", req.Argv, s.e.cfg.runtime, name, werr, runtimeLog(logFile), err)
	}
	if code, ok := execFailure(logFile); ok {
		return code, nil // runc has said why on the command's stderr
	}
	return -1, fmt.Errorf("exec %q: %s run %s: %w%s", req.Argv, s.e.cfg.runtime, name, werr, runtimeLog(logFile))
}

// startLocked starts cmd from a goroutine locked to its OS thread until
// cmd exits. Pdeathsig fires when the thread that forked the child dies,
// not the process; Go may end a thread while its children run (when a
// goroutine exits locked to it), which would kill a build at random.
// With linux32 the thread forks with the 32-bit personality, which the
// runtime and the container's processes inherit: runc before 1.2 ignores
// the config's linux.personality (crun and runc 1.2 apply it themselves).
func startLocked(cmd *exec.Cmd, linux32 bool) (<-chan error, error) {
	started := make(chan error, 1)
	waited := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
		err := withPersonality(linux32, cmd.Start)
		if err != nil {
			started <- err
			return
		}
		started <- nil
		waited <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return waited, nil
}

// kill stops container name and returns once its `runc run` has exited:
// SIGKILL to its init (the pid namespace takes every other process with
// it; in the created state, before the command starts, runc run then fails
// and destroys the container), retried while runc is still creating it.
// If runc does not exit within the kill grace it is killed itself, and so
// is everything in the container's cgroups (the pipes runc's children hold
// would keep Wait waiting). reap must follow: a runc killed mid-create
// leaves what only reap finds.
func (s *session) kill(name string, cmd *exec.Cmd, waited <-chan error) {
	deadline := time.After(s.e.cfg.killGrace)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		kctx, cancel := context.WithTimeout(context.Background(), runtimeTimeout)
		out, err := s.e.cfg.runtimeCmd(kctx, "kill", name, "KILL").CombinedOutput()
		cancel()
		if err != nil {
			s.log.Debug("runtime kill", "container", name, "err", err, "out", strings.TrimSpace(string(out)))
		}
		select {
		case <-waited:
			return
		case <-tick.C:
		case <-deadline:
			s.log.Warn("runtime did not exit after kill; killing it", "container", name)
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			killCgroups(containerCgroups(name), reapTimeout)
			<-waited
			return
		}
	}
}

// reap makes sure nothing of container name is left (see reap in
// reap.go); what it cannot make sure of is remembered for Close.
func (s *session) reap(name string) error {
	err := reap(s.e.cfg, name)
	if err != nil {
		s.log.Error("container may be left behind", "container", name, "err", err)
		s.mu.Lock()
		if s.leaked == nil {
			s.leaked = map[string]error{}
		}
		s.leaked[name] = err
		s.mu.Unlock()
	}
	return err
}

func (s *session) isLeaked(name string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.leaked[name]
	return ok
}

// reapIfLeft reaps container name if its state directory or a cgroup of
// it is still there after its runc exited by itself (runc removes both
// when it deletes the container): a few stats on the normal path.
func (s *session) reapIfLeft(name string) {
	if sd := s.e.cfg.stateDir(name); exists(sd) || len(containerCgroups(name)) > 0 {
		s.log.Warn("container left after its runtime exited; reaping it", "container", name)
		s.reap(name)
	}
}

// execFailure recognises the runtime failing to exec the command itself
// (a missing program, a file that is not executable): that is the
// command's result, 127 or 126 as a shell reports it, not trouble with the
// sandbox. runc says `unable to start container process: exec: "prog":
// executable file not found in $PATH` (or stat ...: no such file or
// directory, permission denied); crun says "executable file `prog` not
// found in $PATH: No such file or directory" or "open executable:
// Permission denied" (Operation not permitted for a directory).
func execFailure(logFile string) (int, bool) {
	msg := runtimeLog(logFile)
	switch {
	case strings.Contains(msg, `unable to start container process: exec: "`):
		switch {
		case strings.Contains(msg, "executable file not found"), strings.Contains(msg, "no such file or directory"):
			return 127, true
		case strings.Contains(msg, "permission denied"), strings.Contains(msg, "exec format error"):
			return 126, true
		}
	case strings.Contains(msg, "executable file `") && strings.Contains(msg, "` not found"):
		return 127, true
	case strings.Contains(msg, "open executable: Permission denied"), strings.Contains(msg, "open executable: Operation not permitted"):
		return 126, true
	}
	return 0, false
}

// runtimeLog returns the error lines of runc's JSON log, for an error.
func runtimeLog(file string) string {
	b, err := os.ReadFile(file)
	if err != nil {
		return ""
	}
	var msgs []string
	for _, line := range strings.Split(string(b), "\n") {
		var e struct{ Level, Msg string }
		if json.Unmarshal([]byte(line), &e) == nil && (e.Level == "error" || e.Level == "fatal") {
			msgs = append(msgs, e.Msg)
		}
	}
	if len(msgs) == 0 {
		return ""
	}
	return ": " + strings.Join(msgs, "; ")
}

// CopyIn unpacks a tar stream into dir inside the session's root.
func (s *session) CopyIn(ctx context.Context, dir string, r io.Reader) error {
	if _, err := s.begin(); err != nil {
		return fmt.Errorf("copy into %s: %w", dir, err)
	}
	defer s.wg.Done()
	if _, err := tarfs.Extract(ctx, s.root, dir, r, tarfs.Options{Chown: os.Geteuid() == 0, Logger: s.log}); err != nil {
		return fmt.Errorf("copy into %s: %w", dir, err)
	}
	return nil
}

// CopyOut writes path inside the session's root to w as a tar stream.
func (s *session) CopyOut(ctx context.Context, path string, w io.Writer) error {
	if _, err := s.begin(); err != nil {
		return fmt.Errorf("copy out %s: %w", path, err)
	}
	defer s.wg.Done()
	if err := tarfs.Archive(ctx, s.root, path, w); err != nil {
		return fmt.Errorf("copy out %s: %w", path, err)
	}
	return nil
}

// Close kills running commands (each Exec returns only once its container
// is gone), unmounts the root and removes the session directory. If a
// container could not be made sure of, it tries again and, failing, keeps
// the root mounted (never detached under a live container), the directory
// and its lock, and returns the error: Sweep takes them once this process
// is gone. Later calls wait for the first and return its result.
func (s *session) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
		var errs []error
		for name := range s.leaked { // no Exec is left to write it
			if err := reap(s.e.cfg, name); err != nil {
				errs = append(errs, err)
			}
		}
		if len(errs) > 0 {
			s.closeErr = fmt.Errorf("close session %s: %w", s.id, errors.Join(errs...))
			s.log.Error("session not closed: containers may be left behind", "err", s.closeErr)
			return
		}
		s.closeErr = s.teardown()
		if s.closeErr == nil {
			s.log.Info("session closed")
		}
	})
	return s.closeErr
}

func (s *session) teardown() error {
	if err := unmountRoot(s.root); err != nil {
		// Keep the directory: removing under a live mount would reach into it.
		return fmt.Errorf("close session %s: %w", s.id, err)
	}
	if err := os.RemoveAll(s.dir); err != nil {
		return fmt.Errorf("close session %s: remove %s: %w", s.id, s.dir, err)
	}
	s.lock.Close()
	return nil
}

// unmountRoot unmounts root if it is a mount point, lazily if busy, and
// checks it is gone.
func unmountRoot(root string) error {
	if !isMountPoint(root) {
		return nil
	}
	err := unix.Unmount(root, 0)
	if err == unix.EBUSY {
		err = unix.Unmount(root, unix.MNT_DETACH)
	}
	if err != nil && err != unix.EINVAL {
		return fmt.Errorf("unmount %s: %w", root, err)
	}
	if isMountPoint(root) {
		return fmt.Errorf("unmount %s: still mounted", root)
	}
	return nil
}

// mountPoints returns the mount points in /proc/self/mountinfo.
func mountPoints() []string {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) > 4 {
			out = append(out, unescapeMount(f[4]))
		}
	}
	return out
}

func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if v, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

func isMountPoint(p string) bool {
	for _, m := range mountPoints() {
		if m == p {
			return true
		}
	}
	return false
}
