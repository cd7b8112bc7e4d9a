// Package executor defines how a build runs somewhere isolated: the small
// interface every backend implements (local OCI runtime now, a Kubernetes
// Jobs backend later) and the plain-data Spec a build asks for.
//
// A Session is one build's sandbox: a root filesystem made from the arch's
// image that persists across the commands run in it (prepare, then build),
// each command with or without network. Files move in and out as tar
// streams, so a remote backend needs no shared disk.
package executor

import (
	"context"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
)

// Executor is a place builds can run.
type Executor interface {
	// Check says why the backend cannot run builds for arch on this host
	// (runtime missing, no binfmt handler for a foreign arch, ...), with
	// what to install; nil when it can.
	Check(ctx context.Context, arch string) error
	// Start creates a sandbox for spec. The caller must Close it.
	Start(ctx context.Context, spec Spec) (Session, error)
}

// Session is one running sandbox.
type Session interface {
	// Exec runs one command to completion. A non-zero exit is a result
	// (exitCode), not an error; err is for trouble with the sandbox itself.
	// A program that cannot be found exits 127 and one that cannot be
	// executed 126, as in a shell. Cancelling ctx kills the command and
	// everything it started; Exec then returns an error wrapping ctx.Err().
	// Malformed requests (empty Argv, relative Dir, an Env entry without
	// "=", a User that is not numeric "uid:gid") are errors.
	Exec(ctx context.Context, req ExecRequest) (exitCode int, err error)
	// CopyIn unpacks a tar stream into dir inside the sandbox.
	CopyIn(ctx context.Context, dir string, tar io.Reader) error
	// CopyOut writes path (a file or directory inside the sandbox) to w as
	// a tar stream.
	CopyOut(ctx context.Context, path string, w io.Writer) error
	// Close kills anything still running and removes the sandbox, its
	// mounts and its files. It is safe to call more than once.
	Close() error
}

// UsageReporter is implemented by sessions that can tell what their
// commands used.
type UsageReporter interface {
	Usage() Usage
}

// Usage is what a session's commands used so far.
type Usage struct {
	// CPU is user plus system time of the commands and what they waited
	// for.
	CPU time.Duration
}

// Spec is what a build asks for. It is plain data: no backend types.
type Spec struct {
	ID       string // unique, readable: used in container names ("x86_64-hello-1.0-r0-1")
	Arch     string // apk arch of the image and the build (x86_64, aarch64, ...)
	Image    string // image reference ("docker.io/library/alpine:edge") or a local source
	Hostname string
	Limits   Limits
	// Prepare derives the session's root from Image before it starts;
	// the zero value uses the image as it is.
	Prepare Prepare
	// Mounts are host directories the sandbox sees, read-only unless
	// Writable (a backend without a shared disk refuses them in Start).
	Mounts []Mount
}

// Prepare asks for a build root derived from the image: Packages
// installed by the image's own apk from Repositories, trusting the public
// keys in KeysDir. A backend makes it once per image digest, package
// list, repository state and keys, and reuses it until one changes.
type Prepare struct {
	Packages []string // apk add arguments ("build-base", "abuild")
	// Repositories are the lines of the root's /etc/apk/repositories:
	// URLs, or absolute host paths of local repositories (shared
	// read-only at the same path while packages install). Empty keeps the
	// image's own file.
	Repositories []string
	// KeysDir holds the public keys (*.pub) added to /etc/apk/keys; ""
	// adds none.
	KeysDir string
}

// IsZero says whether p asks for nothing.
func (p Prepare) IsZero() bool {
	return len(p.Packages) == 0 && len(p.Repositories) == 0 && p.KeysDir == ""
}

// Mount makes a host directory visible inside a sandbox.
type Mount struct {
	Source   string // absolute path on the host
	Target   string // absolute path inside the sandbox, not "/"
	Writable bool
}

// CheckMounts reports the first mount a backend must refuse: a relative
// or root target, a relative source, a target twice, or a target under a
// system directory the sandbox makes itself (/proc, /dev, /sys).
func CheckMounts(ms []Mount) error {
	seen := map[string]bool{}
	for _, m := range ms {
		t := path.Clean(m.Target)
		switch {
		case !path.IsAbs(m.Source) || !path.IsAbs(m.Target):
			return fmt.Errorf("mount %q on %q: paths must be absolute", m.Source, m.Target)
		case t == "/":
			return fmt.Errorf("mount %q on /: not allowed", m.Source)
		case seen[t]:
			return fmt.Errorf("mount target %q given twice", t)
		}
		for _, sys := range []string{"/proc", "/dev", "/sys"} {
			if t == sys || strings.HasPrefix(t, sys+"/") {
				return fmt.Errorf("mount %q on %q: %s belongs to the sandbox", m.Source, t, sys)
			}
		}
		seen[t] = true
	}
	return nil
}

// Limits bound a sandbox's resources. Zero means no limit.
type Limits struct {
	MemoryBytes int64
	Pids        int64
}

// ExecRequest is one command inside a session.
type ExecRequest struct {
	Argv    []string
	Env     []string // KEY=value; the sandbox starts with an empty environment plus PATH
	Dir     string   // working directory inside the sandbox; default "/"
	User    string   // "" runs as root inside the sandbox; otherwise "uid:gid"
	Network bool     // false: loopback only
	Stdout  io.Writer
	Stderr  io.Writer
}
