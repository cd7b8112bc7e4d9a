package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/builder"
	"github.com/apkfarm/apkfarm/runner/config"
	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/runner/executor/oci"
	"github.com/apkfarm/apkfarm/runner/image"
	"github.com/apkfarm/apkfarm/runner/mirror"
	"github.com/apkfarm/apkfarm/runner/plan"
	"github.com/apkfarm/apkfarm/runner/record"
	"github.com/apkfarm/apkfarm/runner/repo"
	"github.com/apkfarm/apkfarm/runner/signer"
	"github.com/apkfarm/apkfarm/site"
	"github.com/apkfarm/apkfarm/state"
)

// errBusy is what a run that finds another holding the lock returns.
var errBusy = errors.New("another run holds the lock")

// pass is one run that builds: lock, plan, build, publish (unless
// noPublish), state, run record, summary. It returns the exit code: 0
// when every planned build was built and published and the plan blocks
// nothing, 1 when some failed or were blocked, 2 when the run could not
// work (configuration, infrastructure, interrupted).
func pass(ctx context.Context, cfg *config.Config, opts runOptions, stdout, stderr io.Writer, logger *slog.Logger) int {
	start := now().UTC()
	p := &passRun{cfg: cfg, opts: opts, stdout: stdout, stderr: stderr, logger: logger, start: start}
	code := p.run(ctx)
	return code
}

// passRun is the state of one pass while it works.
type passRun struct {
	cfg            *config.Config
	opts           runOptions
	stdout, stderr io.Writer
	logger         *slog.Logger
	start          time.Time

	id      string
	plan    *plan.Plan
	builds  *builder.Result
	publish *repo.Result
	mirrors []state.MirrorResult
	// pushRoot is the repository to push to the mirrors after the state
	// and the site ("" pushes nothing); pushKeys verify its indexes.
	pushRoot string
	pushKeys *apk.Keyring
}

func (p *passRun) fail(err error) int {
	fmt.Fprintf(p.stderr, "run: %v\n", err)
	return exitTrouble
}

func (p *passRun) run(ctx context.Context) int {
	cfg := p.cfg
	arches, err := selectArches(cfg, p.opts.arches)
	if err != nil {
		return p.fail(err)
	}
	if err := cfg.CheckBuild(arches); err != nil {
		return p.fail(err)
	}
	if !p.opts.noPublish {
		if err := cfg.CheckPublish(); err != nil {
			return p.fail(err)
		}
	}
	unlock, err := lockState(cfg.State.Dir)
	if errors.Is(err, errBusy) {
		// A tick of cron or a timer while a long run works: not an error.
		fmt.Fprintf(p.stdout, "run: %v; nothing done\n", err)
		return exitOK
	}
	if err != nil {
		return p.fail(err)
	}
	defer unlock()
	if err := state.Preflight(cfg.State.Dir); err != nil {
		return p.fail(err)
	}
	p.id = state.NewRunID(cfg.State.Dir, p.start)
	statePath := filepath.Join(cfg.State.Dir, state.FileName)
	prev, err := state.Load(statePath, p.logger)
	if err != nil {
		return p.fail(fmt.Errorf("%w (state.dir must be writable)", err))
	}
	p.live(state.Live{Stage: "plan"})
	defer os.Remove(filepath.Join(cfg.State.Dir, state.LiveFile))

	// The signer first: one that cannot sign fails the run before any
	// build, not after hours of them.
	var sign signer.Signer
	if !p.opts.noPublish {
		if sign, err = openSigner(ctx, cfg, p.logger); err != nil {
			return p.finish(ctx, prev, exitTrouble, err)
		}
		defer sign.Close()
	}

	pl, err := planRun(ctx, cfg, p.opts, p.logger, prev)
	if err != nil {
		return p.finish(ctx, prev, exitTrouble, err)
	}
	p.plan = pl
	if err := pl.WriteText(p.stdout); err != nil {
		return p.finish(ctx, prev, exitTrouble, fmt.Errorf("write plan: %w", err))
	}
	warnUnrunnable(p.stderr, pl) // their builds stay pending (the executor's Check says the same)
	staging := repo.Staging{Dir: filepath.Join(cfg.State.Dir, "staging")}
	for _, ap := range pl.Arches {
		if ap.Error == "" {
			if err := staging.Reset(ap.Arch); err != nil {
				return p.finish(ctx, prev, exitTrouble, err)
			}
		}
	}
	timeouts := map[string]time.Duration{}
	for name, d := range cfg.Build.PackageTimeouts {
		timeouts[name] = time.Duration(d)
	}
	jobs := jobsFromPlan(pl, cfg.Source.Path, timeouts)
	var runErr error
	p.builds = &builder.Result{Unusable: map[string]error{}}
	if len(jobs) > 0 {
		res, err := p.runJobs(ctx, jobs)
		if res == nil {
			return p.finish(ctx, prev, exitTrouble, err)
		}
		p.builds, runErr = res, err
	}
	if runErr != nil {
		return p.finish(ctx, prev, exitTrouble, runErr)
	}
	copies, err := stageCopies(cfg.State.Dir, pl, p.builds, staging)
	if err != nil {
		return p.finish(ctx, prev, exitTrouble, err)
	}
	if !p.opts.noPublish {
		p.live(state.Live{Stage: "publish"})
		reqs := publishRequests(cfg, pl, p.builds, copies)
		r := repo.Repository{Dir: cfg.Publish.Dir}
		if r.Keys, err = apk.LoadKeyring(cfg.Publish.Keys); err != nil {
			return p.finish(ctx, prev, exitTrouble, fmt.Errorf("publish.keys: %w", err))
		}
		p.publish, err = r.Publish(ctx, reqs, repo.Options{Signer: sign,
			JournalDir: filepath.Join(cfg.State.Dir, "publish"), Grace: time.Duration(cfg.Publish.Grace),
			Description: cfg.Publish.Description, Now: func() time.Time { return now().UTC() }, Logger: p.logger})
		if err != nil {
			return p.finish(ctx, prev, exitTrouble, err)
		}
		if len(cfg.Mirrors) > 0 {
			p.pushRoot, p.pushKeys = cfg.Publish.Dir, r.Keys
			if p.opts.base != nil {
				p.pushRoot = p.opts.base.dir // a channel lives inside the main repository: push it all
			}
		}
	} else {
		fmt.Fprintln(p.stdout, "\n--no-publish: nothing was signed or published")
	}
	return p.finish(ctx, prev, exitOK, nil)
}

// finish records what the run did (state, run record), prints the
// summary and returns the exit code: trouble (err) is 2, failed or
// blocked packages 1.
func (p *passRun) finish(ctx context.Context, prev *state.Status, code int, err error) int {
	cfg := p.cfg
	res := record.Results{Plan: p.plan, Builds: p.builds, Publish: p.publish}
	result := state.RunOK
	var sum record.Summary
	var st *state.Status
	saveState := func() {
		st = record.Status(prev, res)
		st.Generated = p.start.Truncate(time.Second)
		if _, serr := state.Save(filepath.Join(cfg.State.Dir, state.FileName), st); serr != nil {
			if err == nil {
				err = fmt.Errorf("%w (state.dir must be writable)", serr)
			}
			code = exitTrouble
		}
	}
	if p.plan != nil {
		saveState()
		sum = record.Summarize(res)
		p.writeSummary(sum)
	}
	for arch, uerr := range p.unusable() {
		fmt.Fprintf(p.stderr, "run: %s: cannot build here: %v (see `run doctor`)\n", arch, uerr)
		code = exitTrouble
	}
	if p.plan != nil {
		for _, ap := range p.plan.Arches {
			if ap.Error != "" {
				fmt.Fprintf(p.stderr, "run: %s: %s\n", ap.Arch, ap.Error)
				code = exitTrouble
			}
		}
	}
	if p.publish != nil {
		for _, a := range p.publish.Arches {
			if a.Error != "" {
				fmt.Fprintf(p.stderr, "run: publish %s: %s\n", a.Arch, a.Error)
				code = exitTrouble
			}
		}
	}
	switch {
	case err != nil && ctx.Err() != nil:
		fmt.Fprintf(p.stderr, "run: interrupted (%v): the builds that did not finish are pending in the state and go to the next run\n", ctx.Err())
		code, result = exitTrouble, state.RunInterrupted
	case err != nil:
		fmt.Fprintf(p.stderr, "run: %v\n", err)
		code, result = exitTrouble, state.RunTrouble
	case code == exitTrouble:
		result = state.RunTrouble
	case sum.Failed+sum.Blocked+sum.PlanBlocked+sum.Rejected > 0:
		code, result = exitFailed, state.RunFailed
	}
	meta := record.Meta{ID: p.id, Trigger: p.opts.trigger, Start: p.start, End: now().UTC(), ExitCode: code, Result: result,
		Channel: p.opts.channel}
	if err != nil {
		meta.Error = err.Error()
	}
	if werr := state.WriteRun(cfg.State.Dir, record.Run(meta, res)); werr != nil {
		fmt.Fprintf(p.stderr, "run: write run record: %v\n", werr)
		return exitTrouble
	}
	// The site, then the mirrors: each mirror gets the site after the
	// repository's indexes, so that its status never describes packages it
	// does not have yet. Then the mirrors' results go into the state, the
	// run record and the local site.
	siteOut := p.renderSite(ctx, st)
	if p.pushRoot != "" && err == nil && ctx.Err() == nil {
		// The state's live file only: the site already shows the run
		// as it ended.
		p.live(state.Live{Stage: "mirror"})
		mirrors, merr := pushMirrors(ctx, cfg, p.pushRoot, p.pushKeys, siteOut, p.logger)
		if merr != nil {
			fmt.Fprintf(p.stderr, "run: %v\n", merr)
			code, meta.Result, meta.Error = exitTrouble, state.RunTrouble, merr.Error()
		}
		os.Remove(filepath.Join(cfg.State.Dir, state.LiveFile))
		p.mirrors, res.Mirrors = mirrors, mirrors
		p.writeMirrors()
		switch {
		case ctx.Err() != nil:
			fmt.Fprintf(p.stderr, "run: interrupted (%v) while pushing to the mirrors: the next run pushes again\n", ctx.Err())
			code, meta.Result = exitTrouble, state.RunInterrupted
		case p.mirrorFailed() && code == exitOK:
			code, meta.Result = exitFailed, state.RunFailed
		}
		if len(mirrors) > 0 || merr != nil {
			saveState()
			meta.End, meta.ExitCode = now().UTC(), code
			if werr := state.WriteRun(cfg.State.Dir, record.Run(meta, res)); werr != nil {
				fmt.Fprintf(p.stderr, "run: write run record: %v\n", werr)
				return exitTrouble
			}
			p.renderSite(ctx, st)
		}
	}
	if gone, perr := state.PruneRuns(cfg.State.Dir, cfg.State.KeepRuns); perr != nil {
		p.logger.Warn("prune run records", "err", perr)
	} else if len(gone) > 0 {
		p.logger.Info("pruned run records", "count", len(gone))
	}
	return code
}

// renderSite renders the status site of the main repository (a channel's
// pass renders none) and returns its directory, "" when none was
// rendered.
func (p *passRun) renderSite(ctx context.Context, st *state.Status) string {
	if p.opts.channel != "" || !p.cfg.Site.Renders() {
		return ""
	}
	// What the site shows (and mirrors serve) is the run as it ended: no
	// longer under way.
	os.Remove(filepath.Join(p.cfg.State.Dir, state.LiveFile))
	opt := site.FromConfig(p.cfg.Site, p.cfg.State.Dir, p.logger)
	opt.Status, opt.Now = st, now().UTC()
	t0 := time.Now()
	stats, err := site.Render(ctx, opt)
	if err != nil {
		fmt.Fprintf(p.stderr, "run: render the status site: %v (the repository is published; `site` renders it again)\n", err)
		return ""
	}
	p.logger.Info("site rendered", "out", opt.Out, "files", stats.Files, "written", stats.Written, "took", time.Since(t0).Round(time.Millisecond))
	return opt.Out
}

func (p *passRun) unusable() map[string]error {
	if p.builds == nil {
		return nil
	}
	return p.builds.Unusable
}

func (p *passRun) mirrorFailed() bool {
	for _, m := range p.mirrors {
		if !m.OK {
			return true
		}
	}
	return false
}

// writeMirrors prints a line per mirror pushed.
func (p *passRun) writeMirrors() {
	var b strings.Builder
	for _, m := range p.mirrors {
		if m.OK {
			fmt.Fprintf(&b, "mirror %s: ok (%d bytes sent, %s)\n", m.Name, m.BytesSent, m.End.Sub(m.Start).Round(time.Millisecond))
		} else {
			fmt.Fprintf(&b, "mirror %s: FAILED: %s\n", m.Name, m.Error)
		}
	}
	io.WriteString(p.stdout, b.String())
}

func (p *passRun) writeSummary(s record.Summary) {
	var b strings.Builder
	fmt.Fprintf(&b, "\nbuilt %d, failed %d, blocked %d, pending %d; %d noarch copied; %d blocked by the plan\n",
		s.Built, s.Failed, s.Blocked, s.Pending, s.Copied, s.PlanBlocked)
	if p.publish != nil {
		fmt.Fprintf(&b, "published %d packages", s.Published)
		if s.Rejected > 0 {
			fmt.Fprintf(&b, ", %d refused", s.Rejected)
		}
		fmt.Fprintf(&b, " to %s\n", p.cfg.Publish.Dir)
	}
	for _, f := range s.Failures {
		fmt.Fprintf(&b, "  %s\n", f)
	}

	fmt.Fprintf(&b, "logs: %s; state: %s; run: %s\n", filepath.Join(p.cfg.State.Dir, "logs"),
		filepath.Join(p.cfg.State.Dir, state.FileName), state.RunPath(p.cfg.State.Dir, p.id))
	io.WriteString(p.stdout, b.String())
}

// live rewrites the live file (what the run does now) for the site.
func (p *passRun) live(l state.Live) {
	l.RunID, l.Trigger, l.Start, l.Updated = p.id, p.opts.trigger, p.start, now().UTC()
	if l.Building == nil {
		l.Building = []state.LiveBuild{}
	}
	if err := state.WriteLive(p.cfg.State.Dir, &l); err != nil {
		p.logger.Warn("write live state", "err", err)
	}
	if p.opts.channel == "" && p.cfg.Site.Renders() && l.Stage != "mirror" {
		if err := site.WriteLive(p.cfg.Site.OutDir(p.cfg.State.Dir), &l); err != nil {
			p.logger.Debug("write the site's live file", "err", err)
		}
	}
}

// runJobs sweeps what a dead runner left and builds the jobs in
// containers, with the published repository and the upstream ones
// offered to every build.
func (p *passRun) runJobs(ctx context.Context, jobs []builder.Job) (*builder.Result, error) {
	cfg := p.cfg
	workDir := cfg.Build.WorkDir
	if workDir == "" {
		workDir = oci.DefaultWorkDir
	}
	ociOpts := []oci.Option{oci.WithRuntime(cfg.Build.Runtime), oci.WithWorkDir(workDir), oci.WithLogger(p.logger)}
	if err := oci.Sweep(ctx, ociOpts...); err != nil {
		return nil, fmt.Errorf("remove what an earlier runner left: %w (is %s installed? `run doctor --config FILE` checks the host)", err, cfg.Build.Runtime)
	}
	cacheDir := cfg.Build.CacheDir
	if cacheDir == "" {
		cacheDir = filepath.Join(cfg.State.Dir, "cache", "images")
	}
	prog := newBuildProgress(p.stderr, jobs, p.logger)
	defer prog.Stop()
	store, err := image.NewStore(cacheDir, image.WithLogger(p.logger), image.WithProgress(prog.Pull))
	if err != nil {
		return nil, fmt.Errorf("open image cache: %w (build.cache_dir)", err)
	}
	// Before any session starts: images and prepared build roots no build
	// used for a week, and prepared roots an hour after a newer one of the
	// same recipe replaced them (a repository's index changed).
	if gone, err := store.Prune(ctx, imageMaxAge); err != nil {
		p.logger.Warn("pruning the image cache failed", "dir", cacheDir, "err", err)
	} else if len(gone) > 0 {
		p.logger.Info("pruned the image cache", "dir", cacheDir, "removed", len(gone))
	}
	jobsAtOnce := cfg.Jobs
	if jobsAtOnce == 0 {
		jobsAtOnce = runtime.NumCPU()
	}
	idle := time.Duration(cfg.Build.IdleTimeout)
	if idle == 0 {
		idle = -1 // "0s" in the file turns the idle limit off
	}
	repos, keys, err := buildRepositories(cfg, p.opts.base)
	if err != nil {
		return nil, err
	}
	sources := cfg.Build.SourcesDir
	if sources == "" {
		sources = filepath.Join(cfg.State.Dir, "cache", "sources")
	}
	if sources, err = filepath.Abs(sources); err != nil {
		return nil, fmt.Errorf("build.sources_dir: %w", err)
	}
	if gone, err := builder.PruneSources(sources, time.Duration(cfg.Build.SourcesMaxAge)); err != nil {
		p.logger.Warn("pruning the sources directory failed", "dir", sources, "err", err)
	} else if len(gone) > 0 {
		p.logger.Info("pruned unused sources", "dir", sources, "removed", len(gone))
	}
	opts := builder.Options{
		Jobs: jobsAtOnce, Image: cfg.Build.Image, Images: cfg.Build.Images,
		SourcesDir: sources, CcacheDir: cfg.Build.CcacheDir, CcacheSize: int64(cfg.Build.CcacheSize),
		Timeout: time.Duration(cfg.Build.Timeout), IdleTimeout: idle, LogMaxBytes: cfg.Build.LogMaxBytes,
		PrepareCommand: cfg.Build.PrepareCommand, BuildCommand: cfg.Build.BuildCommand,
		Env: cfg.Build.Env, User: cfg.Build.User, MemoryBytes: int64(cfg.Build.Memory), Pids: cfg.Build.Pids,
		StateDir: cfg.State.Dir, Progress: &liveProgress{Progress: prog, p: p, total: len(jobs)},
		NativeArches: oci.NativeArches(), Repositories: repos, Keys: keys,
	}
	if len(cfg.Build.Packages) > 0 {
		// A build root prepared once from the image: [build] packages from
		// [build] repositories (the image's own when empty), with the
		// farm's public keys.
		opts.Prepare = executor.Prepare{Packages: cfg.Build.Packages, Repositories: cfg.Build.Repositories, KeysDir: cfg.Publish.Keys}
	}
	return builder.Run(ctx, jobs, opts, oci.New(store, ociOpts...), p.logger)
}

// imageMaxAge is how long the image cache keeps what no build used.
const imageMaxAge = 7 * 24 * time.Hour

// liveProgress keeps the live file up to date as builds start and end.
type liveProgress struct {
	builder.Progress
	p     *passRun
	total int

	mu       sync.Mutex
	done     int
	building []state.LiveBuild
}

func (l *liveProgress) Started(j builder.Job, slot int) {
	l.Progress.Started(j, slot)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.building = append(l.building, state.LiveBuild{Arch: j.Arch, Pkgname: j.Pkgname, Version: j.Version, Slot: slot, Start: now().UTC()})
	l.write()
}

func (l *liveProgress) Finished(o builder.Outcome) {
	l.Progress.Finished(o)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.done++
	l.building = slices.DeleteFunc(l.building, func(b state.LiveBuild) bool { return b.Arch == o.Job.Arch && b.Pkgname == o.Job.Pkgname })
	l.write()
}

func (l *liveProgress) write() {
	l.p.live(state.Live{Stage: "build", Total: l.total, Done: l.done, Building: slices.Clone(l.building)})
}

// buildRepositories are the repositories builds install dependencies
// from, in order of preference (the farm's published repository, a
// channel's base repository, then the upstream ones), and the public keys
// that sign them.
func buildRepositories(cfg *config.Config, base *baseRepo) ([]builder.Repository, map[string][]byte, error) {
	var repos []builder.Repository
	add := func(dir, url string) error {
		switch {
		case dir != "":
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return fmt.Errorf("publish.dir: %w", err)
			}
			repos = append(repos, builder.Repository{Dir: dir})
		case url != "":
			if b, ok := repoBase(url); ok {
				repos = append(repos, builder.Repository{URL: b})
			}
		}
		return nil
	}
	if err := add(cfg.Publish.Dir, cfg.Publish.URL); err != nil {
		return nil, nil, err
	}
	if base != nil {
		// A channel's builds see its own packages first, then its base's.
		if err := add(base.dir, base.url); err != nil {
			return nil, nil, err
		}
	}
	for _, u := range cfg.Upstream.Indexes {
		base, ok := repoBase(u)
		switch {
		case !ok:
			continue
		case strings.Contains(base, "://"):
			repos = append(repos, builder.Repository{URL: base})
		default:
			repos = append(repos, builder.Repository{Dir: base})
		}
	}
	keys := map[string][]byte{}
	for _, dir := range []string{cfg.Publish.Keys, cfg.Upstream.Keys} {
		if dir == "" {
			continue
		}
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, nil, fmt.Errorf("read keys for builds: %w", err)
		}
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".pub") {
				continue
			}
			b, err := safefile.ReadFile(filepath.Join(dir, e.Name()), 64<<10)
			if err != nil {
				return nil, nil, fmt.Errorf("read keys for builds: %w", err)
			}
			keys[e.Name()] = b
		}
	}
	return repos, keys, nil
}

// repoBase turns an index location with {arch} (".../main/{arch}/
// APKINDEX.tar.gz") into the repository apk is given (".../main").
func repoBase(loc string) (string, bool) {
	base, ok := strings.CutSuffix(loc, "/{arch}/APKINDEX.tar.gz")
	return base, ok && base != ""
}

// stageCopies stages, on every arch that takes a noarch aport built in
// this run on the native arch, that build's packages too, and returns the
// copies per arch.
func stageCopies(stateDir string, pl *plan.Plan, res *builder.Result, staging repo.Staging) (map[string][]string, error) {
	outcomes := map[string]builder.Outcome{}
	for _, o := range res.Outcomes {
		outcomes[o.Job.Arch+"/"+o.Job.Pkgname] = o
	}
	out := map[string][]string{}
	for _, ap := range pl.Arches {
		for _, c := range ap.Copies {
			o, ok := outcomes[c.From+"/"+c.Pkgname]
			if c.Batch == 0 || !ok || o.Status != state.Built {
				continue
			}
			var src []string
			for _, f := range o.Packages {
				src = append(src, filepath.Join(stateDir, f))
			}
			files, err := staging.Copy(ap.Arch, src)
			if err != nil {
				return nil, err
			}
			out[ap.Arch] = append(out[ap.Arch], files...)
		}
	}
	return out, nil
}

// publishRequests says, per planned arch, what to publish: the packages
// built and staged for it, its noarch copies, what the plan removes, and
// whether the arch's policy holds it back.
func publishRequests(cfg *config.Config, pl *plan.Plan, res *builder.Result, copies map[string][]string) []repo.Request {
	outcomes := map[string]builder.Outcome{}
	failed := map[string]int{}
	for _, o := range res.Outcomes {
		outcomes[o.Job.Arch+"/"+o.Job.Pkgname] = o
		if o.Status == state.Failed || o.Status == state.Blocked {
			failed[o.Job.Arch]++
		}
	}
	var reqs []repo.Request
	for _, ap := range pl.Arches {
		if ap.Error != "" {
			continue
		}
		req := repo.Request{Arch: ap.Arch}
		for _, r := range ap.Removed {
			req.Remove = append(req.Remove, r.Name)
		}
		for _, b := range ap.Builds {
			if o, ok := outcomes[ap.Arch+"/"+b.Pkgname]; ok && o.Status == state.Built {
				for _, f := range o.Packages {
					req.Packages = append(req.Packages, filepath.Join(cfg.State.Dir, f))
				}
			}
		}
		req.Packages = append(req.Packages, copies[ap.Arch]...)
		if n := failed[ap.Arch] + len(ap.Blocked); cfg.Publish.PolicyFor(ap.Arch) == config.PolicyAllOrNothing && n > 0 {
			req.Held = fmt.Sprintf("all-or-nothing: %d builds failed or blocked on %s", n, ap.Arch)
		}
		reqs = append(reqs, req)
	}
	return reqs
}

// pushMirrors pushes the repository at root to every configured mirror at
// once; a failing mirror is a result, not an error (the error is for
// mirrors the configuration cannot describe).
func pushMirrors(ctx context.Context, cfg *config.Config, root string, keys *apk.Keyring, siteOut string, logger *slog.Logger) ([]state.MirrorResult, error) {
	targets, err := mirror.Targets(cfg.Mirrors)
	if err != nil {
		return nil, fmt.Errorf("mirrors: %w", err)
	}
	opts := []mirror.Option{mirror.WithLogger(logger)}
	if siteOut != "" && cfg.Site.MirrorPath != "" {
		opts = append(opts, mirror.WithTree(siteOut, cfg.Site.MirrorPath))
	}
	res := mirror.Push(ctx, root, targets, keys, opts...)
	for _, m := range res {
		if m.OK {
			logger.Info("mirror pushed", "mirror", m.Name, "bytes_sent", m.BytesSent, "duration", m.End.Sub(m.Start).Round(time.Millisecond))
		} else {
			logger.Error("mirror failed", "mirror", m.Name, "err", m.Error, "lagging", m.Lagging)
		}
	}
	return res, nil
}

// openSigner starts the configured signer.
func openSigner(ctx context.Context, cfg *config.Config, logger *slog.Logger) (signer.Signer, error) {
	s := cfg.Signer
	switch s.Backend {
	case config.SignerCommand:
		c, err := signer.StartCommand(ctx, s.Command, signer.CommandOptions{Procs: s.Processes,
			Timeout: time.Duration(s.Timeout), Logger: logger})
		if err != nil {
			return nil, fmt.Errorf("signer.command: %w", err)
		}
		return c, nil
	default:
		k, err := signer.LoadKeys(s.Keys, apk.Algorithm(s.Type))
		if err != nil {
			return nil, fmt.Errorf("signer.keys: %w", err)
		}
		return k, nil
	}
}

// lockState takes <dir>/run.lock, so that two runs (a slow one and the next
// cron start) never build into, and write, the same state directory at
// once. The lock goes with the process. Another run holding it is errBusy.
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
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w (%s)", errBusy, path)
		}
		return nil, fmt.Errorf("lock state %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
