package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/runner/apkbuild"
	"github.com/apkfarm/apkfarm/runner/builder"
	"github.com/apkfarm/apkfarm/runner/config"
	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/runner/executor/oci"
	"github.com/apkfarm/apkfarm/runner/image"
	"github.com/apkfarm/apkfarm/runner/plan"
	"github.com/apkfarm/apkfarm/state"
)

// buildRun is a run that builds: plan, build every planned aport in
// containers, record the outcome in the state file, print a summary.
// Publishing is not done yet. Exit 0 when every planned build was built,
// 1 when any failed or was blocked, 2 when the run could not work
// (an arch's inputs unreadable, an arch's executor unusable, the runtime,
// the state directory, an interrupted run).
func buildRun(ctx context.Context, cfg *config.Config, opts runOptions, stdout, stderr io.Writer, logger *slog.Logger) int {
	fail := func(err error) int {
		fmt.Fprintf(stderr, "run: %v\n", err)
		return exitTrouble
	}
	arches, err := selectArches(cfg, opts.arches)
	if err != nil {
		return fail(err)
	}
	if err := cfg.CheckBuild(arches); err != nil {
		return fail(err)
	}
	unlock, err := lockState(cfg.State.Dir)
	if err != nil {
		return fail(err)
	}
	defer unlock()
	start := now().UTC()
	p, aports, err := planTree(ctx, cfg, opts, logger)
	if err != nil {
		return fail(err)
	}
	if err := p.WriteText(stdout); err != nil {
		return fail(fmt.Errorf("write plan: %w", err))
	}
	warnUnrunnable(stderr, p) // their builds stay pending (the executor's Check says the same)
	timeouts := map[string]time.Duration{}
	for name, d := range cfg.Build.PackageTimeouts {
		timeouts[name] = time.Duration(d)
	}
	jobs, err := jobsFromPlan(p, cfg.Source.Path, aports, timeouts)
	if err != nil {
		return fail(err)
	}

	// Staging holds what the last run of an arch built:
	// what earlier runs staged was never published and is built again.
	for _, ap := range p.Arches {
		if ap.Error == "" {
			if err := os.RemoveAll(filepath.Join(cfg.State.Dir, "staging", ap.Arch)); err != nil {
				return fail(fmt.Errorf("clear staging: %w", err))
			}
		}
	}
	workDir := cfg.Build.WorkDir
	if workDir == "" {
		workDir = oci.DefaultWorkDir
	}
	var res *builder.Result
	var runErr error
	if len(jobs) > 0 {
		res, runErr = runJobs(ctx, cfg, jobs, workDir, stderr, logger)
		if res == nil {
			return fail(runErr)
		}
	} else {
		res = &builder.Result{Unusable: map[string]error{}}
	}

	statePath := filepath.Join(cfg.State.Dir, state.FileName)
	st, err := state.Load(statePath, logger)
	if err != nil {
		return fail(fmt.Errorf("%w (state.dir must be writable)", err))
	}
	recordPlan(st, p)
	recordTree(st, p, aports, len(opts.only) > 0)
	res.Record(st)
	copies, err := stageCopies(cfg.State.Dir, p, res)
	if err != nil {
		return fail(err)
	}
	recordCopies(st, copies)
	st.Generated = start.Truncate(time.Second)
	if _, err := state.Save(statePath, st); err != nil {
		return fail(fmt.Errorf("%w (state.dir must be writable)", err))
	}

	sum := summarize(p, res, copies)
	sum.write(stdout, cfg.State.Dir)
	switch {
	case runErr != nil && ctx.Err() != nil:
		fmt.Fprintf(stderr, "run: interrupted (%v): the builds that did not finish are pending in the state and go to the next run\n", ctx.Err())
		return exitTrouble
	case runErr != nil:
		return fail(runErr)
	case p.HasErrors() || len(res.Unusable) > 0:
		for _, ap := range p.Arches {
			if ap.Error != "" {
				fmt.Fprintf(stderr, "run: %s: %s\n", ap.Arch, ap.Error)
			}
		}
		for arch, err := range res.Unusable {
			fmt.Fprintf(stderr, "run: %s: cannot build here: %v (see `run doctor`)\n", arch, err)
		}
		return exitTrouble
	case sum.failed+sum.blocked+sum.planBlocked > 0:
		return exitFailed
	}
	return exitOK
}

// runJobs sweeps what a dead runner left and builds the jobs in
// containers.
func runJobs(ctx context.Context, cfg *config.Config, jobs []builder.Job, workDir string, stderr io.Writer, logger *slog.Logger) (*builder.Result, error) {
	ociOpts := []oci.Option{oci.WithRuntime(cfg.Build.Runtime), oci.WithWorkDir(workDir), oci.WithLogger(logger)}
	if err := oci.Sweep(ctx, ociOpts...); err != nil {
		return nil, fmt.Errorf("remove what an earlier runner left: %w (is %s installed? `run doctor --config FILE` checks the host)", err, cfg.Build.Runtime)
	}
	cacheDir := cfg.Build.CacheDir
	if cacheDir == "" {
		cacheDir = filepath.Join(cfg.State.Dir, "cache", "images")
	}
	prog := newBuildProgress(stderr, jobs, logger)
	defer prog.Stop()
	store, err := image.NewStore(cacheDir, image.WithLogger(logger), image.WithProgress(prog.Pull))
	if err != nil {
		return nil, fmt.Errorf("open image cache: %w (build.cache_dir)", err)
	}
	jobsAtOnce := cfg.Jobs
	if jobsAtOnce == 0 {
		jobsAtOnce = runtime.NumCPU()
	}
	idle := time.Duration(cfg.Build.IdleTimeout)
	if idle == 0 {
		idle = -1 // "0s" in the file turns the idle limit off
	}
	sources := cfg.Build.SourcesDir
	if sources == "" {
		sources = filepath.Join(cfg.State.Dir, "cache", "sources")
	}
	if sources, err = filepath.Abs(sources); err != nil {
		return nil, fmt.Errorf("build.sources_dir: %w", err)
	}
	if gone, err := builder.PruneSources(sources, time.Duration(cfg.Build.SourcesMaxAge)); err != nil {
		logger.Warn("pruning the sources directory failed", "dir", sources, "err", err)
	} else if len(gone) > 0 {
		logger.Info("pruned unused sources", "dir", sources, "removed", len(gone))
	}
	opts := builder.Options{
		Jobs: jobsAtOnce, Image: cfg.Build.Image, Images: cfg.Build.Images,
		SourcesDir: sources, CcacheDir: cfg.Build.CcacheDir, CcacheSize: int64(cfg.Build.CcacheSize),
		Timeout: time.Duration(cfg.Build.Timeout), IdleTimeout: idle, LogMaxBytes: cfg.Build.LogMaxBytes,
		PrepareCommand: cfg.Build.PrepareCommand, BuildCommand: cfg.Build.BuildCommand,
		Env: cfg.Build.Env, User: cfg.Build.User, MemoryBytes: int64(cfg.Build.Memory), Pids: cfg.Build.Pids,
		StateDir: cfg.State.Dir, Progress: prog, NativeArches: oci.NativeArches(),
	}
	if len(cfg.Build.Packages) > 0 {
		// The farm's public keys go into the prepared root; issue 10 adds
		// the farm's own repositories to the list.
		opts.Prepare = executor.Prepare{Packages: cfg.Build.Packages, Repositories: cfg.Build.Repositories, KeysDir: cfg.Publish.Keys}
	}
	return builder.Run(ctx, jobs, opts, oci.New(store, ociOpts...), logger)
}

// recordPlan writes the plan's decisions that no build outcome covers:
// blocked aports (except those held after failures, whose failed state
// stays) and invalid APKBUILDs.
func recordPlan(st *state.Status, p *plan.Plan) {
	for _, ap := range p.Arches {
		if ap.Error != "" {
			continue
		}
		for _, b := range ap.Blocked {
			if b.Reason == plan.BlockedFailed {
				continue
			}
			e := st.Ensure(ap.Arch, b.Pkgname)
			e.Status, e.Version, e.Dir = state.Blocked, b.Version, b.Path
			e.Reason, e.BlockedBy = b.Reason+": "+b.Detail, ""
			if len(b.WaitsFor) > 0 {
				e.BlockedBy = b.WaitsFor[0]
			}
		}
		for _, inv := range ap.Invalid {
			e := st.Ensure(ap.Arch, inv.Pkgname)
			e.Status, e.Dir, e.Reason, e.BlockedBy = state.Invalid, inv.Path, inv.Error, ""
		}
		for _, b := range ap.Builds {
			if b.PublishedVersion != "" {
				st.Ensure(ap.Arch, b.Pkgname).Published = b.PublishedVersion
			}
		}
	}
}

// recordTree writes the aports the plan leaves alone: excluded on the arch
// (arch= does not select it) and, unless --only narrowed the plan (which
// leaves the others unselected, not necessarily up to date), up to date.
func recordTree(st *state.Status, p *plan.Plan, aports map[string][]*apkbuild.Aport, only bool) {
	for _, ap := range p.Arches {
		if ap.Error != "" {
			continue
		}
		decided := map[string]bool{}
		for _, b := range ap.Builds {
			decided[b.Pkgname] = true
		}
		for _, b := range ap.Blocked {
			decided[b.Pkgname] = true
		}
		for _, c := range ap.Copies {
			decided[c.Pkgname] = true
		}
		for _, inv := range ap.Invalid {
			decided[inv.Pkgname] = true
		}
		applies := map[string]bool{}
		for _, a := range aports[ap.Arch] {
			if a.Error == "" && a.Applies {
				applies[a.Pkgname] = true
			}
		}
		for _, a := range aports[ap.Arch] {
			if a.Error != "" || a.Pkgname == "" || decided[a.Pkgname] {
				continue
			}
			switch {
			case !a.Applies && !applies[a.Pkgname]:
				e := st.Ensure(ap.Arch, a.Pkgname)
				e.Status, e.Version, e.Hash, e.Dir = state.Excluded, a.Version(), a.Hash, a.Path
				e.Reason, e.BlockedBy = fmt.Sprintf("arch=%q does not build for %s", strings.Join(a.Arches, " "), ap.Arch), ""
			case a.Applies && !only:
				e := st.Ensure(ap.Arch, a.Pkgname)
				e.Status, e.Version, e.Published, e.Hash, e.Dir = state.UpToDate, a.Version(), a.Version(), a.Hash, a.Path
				e.Reason, e.BlockedBy = "", ""
			}
		}
	}
}

// copied is a noarch aport built on the native arch, for another arch.
type copied struct {
	arch, from string
	out        builder.Outcome // the build on from
	files      []string        // staged on arch, relative to the state directory
}

// stageCopies stages, for every arch that takes a noarch aport built in
// this run on the native arch, that build's packages in its staging
// directory too (hard links, else copies).
func stageCopies(stateDir string, p *plan.Plan, res *builder.Result) ([]copied, error) {
	byKey := map[string]builder.Outcome{}
	for _, o := range res.Outcomes {
		byKey[o.Job.Arch+"/"+o.Job.Pkgname] = o
	}
	var out []copied
	for _, ap := range p.Arches {
		for _, c := range ap.Copies {
			o, ok := byKey[c.From+"/"+c.Pkgname]
			if c.Batch == 0 || !ok {
				continue // already published on From, or not built in this run
			}
			cp := copied{arch: ap.Arch, from: c.From, out: o}
			if o.Status == state.Built {
				for _, f := range o.Packages {
					rel := filepath.Join("staging", ap.Arch, filepath.Base(f))
					if err := linkOrCopy(filepath.Join(stateDir, f), filepath.Join(stateDir, rel)); err != nil {
						return nil, fmt.Errorf("stage noarch %s for %s: %w", c.Pkgname, ap.Arch, err)
					}
					cp.files = append(cp.files, rel)
				}
			}
			out = append(out, cp)
		}
	}
	return out, nil
}

func recordCopies(st *state.Status, copies []copied) {
	for _, c := range copies {
		e := st.Ensure(c.arch, c.out.Job.Pkgname)
		e.Version, e.Hash, e.Dir = c.out.Job.Version, c.out.Job.Hash, ""
		if src := st.Aport(c.from, c.out.Job.Pkgname); src != nil {
			e.Dir = src.Dir
		}
		e.BlockedBy = ""
		switch c.out.Status {
		case state.Built:
			e.Status, e.Reason = state.Built, "noarch: built on "+c.from
		case state.Pending:
			e.Status, e.Reason = state.Pending, "noarch: its build on "+c.from+" did not run"
		default:
			e.Status, e.Reason, e.BlockedBy = state.Blocked, "noarch: its build on "+c.from+" "+c.out.Status, c.out.Job.Pkgname
		}
	}
}

func linkOrCopy(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	_ = os.Remove(dst)
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	b, err := os.ReadFile(src)
	if err != nil {
		return err
	}
	return safefile.Write(dst, b, 0o644)
}

// summary counts what became of the plan.
type summary struct {
	built, failed, blocked, pending, planBlocked, copied int
	failures                                             []string // "arch pkg: reason (log)"
	pkgs                                                 map[string]int
}

func summarize(p *plan.Plan, res *builder.Result, copies []copied) summary {
	s := summary{pkgs: map[string]int{}}
	for _, o := range res.Outcomes {
		switch o.Status {
		case state.Built:
			s.built++
			s.pkgs[o.Job.Arch] += len(o.Packages)
		case state.Failed:
			s.failed++
			line := fmt.Sprintf("failed  %s %s %s: %s", o.Job.Arch, o.Job.Pkgname, o.Job.Version, o.Reason)
			if o.Attempt != nil && o.Attempt.Log != "" {
				line += " (log: " + o.Attempt.Log + ")"
			}
			s.failures = append(s.failures, line)
		case state.Blocked:
			s.blocked++
			s.failures = append(s.failures, fmt.Sprintf("blocked %s %s %s: %s", o.Job.Arch, o.Job.Pkgname, o.Job.Version, o.Reason))
		default:
			s.pending++
		}
	}
	for _, c := range copies {
		if c.out.Status == state.Built {
			s.copied++
			s.pkgs[c.arch] += len(c.files)
		}
	}
	for _, ap := range p.Arches {
		s.planBlocked += len(ap.Blocked)
	}
	return s
}

func (s summary) write(w io.Writer, stateDir string) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nbuilt %d, failed %d, blocked %d, pending %d; %d noarch copied; %d blocked by the plan\n",
		s.built, s.failed, s.blocked, s.pending, s.copied, s.planBlocked)
	for _, f := range s.failures {
		fmt.Fprintf(&b, "  %s\n", f)
	}
	for _, arch := range slices.Sorted(maps.Keys(s.pkgs)) {
		fmt.Fprintf(&b, "packages: %d in %s\n", s.pkgs[arch], filepath.Join(stateDir, "staging", arch))
	}
	fmt.Fprintf(&b, "logs: %s; state: %s\n", filepath.Join(stateDir, "logs"), filepath.Join(stateDir, state.FileName))
	io.WriteString(w, b.String())
}

// lockState takes <dir>/run.lock, so that two runs (a slow one and the next
// cron start) never build into, and write, the same state directory at
// once. The lock goes with the process.
func lockState(dir string) (unlock func(), err error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("lock state: %w (state.dir must be writable)", err)
	}
	path := filepath.Join(dir, "run.lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock state: %w (state.dir must be writable)", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock state: %s is held by another run of this state directory (%v): wait for it to end", path, err)
	}
	return func() { f.Close() }, nil
}
