package builder

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/state"
)

// node is a job in the scheduler.
type node struct {
	job     *Job
	index   int // position in the jobs given, for the result
	deps    []*node
	started bool
	done    bool
	out     Outcome
}

// runner is one Run.
type runner struct {
	opts   Options
	exec   executor.Executor
	logger *slog.Logger

	cancel context.CancelCauseFunc // stops the run's builds on fatal trouble

	mu       sync.Mutex
	cond     *sync.Cond
	batches  map[string][][]*node // per arch, the batches in order
	cur      map[string]int       // per arch, the batch now running
	pending  int                  // jobs not done
	local    map[string]map[string][]localPkg
	byKey    map[string]*node
	fatalErr error
}

// Run builds the jobs with exec and returns what became of each. Up to
// opts.Jobs builds run at once; arches run side by side; within an arch the
// batches run in order and, within a batch, the longest critical path goes
// first; a job with a dependency on another arch also waits for that job. A failed build blocks the jobs that depend on it and everything
// else goes on. Run returns an error for bad input (naming the job), for
// trouble with the state directory, or when ctx is cancelled; the Result is
// then still filled in (interrupted and unstarted jobs are pending) and no
// build is left running.
func Run(ctx context.Context, jobs []Job, opts Options, exec executor.Executor, logger *slog.Logger) (*Result, error) {
	opts = opts.withDefaults()
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if err := check(&opts, jobs); err != nil {
		return nil, fmt.Errorf("check build jobs: %w", err)
	}
	if err := makeCacheDirs(&opts, jobs); err != nil {
		return nil, err
	}
	r := &runner{opts: opts, exec: exec, logger: logger,
		batches: map[string][][]*node{}, cur: map[string]int{}, local: map[string]map[string][]localPkg{}}
	r.cond = sync.NewCond(&r.mu)
	res := &Result{Unusable: map[string]error{}}

	nodes := make([]*node, len(jobs))
	byKey := map[string]*node{}
	r.byKey = byKey
	byArch := map[string][]*node{}
	for i := range jobs {
		j := jobs[i]
		j.Deps = slices.Clone(j.Deps)
		n := &node{job: &j, index: i, out: Outcome{Job: j, Status: state.Pending}}
		nodes[i], byKey[j.key()] = n, n
		byArch[j.Arch] = append(byArch[j.Arch], n)
	}
	for _, n := range nodes {
		for _, d := range n.job.Deps {
			if dn := byKey[n.job.depKey(d)]; dn != nil {
				n.deps = append(n.deps, dn)
			}
		}
	}
	for arch, ns := range byArch {
		if err := exec.Check(ctx, arch); err != nil {
			res.Unusable[arch] = err
			logger.Error("arch unusable; its builds stay pending", "arch", arch, "err", err)
			for _, n := range ns {
				n.done = true
				n.out.Reason = "executor unusable for " + arch + ": " + err.Error()
				opts.Progress.Finished(n.out)
			}
			continue
		}
		slices.SortFunc(ns, func(a, b *node) int {
			return cmp.Or(cmp.Compare(a.job.Batch, b.job.Batch),
				cmp.Compare(b.job.CriticalPath, a.job.CriticalPath),
				cmp.Compare(a.job.Pkgname, b.job.Pkgname))
		})
		var bs [][]*node
		for i, n := range ns {
			if i == 0 || n.job.Batch != ns[i-1].job.Batch {
				bs = append(bs, nil)
			}
			bs[len(bs)-1] = append(bs[len(bs)-1], n)
			r.pending++
		}
		r.batches[arch] = bs
	}

	// Fatal trouble (the state directory) interrupts the builds running.
	parent := ctx
	ctx, r.cancel = context.WithCancelCause(ctx)
	defer r.cancel(nil)
	// Wake the workers when ctx ends, so that they stop taking jobs.
	stop := context.AfterFunc(ctx, func() {
		r.mu.Lock()
		r.cond.Broadcast()
		r.mu.Unlock()
	})
	defer stop()

	var wg sync.WaitGroup
	for i := range opts.Jobs {
		slot := i + 1
		wg.Go(func() {
			for {
				n := r.next(ctx)
				if n == nil {
					return
				}
				opts.Progress.Started(*n.job, slot)
				out := r.runJob(ctx, n.job)
				out.Slot = slot
				r.finish(n, out)
				opts.Progress.Finished(out)
			}
		})
	}
	wg.Wait()

	for _, n := range nodes {
		res.Outcomes = append(res.Outcomes, n.out)
	}
	if r.fatalErr != nil {
		return res, r.fatalErr
	}
	if err := parent.Err(); err != nil {
		return res, fmt.Errorf("run builds: %w", err)
	}
	return res, nil
}

// next returns the next job to start, or nil when there is none left (or
// the run is stopping). Blocked jobs are settled on the way.
func (r *runner) next(ctx context.Context) *node {
	r.mu.Lock()
	defer r.mu.Unlock()
	for {
		if ctx.Err() != nil || r.fatalErr != nil || r.pending == 0 {
			return nil
		}
		var best *node
		for _, arch := range sortedArches(r.batches) {
			for {
				bs := r.batches[arch]
				if r.cur[arch] >= len(bs) {
					break
				}
				progressed := false
				allDone := true
				for _, n := range bs[r.cur[arch]] {
					if n.done {
						continue
					}
					allDone = false
					if n.started {
						continue
					}
					if blocker := r.blockedBy(n); blocker != nil {
						r.settleBlocked(n, blocker)
						progressed = true
						continue
					}
					if !r.depsDone(n) {
						continue // a dependency on another arch is still building
					}
					if best == nil || n.job.CriticalPath > best.job.CriticalPath {
						best = n
					}
				}
				if allDone {
					r.cur[arch]++
					continue
				}
				if !progressed {
					break
				}
			}
		}
		if best != nil {
			best.started = true
			return best
		}
		if r.pending == 0 {
			r.cond.Broadcast()
			return nil
		}
		r.cond.Wait()
	}
}

// depsDone reports whether every dependency of n is done. Those of its own
// arch are, by the batch order; one on another arch may not be yet.
func (r *runner) depsDone(n *node) bool {
	for _, d := range n.deps {
		if !d.done {
			return false
		}
	}
	return true
}

// blockedBy returns the first dependency that did not build, or nil.
func (r *runner) blockedBy(n *node) *node {
	for _, d := range n.deps {
		if d.done && d.out.Status != state.Built {
			return d
		}
	}
	return nil
}

// settleBlocked records n as blocked by its dependency dep. The package at
// the root of the chain is named by pkgname when it is of n's arch, else
// as arch/pkgname.
func (r *runner) settleBlocked(n *node, dep *node) {
	rootArch, root := dep.job.Arch, dep.job.Pkgname
	why := "failed"
	switch dep.out.Status {
	case state.Blocked:
		root = dep.out.BlockedBy
		if a, name, ok := strings.Cut(root, "/"); ok {
			rootArch, root = a, name
		}
		why = "blocked by " + relName(dep.job.Arch, rootArch, root)
	case state.Pending:
		why = "was not built"
	}
	n.done = true
	n.out.Status = state.Blocked
	n.out.BlockedBy = relName(n.job.Arch, rootArch, root)
	n.out.Reason = fmt.Sprintf("depends on %s, which %s", relName(n.job.Arch, dep.job.Arch, dep.job.Pkgname), why)
	r.pending--
	r.logger.Info("build blocked", "arch", n.job.Arch, "pkg", n.job.Pkgname, "reason", n.out.Reason)
	r.opts.Progress.Finished(n.out)
}

func (r *runner) finish(n *node, out Outcome) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n.out, n.done = out, true
	r.pending--
	r.cond.Broadcast()
}

// relName names pkgname of arch as seen from a job of from: the pkgname
// on the same arch, arch/pkgname on another.
func relName(from, arch, pkgname string) string {
	if arch == from {
		return pkgname
	}
	return arch + "/" + pkgname
}

func sortedArches(m map[string][][]*node) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// addLocal remembers the packages of a built job for later builds.
func (r *runner) addLocal(j *Job, pkgs []localPkg) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.local[j.Arch] == nil {
		r.local[j.Arch] = map[string][]localPkg{}
	}
	r.local[j.Arch][j.Pkgname] = pkgs
}

// localFor returns the packages built in this run by j's dependencies,
// transitively, that install on j's arch: of that arch or noarch (a
// dependency on another arch offers its noarch packages).
func (r *runner) localFor(j *Job) []localPkg {
	r.mu.Lock()
	defer r.mu.Unlock()
	seen := map[string]bool{}
	var out []localPkg
	var walk func(from *Job)
	walk = func(from *Job) {
		for _, d := range from.Deps {
			key := from.depKey(d)
			if seen[key] {
				continue
			}
			seen[key] = true
			arch, name, _ := strings.Cut(key, "/")
			for _, p := range r.local[arch][name] {
				if p.entry.Arch == j.Arch || p.entry.Arch == "noarch" {
					out = append(out, p)
				}
			}
			if dn := r.byKey[key]; dn != nil {
				walk(dn.job)
			}
		}
	}
	walk(j)
	return out
}

// setFatal stops the run for trouble that is nobody's package's fault.
func (r *runner) setFatal(err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fatalErr == nil {
		r.fatalErr = err
		r.cancel(err)
	}
	r.cond.Broadcast()
}
