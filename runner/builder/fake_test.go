package builder

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/runner/executor/fake"
)

// The unit tests run on the executor/fake backend with a scripted handler:
// a session's root is a temporary directory; the handler plays the build
// for the job (found from the sandbox's PKGNAME variable).

// sess is what a behaviour sees of the session a command runs in.
type sess struct {
	root string
	arch string
}

// put writes a file into $REPODEST, as a build would.
func (s sess) put(name string, b []byte) error {
	p := filepath.Join(s.root, guestRepoDest, "main", s.arch, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		return err
	}
	return os.WriteFile(p, b, 0o644)
}

type fakeBehavior func(ctx context.Context, s sess, req executor.ExecRequest) (int, error)

type fakeExec struct {
	*fake.Executor
	t        testing.TB
	behavior map[string]fakeBehavior // by pkgname; nil: succeed without output
	startErr map[string]error        // by Spec.ID prefix "arch-pkgname"

	mu    sync.Mutex
	roots map[string]bool
}

func newFakeExec(t testing.TB, opts ...fake.Option) *fakeExec {
	f := &fakeExec{t: t, behavior: map[string]fakeBehavior{}, startErr: map[string]error{}, roots: map[string]bool{}}
	f.Executor = fake.New(append([]fake.Option{fake.WithHandler(f.handle)}, opts...)...)
	return f
}

func (f *fakeExec) Start(ctx context.Context, spec executor.Spec) (executor.Session, error) {
	for k, err := range f.startErr {
		if strings.HasPrefix(spec.ID, k+"-") {
			return nil, err
		}
	}
	return f.Executor.Start(ctx, spec)
}

func (f *fakeExec) handle(ctx context.Context, root string, req executor.ExecRequest) (int, error) {
	f.mu.Lock()
	f.roots[root] = true
	f.mu.Unlock()
	if b := f.behavior[env(req, "PKGNAME")]; b != nil {
		return b(ctx, sess{root: root, arch: env(req, "CARCH")}, req)
	}
	return 0, nil
}

// openSessions counts the session roots still on disk: Close removes them.
func (f *fakeExec) openSessions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for r := range f.roots {
		if _, err := os.Stat(r); err == nil {
			n++
		}
	}
	return n
}

// startedPkgs returns the pkgname of each session, in start order.
func (f *fakeExec) startedPkgs() []string {
	var out []string
	for _, s := range f.Specs() {
		out = append(out, strings.Split(s.ID, "-")[1])
	}
	return out
}

func env(req executor.ExecRequest, key string) string {
	for _, kv := range req.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

// makeAPK returns an unsigned package.
func makeAPK(t testing.TB, name, version, arch string) []byte {
	t.Helper()
	b, err := apk.MarshalPackage(&apk.PackageSpec{
		Info:  apk.PkgInfo{Name: name, Version: version, Arch: arch, Description: name, License: "MIT", BuildDate: 1700000000, Origin: name},
		Files: []apk.File{{Name: "usr/share/" + name + "/x", Data: []byte(name + "\n")}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func isBuild(req executor.ExecRequest) bool {
	return len(req.Argv) == 3 && req.Argv[0] == "/bin/sh" && strings.Contains(req.Argv[2], "build-cmd")
}

// buildsOK is the behaviour of a good build: on the build command, put the
// packages into $REPODEST.
func buildsOK(t testing.TB, pkgs ...string) fakeBehavior {
	return func(ctx context.Context, s sess, req executor.ExecRequest) (int, error) {
		if isBuild(req) {
			for _, p := range pkgs {
				v := env(req, "PKGVER")
				if err := s.put(p+"-"+v+".apk", makeAPK(t, p, v, s.arch)); err != nil {
					return -1, err
				}
			}
		}
		return 0, nil
	}
}

// failsWith prints lines and exits with code in the build phase.
func failsWith(code int, lines ...string) fakeBehavior {
	return func(ctx context.Context, s sess, req executor.ExecRequest) (int, error) {
		if isBuild(req) {
			for _, l := range lines {
				fmt.Fprintln(req.Stderr, l)
			}
			return code, nil
		}
		return 0, nil
	}
}

// hangs prints every `every` (never, when 0) in the build until ctx ends.
func hangs(every time.Duration) fakeBehavior {
	return func(ctx context.Context, s sess, req executor.ExecRequest) (int, error) {
		if !isBuild(req) {
			return 0, nil
		}
		var tick <-chan time.Time
		if every > 0 {
			t := time.NewTicker(every)
			defer t.Stop()
			tick = t.C
		}
		for {
			select {
			case <-ctx.Done():
				return -1, ctx.Err()
			case <-tick:
				fmt.Fprintln(req.Stdout, "still working")
			}
		}
	}
}

// filesUnder lists the files below dir (relative names).
func filesUnder(dir string) []string {
	var out []string
	filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(dir, p)
			out = append(out, rel)
		}
		return nil
	})
	return out
}
