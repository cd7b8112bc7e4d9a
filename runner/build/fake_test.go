package build

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/executor"
)

// A minimal in-memory executor for the scheduling unit tests: a session's
// "filesystem" is a map of the files copied in; Exec calls the test's
// behaviour for the job (found from the sandbox's PKGNAME variable).

type fakeBehavior func(ctx context.Context, s *fakeSession, req executor.ExecRequest) (int, error)

type fakeExec struct {
	t        testing.TB
	mu       sync.Mutex
	behavior map[string]fakeBehavior // by pkgname; nil: build the expected packages
	startErr map[string]error        // by Spec.ID prefix arch-pkgname
	checkErr map[string]error        // by arch
	open     int
	started  []string // Spec.IDs in start order
	sessions []*fakeSession
}

func newFakeExec(t testing.TB) *fakeExec {
	return &fakeExec{t: t, behavior: map[string]fakeBehavior{}, startErr: map[string]error{}, checkErr: map[string]error{}}
}

func (f *fakeExec) Check(ctx context.Context, arch string) error { return f.checkErr[arch] }

func (f *fakeExec) Start(ctx context.Context, spec executor.Spec) (executor.Session, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for k, err := range f.startErr {
		if strings.HasPrefix(spec.ID, k+"-") {
			return nil, err
		}
	}
	f.open++
	f.started = append(f.started, spec.ID)
	s := &fakeSession{f: f, spec: spec, files: map[string][]byte{}}
	f.sessions = append(f.sessions, s)
	return s, nil
}

func (f *fakeExec) openSessions() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.open
}

type fakeSession struct {
	f      *fakeExec
	spec   executor.Spec
	mu     sync.Mutex
	files  map[string][]byte // path (no leading slash) -> content
	execs  []executor.ExecRequest
	closed bool
}

func (s *fakeSession) env(req executor.ExecRequest, key string) string {
	for _, kv := range req.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == key {
			return v
		}
	}
	return ""
}

func (s *fakeSession) Exec(ctx context.Context, req executor.ExecRequest) (int, error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return -1, errors.New("session closed")
	}
	s.execs = append(s.execs, req)
	s.mu.Unlock()
	if b := s.f.behavior[s.env(req, "PKGNAME")]; b != nil {
		return b(ctx, s, req)
	}
	return 0, nil
}

func (s *fakeSession) CopyIn(ctx context.Context, dir string, r io.Reader) error {
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.files[h.Name] = b
		s.mu.Unlock()
	}
}

// put adds a file under $REPODEST (as a build would).
func (s *fakeSession) put(name string, b []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[strings.TrimPrefix(guestRepoDest, "/")+"/main/"+s.spec.Arch+"/"+name] = b
}

func (s *fakeSession) CopyOut(ctx context.Context, path string, w io.Writer) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	prefix := strings.TrimPrefix(path, "/") + "/"
	tw := tar.NewWriter(w)
	for name, b := range s.files {
		if !strings.HasPrefix(name, prefix) || strings.HasSuffix(name, "/") {
			continue
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(name, prefix), Mode: 0o644, Size: int64(len(b))}); err != nil {
			return err
		}
		if _, err := tw.Write(b); err != nil {
			return err
		}
	}
	return tw.Close()
}

func (s *fakeSession) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.closed {
		s.closed = true
		s.f.mu.Lock()
		s.f.open--
		s.f.mu.Unlock()
	}
	return nil
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

// buildsOK is the behaviour of a good build: on the build command, put
// the job's expected packages into $REPODEST.
func buildsOK(t testing.TB, pkgs ...string) fakeBehavior {
	return func(ctx context.Context, s *fakeSession, req executor.ExecRequest) (int, error) {
		if isBuild(req) {
			for _, p := range pkgs {
				s.put(p+"-"+s.env(req, "PKGVER")+".apk", makeAPK(t, p, s.env(req, "PKGVER"), s.env(req, "CARCH")))
			}
		}
		return 0, nil
	}
}

func isBuild(req executor.ExecRequest) bool {
	return len(req.Argv) == 3 && req.Argv[0] == "/bin/sh" && strings.Contains(req.Argv[2], "build-cmd")
}

// failsWith prints lines and exits with code in the build phase.
func failsWith(code int, lines ...string) fakeBehavior {
	return func(ctx context.Context, s *fakeSession, req executor.ExecRequest) (int, error) {
		if isBuild(req) {
			for _, l := range lines {
				fmt.Fprintln(req.Stderr, l)
			}
			return code, nil
		}
		return 0, nil
	}
}

// hangs prints every `every` (never, when 0) until ctx ends, in the build.
func hangs(every time.Duration) fakeBehavior {
	return func(ctx context.Context, s *fakeSession, req executor.ExecRequest) (int, error) {
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
				return 137, nil
			case <-tick:
				fmt.Fprintln(req.Stdout, "still working")
			}
		}
	}
}

func filesUnder(s *fakeSession, prefix string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for name := range s.files {
		if strings.HasPrefix(name, prefix) && !strings.HasSuffix(name, "/") {
			out = append(out, strings.TrimPrefix(name, prefix))
		}
	}
	return out
}
