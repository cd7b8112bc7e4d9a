package builder

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/state"
)

var (
	errWallTimeout = errors.New("wall-clock timeout")
	errIdle        = errors.New("idle timeout")
)

// Exit codes of a shell whose command died of a signal (128+n).
const (
	exitSIGILL  = 128 + 4
	exitSIGSEGV = 128 + 11
)

// attemptEnd is how an attempt ended.
type attemptEnd struct {
	exit     int
	class    string // "" built
	reason   string
	problems []string // for error_lines, from the runner
	outs     []output
	ignored  []string
	stopped  bool // the run was cancelled: not the package's fault
	cpu      time.Duration
}

// runJob makes one attempt at j: log file, session, phases, output check,
// staging. Only trouble with the state directory stops the run (setFatal).
func (r *runner) runJob(ctx context.Context, j *Job) Outcome {
	out := Outcome{Job: *j, Status: state.Pending}
	dir := logDir(r.opts.StateDir, j.Arch, j.Pkgname)
	f, logPath, err := createLog(dir, j.Version)
	if err != nil {
		r.setFatal(fmt.Errorf("create log for %s %s: %w", j.Arch, j.Pkgname, err))
		out.Reason = "not started: " + err.Error()
		return out
	}
	rel, _ := filepath.Rel(r.opts.StateDir, logPath)
	start := time.Now()
	lw := newLogWriter(f, start, r.opts.LogMaxBytes)
	r.logger.Info("build started", "arch", j.Arch, "pkg", j.Pkgname, "version", j.Version, "log", logPath)

	end := r.attempt(ctx, j, lw)

	at := &state.Attempt{Version: j.Version, Hash: j.Hash, Start: start.UTC(), ExitCode: end.exit,
		Class: end.class, Log: filepath.ToSlash(rel) + ".gz"}
	if end.class != "" || end.stopped {
		discard(end.outs)
	} else {
		rels, local, err := stage(r.opts.StateDir, j.Arch, end.outs)
		if err != nil {
			r.setFatal(err)
			end.stopped, end.reason = true, err.Error()
			lw.Notef("staging failed: %v", err)
		} else {
			out.Status, out.Packages, out.Ignored = state.Built, rels, end.ignored
			r.addLocal(j, local)
			lw.Notef("built; staged %s", strings.Join(rels, " "))
			if len(end.ignored) > 0 {
				lw.Notef("not staged (not expected for %s): %s", j.Arch, strings.Join(end.ignored, " "))
			}
		}
	}
	switch {
	case end.stopped:
		// Interrupted: pending again; the attempt is kept as infra so that
		// its log is found but the failure memory does not count it.
		at.Class = state.ClassInfra
		out.Status, out.Reason = state.Pending, "interrupted: "+end.reason
		lw.Notef("interrupted: %s", end.reason)
	case end.class != "":
		out.Status, out.Reason = state.Failed, end.class+": "+end.reason
		lw.Notef("failed (%s): %s", end.class, end.reason)
	}
	endTime := time.Now()
	at.End, at.DurationMS = endTime.UTC(), endTime.Sub(start).Milliseconds()
	at.ErrorLines = lw.ErrorLines()
	if room := maxErrorLines - len(at.ErrorLines); room > 0 && len(end.problems) > 0 {
		at.ErrorLines = append(at.ErrorLines, end.problems[:min(room, len(end.problems))]...)
	}
	if err := lw.Err(); err != nil {
		r.logger.Warn("writing build log failed", "log", logPath, "err", err)
	}
	if err := f.Close(); err != nil {
		r.logger.Warn("close build log", "log", logPath, "err", err)
	}
	if err := gzipLog(logPath); err != nil {
		r.logger.Warn("compress build log; kept uncompressed", "log", logPath, "err", err)
		at.Log = filepath.ToSlash(rel)
	}
	out.Attempt, out.CPU = at, end.cpu
	r.logger.Info("build ended", "arch", j.Arch, "pkg", j.Pkgname, "status", out.Status,
		"class", at.Class, "exit", at.ExitCode, "duration", endTime.Sub(start).Round(time.Millisecond))
	return out
}

// createLog creates <dir>/<version>-<n>.log for the next n. Logs a runner
// that died left uncompressed are compressed first.
func createLog(dir, version string) (*os.File, string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, "", err
	}
	stale, _ := filepath.Glob(filepath.Join(dir, "*.log"))
	for _, p := range stale {
		if err := gzipLog(p); err != nil {
			return nil, "", fmt.Errorf("compress old log: %w", err)
		}
	}
	for range 100 {
		n, err := nextAttempt(dir, version)
		if err != nil {
			return nil, "", err
		}
		p := filepath.Join(dir, fmt.Sprintf("%s-%d.log", version, n))
		f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
		if errors.Is(err, os.ErrExist) {
			continue
		}
		return f, p, err
	}
	return nil, "", fmt.Errorf("no free log name in %s", dir)
}

// attempt runs the phases of j in a fresh session.
func (r *runner) attempt(ctx context.Context, j *Job, lw *logWriter) (end attemptEnd) {
	timeout := r.opts.Timeout
	if j.Timeout > 0 {
		timeout = j.Timeout
	}
	image := r.opts.image(j.Arch)
	lw.Notef("building %s %s for %s in %s", j.Pkgname, j.Version, j.Arch, image)
	spec := executor.Spec{
		ID:       specID(j, lw),
		Arch:     j.Arch,
		Image:    image,
		Hostname: "build",
		Limits:   executor.Limits{MemoryBytes: r.opts.MemoryBytes, Pids: r.opts.Pids},
		Prepare:  r.opts.Prepare,
		Mounts:   r.mounts(j),
	}
	if !spec.Prepare.IsZero() {
		lw.Notef("build root: the image with %s installed (prepared once, then reused)", strings.Join(spec.Prepare.Packages, " "))
	}
	var repos []string // --repository arguments, in order of preference
	for i, repo := range r.opts.Repositories {
		switch {
		case repo.Dir != "":
			guest := fmt.Sprintf("%s/%d", guestRepos, i+1)
			spec.Mounts = append(spec.Mounts, executor.Mount{Source: repo.Dir, Target: guest})
			repos = append(repos, guest)
		case repo.URL != "":
			repos = append(repos, repo.URL)
		}
	}
	// Starting the sandbox (pulling and unpacking the image the first
	// time) does not count against the build's limits; it is bounded by
	// the same duration, and its failure is the infrastructure's.
	sctx, cancelStart := context.WithTimeout(ctx, timeout)
	sess, err := r.exec.Start(sctx, spec)
	cancelStart()
	if err != nil {
		if ctx.Err() != nil {
			return attemptEnd{exit: -1, stopped: true, reason: context.Cause(ctx).Error()}
		}
		return attemptEnd{exit: -1, class: state.ClassInfra, reason: "start sandbox: " + err.Error()}
	}
	wctx, cancelWall := context.WithTimeoutCause(ctx, timeout, errWallTimeout)
	defer cancelWall()
	actx, cancelIdle := context.WithCancelCause(wctx)
	defer cancelIdle(nil)
	lw.touch()
	if idle := r.opts.IdleTimeout; idle > 0 {
		go watchIdle(actx, lw, idle, cancelIdle)
	}
	foreign := !slices.Contains(r.opts.NativeArches, j.Arch)

	// fail classifies a step that did not succeed: a non-zero exit (err
	// nil) or an executor error.
	fail := func(what string, exit int, err error) attemptEnd {
		cause := context.Cause(actx)
		switch {
		case ctx.Err() != nil:
			return attemptEnd{exit: -1, stopped: true, reason: context.Cause(ctx).Error()}
		case errors.Is(cause, errWallTimeout):
			return attemptEnd{exit: -1, class: state.ClassTimeout, reason: fmt.Sprintf("%s: killed after the %v limit", what, timeout)}
		case errors.Is(cause, errIdle):
			return attemptEnd{exit: -1, class: state.ClassIdleTimeout, reason: fmt.Sprintf("%s: killed after %v without output", what, r.opts.IdleTimeout)}
		case err != nil:
			return attemptEnd{exit: -1, class: state.ClassInfra, reason: fmt.Sprintf("%s: %v", what, err)}
		case foreign && (exit == exitSIGSEGV || exit == exitSIGILL || lw.QemuCrash()):
			return attemptEnd{exit: exit, class: state.ClassQemuCrash, reason: fmt.Sprintf("%s: exit %d under qemu (%s)", what, exit, crashWhy(exit, lw))}
		default:
			return attemptEnd{exit: exit, class: state.ClassBuildError, reason: fmt.Sprintf("%s: exit %d", what, exit)}
		}
	}

	defer func() {
		if u, ok := sess.(executor.UsageReporter); ok {
			end.cpu = u.Usage().CPU
		}
		if err := sess.Close(); err != nil {
			r.logger.Error("close build sandbox", "id", spec.ID, "err", err)
			lw.Notef("closing the sandbox failed: %v", err)
			if end.class == "" && !end.stopped {
				end = attemptEnd{exit: -1, class: state.ClassInfra, reason: "close sandbox: " + err.Error()}
			}
		}
	}()

	lw.touch()
	if err := copyIn(actx, sess, func(w io.Writer) error { return writeAportTar(w, j) }); err != nil {
		return fail("copy aport in", -1, err)
	}
	aportDir := aportGuestDir(j)
	env := append([]string{
		"HOME=" + guestHome,
		"REPODEST=" + guestRepoDest,
		"SRCDEST=" + guestSrcDest,
		"APORTDIR=" + aportDir,
		"APKFARM_LOCAL_REPO=" + guestLocal,
		"PKGNAME=" + j.Pkgname,
		"PKGVER=" + j.Version,
		"CARCH=" + j.Arch,
	}, r.cacheEnv()...)
	env = append(env, r.opts.Env...)
	if r.opts.SourcesDir != "" {
		defer markSourcesUsed(r.opts.SourcesDir, j.Sources)
	}
	run := func(what string, req executor.ExecRequest) (attemptEnd, bool) {
		req.Stdout, req.Stderr = lw, lw
		if req.Env == nil {
			req.Env = env
		}
		lw.touch()
		exit, err := sess.Exec(actx, req)
		if err != nil || exit != 0 || actx.Err() != nil {
			return fail(what, exit, err), false
		}
		return attemptEnd{}, true
	}

	if r.opts.User != "" {
		// The copies are root's: hand the build's directories to the user
		// (not the shared caches mounted there: the runner did, once).
		if e, ok := run("hand the build directories to "+r.opts.User, executor.ExecRequest{
			Argv: []string{"/bin/sh", "-c", `chown "$1" /home/build && find /home/build -mindepth 1 -maxdepth 1 ! -name sources ! -name .ccache -exec chown -R "$1" {} +`,
				"sh", r.opts.User}, Env: env}); !ok {
			return e
		}
	}
	if len(r.opts.Keys) > 0 {
		lw.touch()
		if err := copyIn(actx, sess, func(w io.Writer) error { return writeKeysTar(w, r.opts.Keys) }); err != nil {
			return fail("copy repository keys in", -1, err)
		}
	}
	if len(j.BuildDeps) > 0 {
		argv := []string{"apk", "add", "--no-progress", "--allow-untrusted"}
		for _, repo := range repos {
			argv = append(argv, "--repository", repo)
		}
		if local := r.localFor(j); len(local) > 0 {
			lw.touch()
			if err := copyIn(actx, sess, func(w io.Writer) error { return writeLocalRepoTar(w, j.Arch, local) }); err != nil {
				return fail("copy local repository in", -1, err)
			}
			argv = append(argv, "--repository", guestLocal)
			lw.Notef("local repository: %d packages built earlier in this run", len(local))
		}
		argv = append(argv, j.BuildDeps...)
		lw.Notef("prepare: installing build dependencies: %s", strings.Join(j.BuildDeps, " "))
		if e, ok := run("install build dependencies", executor.ExecRequest{Argv: argv, Env: env, Network: true}); !ok {
			return e
		}
	}
	lw.Notef("prepare (network on): %s", r.opts.PrepareCommand)
	if e, ok := run("prepare", executor.ExecRequest{Argv: []string{"/bin/sh", "-c", r.opts.PrepareCommand},
		Dir: aportDir, User: r.opts.User, Network: true}); !ok {
		return e
	}
	lw.Notef("build (network %s): %s", onOff(j.Net), r.opts.BuildCommand)
	if e, ok := run("build", executor.ExecRequest{Argv: []string{"/bin/sh", "-c", r.opts.BuildCommand},
		Dir: aportDir, User: r.opts.User, Network: j.Net}); !ok {
		return e
	}

	lw.Notef("checking packages in $REPODEST")
	lw.touch()
	pr, pw := io.Pipe()
	copyErr := make(chan error, 1)
	go func() {
		err := sess.CopyOut(actx, guestRepoDest, pw)
		pw.CloseWithError(err)
		copyErr <- err
	}()
	outs, ignored, problems, rerr := checkOutputs(j, pr, stagingDir(r.opts.StateDir, j.Arch))
	pr.CloseWithError(errors.New("output check done"))
	if err := <-copyErr; err != nil {
		discard(outs)
		return fail("copy packages out", -1, err)
	}
	if rerr != nil {
		return fail("copy packages out", -1, rerr)
	}
	if actx.Err() != nil {
		discard(outs)
		return fail("copy packages out", -1, actx.Err())
	}
	if len(problems) > 0 {
		discard(outs)
		for _, p := range problems {
			lw.Notef("output check: %s", p)
		}
		return attemptEnd{exit: 0, class: state.ClassBuildError, reason: "output check: " + problems[0], problems: problems}
	}
	return attemptEnd{outs: outs, ignored: ignored}
}

// copyIn streams what write produces into "/" of the session.
func copyIn(ctx context.Context, sess executor.Session, write func(io.Writer) error) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(write(pw)) }()
	err := sess.CopyIn(ctx, "/", pr)
	pr.CloseWithError(errors.New("copy ended"))
	return err
}

func specID(j *Job, lw *logWriter) string {
	base := strings.TrimSuffix(filepath.Base(lw.f.Name()), ".log")
	return j.Arch + "-" + j.Pkgname + "-" + base
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

func crashWhy(exit int, lw *logWriter) string {
	switch {
	case lw.QemuCrash():
		return "qemu: uncaught target signal"
	case exit == exitSIGSEGV:
		return "SIGSEGV"
	default:
		return "SIGILL"
	}
}

// watchIdle cancels the attempt when lw saw no output for idle.
func watchIdle(ctx context.Context, lw *logWriter, idle time.Duration, cancel context.CancelCauseFunc) {
	tick := min(max(idle/5, 10*time.Millisecond), time.Second)
	t := time.NewTicker(tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			if lw.Idle(now) >= idle {
				lw.Notef("no output for %v: killing the build", idle)
				cancel(errIdle)
				return
			}
		}
	}
}
