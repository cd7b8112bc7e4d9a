package builder

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/state"
)

// Job is one aport to build for one arch. cmd/run makes jobs from the plan.
type Job struct {
	Arch    string // apk arch
	Pkgname string // the APKBUILD's pkgname
	Version string // pkgver-rpkgrel
	// Dir is the aport's directory on the host (holding the APKBUILD).
	Dir string
	// Repo is the tree's repository the aport is in ("main", "device"):
	// the aport is copied to /home/build/aports/<Repo>/<basename of Dir>,
	// which is where abuild takes its $repo from. Default "main".
	Repo string
	// Hash is the hex SHA-256 of the APKBUILD, recorded with attempts.
	Hash string
	// Batch orders the builds of an arch: batch n starts when every build
	// of the batches before it is done.
	Batch int
	// CriticalPath is the length of the longest chain of builds that wait
	// for this one; within a batch the longest goes first.
	CriticalPath int
	// Deps are the jobs this one needs: pkgnames of jobs of the same
	// arch, or "arch/pkgname" for a job of another arch (a noarch aport
	// built on the native arch). They must be in earlier batches. This job
	// starts once they are built, and their packages (of this arch or
	// noarch) are offered to it; if one fails, this job is blocked. Names
	// not among the jobs are ignored (already published).
	Deps []string
	// Packages are the package names the build must produce for this
	// arch: pkgname and the subpackages.
	Packages []string
	// BuildDeps are the apk dependency strings installed before the build
	// (makedepends, checkdepends, depends), from the image's repositories
	// and the packages this run built.
	BuildDeps []string
	// Net allows network in the build phase (options="net").
	Net bool
	// Timeout overrides Options.Timeout for this job when non-zero.
	Timeout time.Duration
	// Sources are the file names the aport's remote sources are saved as
	// in $SRCDEST ("name::url" gives name, else the URL's last
	// component). With Options.SourcesDir they are marked used after the
	// build, so that PruneSources keeps them.
	Sources []string
}

func (j *Job) key() string { return j.Arch + "/" + j.Pkgname }

// depKey is the key of the job a dependency d of j names: "arch/pkgname"
// as it is, a plain pkgname on j's arch.
func (j *Job) depKey(d string) string {
	if strings.Contains(d, "/") {
		return d
	}
	return j.Arch + "/" + d
}

func (j *Job) repo() string {
	if j.Repo == "" {
		return "main"
	}
	return j.Repo
}

// Defaults of Options.
const (
	DefaultTimeout     = 3 * time.Hour
	DefaultIdleTimeout = 30 * time.Minute
	DefaultLogMaxBytes = 64 << 20

	// DefaultPrepareCommand makes a throwaway abuild key when there is
	// none and trusts it (abuild signs what it builds and the index it
	// writes; apkfarm re-signs with the release key, which builds never
	// see), then fetches and verifies the sources.
	DefaultPrepareCommand = `[ -f "$HOME/.abuild/abuild.conf" ] || { abuild-keygen -a -n && cp "$HOME"/.abuild/*.pub /etc/apk/keys/ 2>/dev/null || :; }; ` +
		`abuild -F -s "$SRCDEST" fetch verify`
	// DefaultBuildCommand runs abuild's whole build (unpack, prepare,
	// build, check, package, split, index) into $REPODEST, as root (-F),
	// without installing dependencies (-d: the runner did), no colours.
	DefaultBuildCommand = `abuild -F -d -m -s "$SRCDEST" -P "$REPODEST"`
)

// Paths inside the sandbox; the commands also get them as variables.
const (
	guestHome     = "/home/build"
	guestAports   = guestHome + "/aports"
	guestRepoDest = guestHome + "/packages"   // $REPODEST
	guestSrcDest  = guestHome + "/sources"    // $SRCDEST
	guestLocal    = guestHome + "/local-repo" // apk repository of this run's packages
	guestCcache   = guestHome + "/.ccache"    // $CCACHE_DIR, abuild's default
	// guestRepos holds the repositories of Options.Repositories that are
	// host directories, mounted read-only at guestRepos/<n>.
	guestRepos = "/var/cache/apkfarm/repos"
)

// Options are the parameters of a run of builds.
type Options struct {
	// Jobs is the number of builds running at once, over all arches.
	// Default 1.
	Jobs int
	// Image is the build image for every arch without an entry in Images:
	// a reference ("docker.io/library/alpine:edge") or a local source the
	// executor's image store understands.
	Image  string
	Images map[string]string
	// Timeout bounds one attempt (both phases); Job.Timeout overrides it.
	// IdleTimeout kills a build that printed nothing for that long; a
	// negative value disables it. LogMaxBytes caps each log; past it the
	// output is discarded (a marker line says so).
	Timeout     time.Duration
	IdleTimeout time.Duration
	LogMaxBytes int64
	// PrepareCommand (network on) and BuildCommand (network per
	// options="net") are run by /bin/sh -c in the aport directory with
	// HOME, REPODEST, SRCDEST, APORTDIR, PKGNAME, PKGVER, CARCH and
	// APKFARM_LOCAL_REPO set, plus Env. Defaults: the Default*Command
	// constants, for an image with abuild installed.
	PrepareCommand string
	BuildCommand   string
	Env            []string
	// User runs the prepare and build commands as "uid:gid" ("" root).
	// Dependencies are always installed as root.
	User string
	// MemoryBytes and Pids limit each build's sandbox (0: no limit).
	MemoryBytes int64
	Pids        int64
	// StateDir holds logs/ and staging/ (required).
	StateDir string
	// Repositories are where build dependencies come from, in order of
	// preference, before the image's own repositories and the packages
	// this run built: the farm's published repository, then upstream.
	// Keys are the public keys (file name → PEM) that sign them, copied
	// into the sandbox's /etc/apk/keys.
	Repositories []Repository
	Keys         map[string][]byte
	// Progress is told about builds starting and ending (default: nothing).
	Progress Progress
	// Prepare asks the executor for a build root made once from the image
	// (packages installed from repositories, keys; see
	// executor.Prepare) instead of the image as it is.
	Prepare executor.Prepare
	// SourcesDir is a host directory kept across builds and runs as
	// $SRCDEST: every build of the run shares it read-write, abuild
	// fetches into it what is not there yet and verifies what is with the
	// APKBUILD's checksums (renaming a file that fails away). "" gives each
	// build an empty $SRCDEST. See PruneSources.
	SourcesDir string
	// CcacheDir, when set, holds a ccache directory per arch,
	// <CcacheDir>/<arch>, mounted at /home/build/.ccache with USE_CCACHE=1
	// (abuild then puts /usr/lib/ccache/bin first in PATH; the image needs
	// ccache). CcacheSize caps each (CCACHE_MAXSIZE; 0 is ccache's
	// default).
	CcacheDir  string
	CcacheSize int64
	// NativeArches are the apk arches the host runs without emulation
	// (cmd/run passes oci.NativeArches()); builds for other arches run
	// under qemu, and their crashes are classed qemu-crash. Required.
	NativeArches []string
}

func (o Options) withDefaults() Options {
	if o.Jobs <= 0 {
		o.Jobs = 1
	}
	if o.Timeout == 0 {
		o.Timeout = DefaultTimeout
	}
	if o.IdleTimeout == 0 {
		o.IdleTimeout = DefaultIdleTimeout
	}
	if o.LogMaxBytes == 0 {
		o.LogMaxBytes = DefaultLogMaxBytes
	}
	if o.PrepareCommand == "" {
		o.PrepareCommand = DefaultPrepareCommand
	}
	if o.BuildCommand == "" {
		o.BuildCommand = DefaultBuildCommand
	}
	if o.Progress == nil {
		o.Progress = nopProgress{}
	}
	return o
}

// image returns the image for arch.
func (o *Options) image(arch string) string {
	if img := o.Images[arch]; img != "" {
		return img
	}
	return o.Image
}

// check reports every problem with the options and jobs at once.
func check(o *Options, jobs []Job) error {
	var errs []error
	if o.StateDir == "" {
		errs = append(errs, errors.New("build options: state directory not set"))
	}
	if len(o.NativeArches) == 0 {
		errs = append(errs, errors.New("build options: native arches not set (oci.NativeArches() says which)"))
	}
	for what, d := range map[string]string{"sources": o.SourcesDir, "ccache": o.CcacheDir} {
		if d != "" && !filepath.IsAbs(d) {
			errs = append(errs, fmt.Errorf("build options: %s directory %q must be absolute", what, d))
		}
	}
	if o.CcacheSize < 0 {
		errs = append(errs, errors.New("build options: negative ccache size"))
	}
	if o.Timeout < 0 || o.LogMaxBytes < 0 {
		errs = append(errs, errors.New("build options: negative timeout or log cap"))
	}
	seen := map[string]*Job{}
	for i := range jobs {
		j := &jobs[i]
		where := fmt.Sprintf("job %d (%s %s)", i+1, j.Arch, j.Pkgname)
		switch {
		case j.Arch == "" || j.Pkgname == "" || j.Version == "":
			errs = append(errs, fmt.Errorf("%s: arch, pkgname and version are required", where))
			continue
		case !safeName(j.Arch) || !safeName(j.Pkgname) || !safeName(j.Version):
			errs = append(errs, fmt.Errorf("%s: arch, pkgname and version must be plain names (no \"/\", not \".\" or \"..\"): %q %q %q",
				where, j.Arch, j.Pkgname, j.Version))
			continue
		case seen[j.key()] != nil:
			errs = append(errs, fmt.Errorf("%s: listed twice", where))
			continue
		}
		seen[j.key()] = j
		if o.image(j.Arch) == "" {
			errs = append(errs, fmt.Errorf("%s: no build image for arch %q (set build.image or build.images.%s)", where, j.Arch, j.Arch))
		}
		if len(j.Packages) == 0 {
			errs = append(errs, fmt.Errorf("%s: no expected packages", where))
		}
		if st, err := os.Stat(j.Dir); err != nil || !st.IsDir() {
			errs = append(errs, fmt.Errorf("%s: aport directory %q: not a directory", where, j.Dir))
		}
	}
	for i := range jobs {
		j := &jobs[i]
		if seen[j.key()] != j {
			continue
		}
		for _, d := range j.Deps {
			if a, name, ok := strings.Cut(d, "/"); ok && (!safeName(a) || !safeName(name) || a == "" || name == "") {
				errs = append(errs, fmt.Errorf("job %s %s: dependency %q: want a pkgname or arch/pkgname", j.Arch, j.Pkgname, d))
				continue
			}
			dj := seen[j.depKey(d)]
			if dj != nil && dj.Batch >= j.Batch {
				errs = append(errs, fmt.Errorf("job %s %s (batch %d): depends on %s in batch %d: dependencies must be in earlier batches",
					j.Arch, j.Pkgname, j.Batch, d, dj.Batch))
			}
		}
	}
	return errors.Join(errs...)
}

// Repository is an apk repository builds install dependencies from:
// either a directory on the host holding <arch>/APKINDEX.tar.gz, mounted
// read-only into the sandbox, or a URL (the dependency install has
// network).
type Repository struct {
	Dir string
	URL string
}

// Outcome is what became of one job.
type Outcome struct {
	Job Job
	// Status is state.Built, state.Failed, state.Blocked or state.Pending
	// (not started, or interrupted, because the run stopped or the arch's
	// executor is unusable).
	Status string
	// Reason says why a job failed, was blocked or is still pending.
	Reason string
	// BlockedBy is the failed package at the root of the chain that
	// blocks this job.
	BlockedBy string
	// Attempt is the attempt made, nil when none was.
	Attempt *state.Attempt
	// Packages are the staged files, relative to the state directory.
	Packages []string
	// Ignored lists .apk files the build wrote that the job did not
	// expect; they are not staged.
	Ignored []string
	// Slot is which of the Jobs build slots ran it (1 to Jobs), 0 when
	// it did not run; CPU is what its commands used, when the executor
	// can tell.
	Slot int
	CPU  time.Duration
}

// Result is the outcome of every job, in the order of the jobs given.
type Result struct {
	Outcomes []Outcome
	// Unusable maps an arch whose executor check failed to the reason;
	// its jobs are pending.
	Unusable map[string]error
}

// Failed counts the outcomes that failed or were blocked.
func (r *Result) Failed() int {
	n := 0
	for _, o := range r.Outcomes {
		if o.Status == state.Failed || o.Status == state.Blocked {
			n++
		}
	}
	return n
}

// Record merges the outcomes into s: status, version, hash, reason,
// blocking package and the attempt of each job's aport.
func (r *Result) Record(s *state.Status) {
	for _, o := range r.Outcomes {
		p := s.Ensure(o.Job.Arch, o.Job.Pkgname)
		p.Status, p.Reason, p.BlockedBy = o.Status, o.Reason, o.BlockedBy
		p.Version, p.Hash = o.Job.Version, o.Job.Hash
		if o.Job.Dir != "" {
			p.Dir = o.Job.repo() + "/" + baseName(o.Job.Dir)
		}
		if o.Attempt != nil {
			p.AddAttempt(*o.Attempt)
		}
	}
}

// Progress is told when builds start and end. Calls may come from several
// goroutines at once.
type Progress interface {
	// Started is told which build slot (1 to Options.Jobs) runs j.
	Started(j Job, slot int)
	Finished(o Outcome)
}

type nopProgress struct{}

func (nopProgress) Started(Job, int) {}
func (nopProgress) Finished(Outcome) {}

// safeName reports whether s can be a file name under the state directory.
func safeName(s string) bool {
	return s != "." && s != ".." && !strings.ContainsAny(s, "/\\\x00")
}
