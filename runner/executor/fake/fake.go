package fake

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/runner/image/tarfs"
)

// Handler runs one command of a session whose root is dir. It returns the
// exit code, or an error for sandbox trouble.
type Handler func(ctx context.Context, root string, req executor.ExecRequest) (int, error)

// Exec is one recorded command.
type Exec struct {
	SessionID string // Spec.ID
	Req       executor.ExecRequest
}

// Executor is the fake. The zero value is not usable; call New.
type Executor struct {
	handler  Handler
	checkErr map[string]error

	mu    sync.Mutex
	specs []executor.Spec
	execs []Exec
}

var _ executor.Executor = (*Executor)(nil)

// Option configures the fake.
type Option func(*Executor)

// WithHandler replaces running host processes with h.
func WithHandler(h Handler) Option { return func(e *Executor) { e.handler = h } }

// WithCheckError makes Check (and Start) fail for arch with err, to test
// how callers handle an unusable arch.
func WithCheckError(arch string, err error) Option {
	return func(e *Executor) { e.checkErr[arch] = err }
}

// New returns a fake executor.
func New(opts ...Option) *Executor {
	e := &Executor{handler: HostProcess, checkErr: map[string]error{}}
	for _, o := range opts {
		o(e)
	}
	return e
}

// Specs returns the specs of every Start so far.
func (e *Executor) Specs() []executor.Spec {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]executor.Spec(nil), e.specs...)
}

// Execs returns every command run so far, in order.
func (e *Executor) Execs() []Exec {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]Exec(nil), e.execs...)
}

// Check fails for an empty arch or one set with WithCheckError.
func (e *Executor) Check(ctx context.Context, arch string) error {
	if arch == "" {
		return errors.New("check: empty arch")
	}
	return e.checkErr[arch]
}

// Start makes a session directory.
func (e *Executor) Start(ctx context.Context, spec executor.Spec) (executor.Session, error) {
	if err := e.Check(ctx, spec.Arch); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.ID, err)
	}
	if spec.ID == "" {
		return nil, errors.New("start session: empty Spec.ID")
	}
	if err := executor.CheckMounts(spec.Mounts); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.ID, err)
	}
	dir, err := os.MkdirTemp("", "apkfarm-fake-")
	if err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.ID, err)
	}
	// Mounts become symbolic links: the fake runs host processes and
	// does not enforce read-only.
	for _, m := range spec.Mounts {
		link := filepath.Join(dir, filepath.FromSlash(path.Clean(m.Target)))
		if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
			return nil, fmt.Errorf("start %s: %w", spec.ID, err)
		}
		if err := os.Symlink(m.Source, link); err != nil {
			return nil, fmt.Errorf("start %s: %w", spec.ID, err)
		}
	}
	e.mu.Lock()
	e.specs = append(e.specs, spec)
	e.mu.Unlock()
	s := &session{e: e, spec: spec, root: dir}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	return s, nil
}

type session struct {
	e      *Executor
	spec   executor.Spec
	root   string
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	closed    bool
	wg        sync.WaitGroup
	closeOnce sync.Once
	closeErr  error
}

func (s *session) begin() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("session closed")
	}
	s.wg.Add(1)
	return nil
}

func (s *session) Exec(ctx context.Context, req executor.ExecRequest) (int, error) {
	if err := s.begin(); err != nil {
		return -1, fmt.Errorf("exec %q: %w", req.Argv, err)
	}
	defer s.wg.Done()
	if err := validate(req); err != nil {
		return -1, fmt.Errorf("exec %q: %w", req.Argv, err)
	}
	s.e.mu.Lock()
	s.e.execs = append(s.e.execs, Exec{SessionID: s.spec.ID, Req: req})
	s.e.mu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.ctx, cancel) // Close kills it too
	defer stop()
	code, err := s.e.handler(ctx, s.root, req)
	if ctx.Err() != nil && err == nil {
		err = ctx.Err()
	}
	if err != nil {
		return -1, fmt.Errorf("exec %q: %w", req.Argv, err)
	}
	return code, nil
}

// validate applies the rules every backend applies.
func validate(req executor.ExecRequest) error {
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		return errors.New("empty Argv")
	}
	if req.Dir != "" && !path.IsAbs(req.Dir) {
		return fmt.Errorf("working directory %q is not absolute", req.Dir)
	}
	for _, kv := range req.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return fmt.Errorf("env entry %q is not KEY=value", kv)
		}
	}
	if req.User != "" {
		var uid, gid uint32
		if n, err := fmt.Sscanf(req.User, "%d:%d", &uid, &gid); n != 2 || err != nil {
			return fmt.Errorf("parse user %q: want numeric uid:gid", req.User)
		}
	}
	return nil
}

// HostProcess is the default Handler: Argv as a host process in
// root+Dir, in its own process group, which is killed when the command
// ends or ctx is done. User is ignored.
func HostProcess(ctx context.Context, root string, req executor.ExecRequest) (int, error) {
	dir := filepath.Join(root, filepath.FromSlash(path.Clean("/"+req.Dir)))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return -1, err
	}
	cmd := exec.Command(req.Argv[0], req.Argv[1:]...)
	cmd.Dir = dir
	cmd.Env = append([]string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}, req.Env...)
	cmd.Stdout, cmd.Stderr = req.Stdout, req.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		// As a shell reports them: 127 not found, 126 not executable.
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, os.ErrNotExist) {
			return 127, nil
		}
		if errors.Is(err, os.ErrPermission) || errors.Is(err, syscall.ENOEXEC) {
			return 126, nil
		}
		return -1, err
	}
	pgid := cmd.Process.Pid
	stop := context.AfterFunc(ctx, func() { syscall.Kill(-pgid, syscall.SIGKILL) })
	err := cmd.Wait()
	stop()
	syscall.Kill(-pgid, syscall.SIGKILL) // what it left in the background
	if ctx.Err() != nil {
		return -1, ctx.Err()
	}
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return 128 + int(ws.Signal()), nil
		}
		return ee.ExitCode(), nil
	}
	return 0, err
}

func (s *session) CopyIn(ctx context.Context, dir string, r io.Reader) error {
	if err := s.begin(); err != nil {
		return fmt.Errorf("copy into %s: %w", dir, err)
	}
	defer s.wg.Done()
	if _, err := tarfs.Extract(ctx, s.root, dir, r, tarfs.Options{}); err != nil {
		return fmt.Errorf("copy into %s: %w", dir, err)
	}
	return nil
}

func (s *session) CopyOut(ctx context.Context, p string, w io.Writer) error {
	if err := s.begin(); err != nil {
		return fmt.Errorf("copy out %s: %w", p, err)
	}
	defer s.wg.Done()
	if err := tarfs.Archive(ctx, s.root, p, w); err != nil {
		return fmt.Errorf("copy out %s: %w", p, err)
	}
	return nil
}

func (s *session) Close() error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		s.mu.Unlock()
		s.cancel()
		s.wg.Wait()
		if err := os.RemoveAll(s.root); err != nil {
			s.closeErr = fmt.Errorf("close session %s: %w", s.spec.ID, err)
		}
	})
	return s.closeErr
}
