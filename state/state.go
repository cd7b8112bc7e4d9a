package state

import (
	"fmt"
	"sort"
	"time"
)

// Schema is the version of the status.json format this package reads and
// writes. It changes when a field changes meaning or is removed; adding a
// field does not change it.
const Schema = 1

// FileName is the name of the state file inside the state directory.
const FileName = "status.json"

// MaxAttempts is how many attempts are kept per aport: the oldest are
// dropped first.
const MaxAttempts = 10

// Aport statuses.
const (
	Built    = "built"      // built in the last run that tried it; packages staged or published
	Failed   = "failed"     // the last attempt failed
	Blocked  = "blocked"    // not built because a dependency failed (BlockedBy)
	UpToDate = "up-to-date" // the published version matches the tree
	Pending  = "pending"    // to be built: not tried yet, or the run stopped first
	Excluded = "excluded"   // not built for this arch (arch="!x", config exclusion)
	Invalid  = "invalid"    // the APKBUILD could not be read (Reason says why)
)

// Failure classes of an attempt.
const (
	ClassBuildError  = "build-error"  // a command exited non-zero or the output check failed
	ClassTimeout     = "timeout"      // the wall-clock limit was reached
	ClassIdleTimeout = "idle-timeout" // no log output for the idle limit
	ClassInfra       = "infra"        // the executor failed: not the package's fault
	ClassQemuCrash   = "qemu-crash"   // foreign arch: SIGSEGV/SIGILL or qemu's "uncaught target signal"
)

// Status is the whole state file.
type Status struct {
	Schema int `json:"schema"`
	// Generated is when the content last changed: a run that changes
	// nothing else leaves the file, and this time, as they were.
	Generated time.Time `json:"generated"`
	// Arches maps an apk arch to its aports.
	Arches map[string]*Arch `json:"arches"`
	// Mirrors maps a mirror's name to what the last pushes to it did.
	Mirrors map[string]*Mirror `json:"mirrors,omitempty"`
}

// Arch is one arch's aports, by aport name (the APKBUILD's pkgname).
type Arch struct {
	Aports map[string]*Aport `json:"aports"`
}

// Aport is what is known about one APKBUILD on one arch.
type Aport struct {
	Status string `json:"status"`
	// Dir is the aport's directory relative to the tree ("main/hello").
	Dir string `json:"dir,omitempty"`
	// Version is the tree's version (pkgver-rpkgrel).
	Version string `json:"version,omitempty"`
	// Published is the version in the published repository, if any.
	Published string `json:"published,omitempty"`
	// Hash is the hex SHA-256 of the APKBUILD the status is about.
	Hash string `json:"apkbuild_hash,omitempty"`
	// Reason explains failed, blocked, excluded and invalid.
	Reason string `json:"reason,omitempty"`
	// BlockedBy is, for blocked, the package whose failure blocks this one.
	BlockedBy string `json:"blocked_by,omitempty"`
	// BuildDepends are the aports of the tree (their pkgnames) this one
	// needs to build on this arch, sorted: what its makedepends, depends
	// and checkdepends resolve to inside the tree. The site shows them and
	// works out reverse dependencies from them.
	BuildDepends []string `json:"build_depends,omitempty"`
	// Attempts are the build attempts, oldest first, at most MaxAttempts.
	Attempts []Attempt `json:"attempts,omitempty"`
	// Retry is set by `run retry`: the failure memory is ignored, so the
	// next run builds the aport again; the next attempt clears it.
	Retry bool `json:"retry,omitempty"`
}

// Attempt is one try at building an aport.
type Attempt struct {
	Version string    `json:"version"`
	Hash    string    `json:"apkbuild_hash,omitempty"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	// DurationMS is End-Start in milliseconds.
	DurationMS int64 `json:"duration_ms"`
	// ExitCode is the failing command's exit code (0 on success, -1 when
	// no command finished: timeout, infra).
	ExitCode int `json:"exit_code"`
	// Class is the failure class; empty when the attempt succeeded.
	Class string `json:"class,omitempty"`
	// Log is the log file's path relative to the state directory.
	Log string `json:"log,omitempty"`
	// ErrorLines are the first error-looking lines of the log, or what
	// the runner found wrong (a missing package).
	ErrorLines []string `json:"error_lines,omitempty"`
}

// Failed reports whether the attempt failed.
func (a Attempt) Failed() bool { return a.Class != "" }

// New returns an empty state.
func New() *Status {
	return &Status{Schema: Schema, Arches: map[string]*Arch{}}
}

// Aport returns the entry for (arch, name), or nil.
func (s *Status) Aport(arch, name string) *Aport {
	a := s.Arches[arch]
	if a == nil {
		return nil
	}
	return a.Aports[name]
}

// Ensure returns the entry for (arch, name), creating it (status pending)
// when missing.
func (s *Status) Ensure(arch, name string) *Aport {
	if s.Arches == nil {
		s.Arches = map[string]*Arch{}
	}
	a := s.Arches[arch]
	if a == nil {
		a = &Arch{Aports: map[string]*Aport{}}
		s.Arches[arch] = a
	}
	if a.Aports == nil {
		a.Aports = map[string]*Aport{}
	}
	p := a.Aports[name]
	if p == nil {
		p = &Aport{Status: Pending}
		a.Aports[name] = p
	}
	return p
}

// AddAttempt appends at, dropping the oldest attempts beyond MaxAttempts,
// and clears Retry.
func (p *Aport) AddAttempt(at Attempt) {
	p.Retry = false
	p.Attempts = append(p.Attempts, at)
	if n := len(p.Attempts) - MaxAttempts; n > 0 {
		p.Attempts = append(p.Attempts[:0:0], p.Attempts[n:]...)
	}
}

// Failure is the failure memory of one package: its latest failed attempts
// for one version and APKBUILD hash.
type Failure struct {
	Version string
	Hash    string
	// Attempts counts the consecutive failed attempts, newest backwards,
	// with this Version and Hash.
	Attempts int
	// Last is the end of the newest failed attempt; Class its class.
	Last  time.Time
	Class string
}

// Failures returns the failure memory of (arch, pkgname): the run of failed
// attempts at the end of its history that share the newest attempt's version
// and APKBUILD hash. ok is false when the newest attempt succeeded or there
// is none. Infra failures are skipped: they are not the package's fault and
// must not hold it back.
func (s *Status) Failures(arch, pkgname string) (f Failure, ok bool) {
	p := s.Aport(arch, pkgname)
	if p == nil || p.Retry {
		return Failure{}, false
	}
	for i := len(p.Attempts) - 1; i >= 0; i-- {
		at := p.Attempts[i]
		if at.Class == ClassInfra {
			continue
		}
		if !at.Failed() {
			break
		}
		if f.Attempts == 0 {
			f = Failure{Version: at.Version, Hash: at.Hash, Last: at.End, Class: at.Class}
		} else if at.Version != f.Version || at.Hash != f.Hash {
			break
		}
		f.Attempts++
	}
	return f, f.Attempts > 0
}

// Check reports the first problem that makes s unusable: a wrong schema,
// an unknown status or class.
func (s *Status) Check() error {
	if s.Schema != Schema {
		return fmt.Errorf("schema %d: this apkfarm reads schema %d", s.Schema, Schema)
	}
	for _, arch := range sortedKeys(s.Arches) {
		a := s.Arches[arch]
		if a == nil {
			return fmt.Errorf("arch %q: null", arch)
		}
		for _, name := range sortedKeys(a.Aports) {
			p := a.Aports[name]
			if p == nil {
				return fmt.Errorf("arch %q aport %q: null", arch, name)
			}
			switch p.Status {
			case Built, Failed, Blocked, UpToDate, Pending, Excluded, Invalid:
			default:
				return fmt.Errorf("arch %q aport %q: unknown status %q", arch, name, p.Status)
			}
			for i, at := range p.Attempts {
				switch at.Class {
				case "", ClassBuildError, ClassTimeout, ClassIdleTimeout, ClassInfra, ClassQemuCrash:
				default:
					return fmt.Errorf("arch %q aport %q attempt %d: unknown class %q", arch, name, i+1, at.Class)
				}
			}
		}
	}
	return nil
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
