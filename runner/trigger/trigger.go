package trigger

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apkfarm/apkfarm/state"
	"github.com/robfig/cron/v3"
)

// Request is one run to make.
type Request struct {
	// Kind is what asked for the run: state.TriggerSchedule,
	// state.TriggerGitLab or state.TriggerHook.
	Kind string
	// Detail says more in words, for the log and the run record:
	// "*/15 * * * *", "push to master by alice (1a2b3c4d5e6f)",
	// "POST /hook/run?only=hello".
	Detail string
	// Only narrows the run to these aports (pkgnames); nil: the whole tree.
	Only []string
}

// Outcome is how a run ended.
type Outcome struct {
	// ExitCode is what `run` would exit with (0, 1, 2); Result one of the
	// state.Run* constants. An empty Result is derived from ExitCode.
	ExitCode int
	Result   string
	// Start and End bound the run; zero values are filled in with the
	// times the Server called the RunFunc and saw it return.
	Start, End time.Time
}

// RunFunc makes one run. The Server never calls it twice at once. ctx is
// cancelled when the Server stops with OnStop "cancel"; with "finish" it
// is not, and the Server waits for the call to return.
type RunFunc func(ctx context.Context, req Request) Outcome

// What the run under way does when Serve's context ends (Options.OnStop).
const (
	OnStopFinish = "finish" // the run goes on to its end, then Serve returns
	OnStopCancel = "cancel" // the run's context is cancelled, Serve returns when it has returned
)

// Options configure a Server. runner/config's [trigger] section holds the
// defaults; here nothing is defaulted: zero means off where it says so,
// and is an error otherwise.
type Options struct {
	// Every is the schedule, a cron expression (see ParseSchedule); empty:
	// no schedule.
	Every string
	// Listen is the address of the HTTP listener ("127.0.0.1:8080",
	// ":8080"); empty: no listener.
	Listen string
	// TokenFile holds the secret of X-Gitlab-Token (surrounding white
	// space ignored). Required with Listen; read once, by New. It must be
	// a regular file that other users cannot read.
	TokenFile string
	// Branches are the branches whose pushes start a run; pushes to others
	// are answered 200 "ignored".
	Branches []string
	// MaxBody caps the body of a hook request in bytes (413 above it).
	// Required with Listen.
	MaxBody int64
	// OnStop is OnStopFinish or OnStopCancel.
	OnStop string
	// HealthzMaxAge: /healthz answers 503 when the last sign of life (the
	// end of the last run, the start of the one under way) is older; zero:
	// no age limit.
	HealthzMaxAge time.Duration
	// StateDir, when set, is read once by New for the newest run record
	// (state.ReadRuns), so that /healthz knows the last run before this
	// process made one.
	StateDir string
	// Logger receives a line per tick, hook request, run start and end;
	// nil: discard.
	Logger *slog.Logger
}

// HTTP server limits: a hook request is small and quick.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 32 << 10
	// shutdownGrace is how long Serve waits for requests in flight when
	// it stops.
	shutdownGrace = 10 * time.Second
)

// Server runs a RunFunc on a schedule and on HTTP requests, one run at a
// time. Make it with New, then call Serve once.
type Server struct {
	opts     Options
	run      RunFunc
	log      *slog.Logger
	sched    cron.Schedule // nil: no schedule
	token    [sha256.Size]byte
	branches map[string]bool
	ln       net.Listener // nil: no listener
	http     *http.Server
	clock    clock
	born     time.Time
	served   atomic.Bool
	wake     chan struct{}
	hooks    hooks

	mu       sync.Mutex
	stopping bool
	running  *current
	pending  *pending
	last     *LastRun
}

// hooks let tests see the Server reach a point; nil: nothing.
type hooks struct {
	runEnded func(Outcome) // after a run's outcome is recorded
	stopping func()        // Serve has stopped the listener and the schedule, and now waits for the run
}

type current struct {
	req   Request
	start time.Time
}

// pending is the run queued behind the one under way, with every request
// coalesced into it.
type pending struct {
	latest Request
	n      int      // requests coalesced, the first included
	full   bool     // one of them asked for the whole tree
	only   []string // else the union of their selections, sorted
}

func newPending(req Request) *pending {
	p := &pending{}
	p.add(req)
	return p
}

func (p *pending) add(req Request) {
	p.n++
	p.latest = req
	if p.full || len(req.Only) == 0 {
		p.full, p.only = true, nil
		return
	}
	for _, name := range req.Only {
		if !slices.Contains(p.only, name) {
			p.only = append(p.only, name)
		}
	}
	slices.Sort(p.only)
}

// request is the run the coalesced requests make: the latest's kind and
// detail (with how many came before it), and the union of their
// selections.
func (p *pending) request() Request {
	req := Request{Kind: p.latest.Kind, Detail: p.latest.Detail, Only: slices.Clone(p.only)}
	if p.n > 1 {
		req.Detail += fmt.Sprintf("; coalesced with %d earlier request(s)", p.n-1)
	}
	return req
}

// New checks opts, reads the token file and binds the listener, so that a
// bad flag or file is an error before anything runs. Call Serve next: it
// closes the listener when it returns.
func New(opts Options, run RunFunc) (*Server, error) {
	if run == nil {
		return nil, errors.New("new trigger server: no RunFunc")
	}
	s := &Server{opts: opts, run: run, log: opts.Logger, clock: realClock{}, wake: make(chan struct{}, 1)}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.born = s.clock.Now()
	if opts.Every == "" && opts.Listen == "" {
		return nil, errors.New("new trigger server: nothing to serve: give a schedule (--every) or an address (--listen)")
	}
	switch opts.OnStop {
	case OnStopFinish, OnStopCancel:
	default:
		return nil, fmt.Errorf("new trigger server: on_stop %q: want %q or %q", opts.OnStop, OnStopFinish, OnStopCancel)
	}
	if opts.HealthzMaxAge < 0 {
		return nil, fmt.Errorf("new trigger server: healthz_max_age %s is negative", opts.HealthzMaxAge)
	}
	if opts.Every != "" {
		sched, err := ParseSchedule(opts.Every)
		if err != nil {
			return nil, fmt.Errorf("new trigger server: %w", err)
		}
		s.sched = sched
	}
	if opts.StateDir != "" {
		s.readLast(opts.StateDir)
	}
	if opts.Listen != "" {
		if err := s.listen(); err != nil {
			return nil, fmt.Errorf("new trigger server: %w", err)
		}
	}
	return s, nil
}

// Addr is the listener's address (useful with port 0), nil without one.
func (s *Server) Addr() net.Addr {
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// readLast takes the newest run record as the last run.
func (s *Server) readLast(stateDir string) {
	runs, errs := state.ReadRuns(stateDir, 1)
	for _, err := range errs {
		s.log.Warn("healthz: read the last run record", "err", err)
	}
	if len(runs) == 0 {
		return
	}
	r := runs[len(runs)-1]
	s.last = &LastRun{
		Trigger: r.Trigger, Only: r.Only, Result: r.Result, ExitCode: r.ExitCode,
		Start: r.Start, End: r.End,
	}
}

// Serve runs the schedule and the listener until ctx ends or the listener
// fails, then stops: the listener closes (requests in flight get
// shutdownGrace), queued runs are dropped, and the run under way finishes
// or is cancelled as Options.OnStop says. Serve returns nil after a stop
// by ctx, else the listener's error. Call it once.
func (s *Server) Serve(ctx context.Context) error {
	if !s.served.CompareAndSwap(false, true) {
		return errors.New("serve triggers: Serve called twice")
	}
	runCtx, cancelRun := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRun()
	quit := make(chan struct{})
	loopDone := make(chan struct{})
	go func() {
		defer close(loopDone)
		s.loop(runCtx, quit)
	}()

	schedCtx, stopSchedule := context.WithCancel(ctx)
	defer stopSchedule()
	schedDone := make(chan struct{})
	if s.sched != nil {
		s.log.Info("schedule: started", "every", s.opts.Every, "next", s.sched.Next(s.clock.Now()))
		go func() {
			defer close(schedDone)
			s.schedule(schedCtx)
		}()
	} else {
		close(schedDone)
	}

	httpErr := make(chan error, 1)
	if s.ln != nil {
		s.log.Info("listen: started", "addr", s.ln.Addr().String(), "branches", s.opts.Branches)
		go func() { httpErr <- s.http.Serve(s.ln) }()
	}

	var err error
	select {
	case <-ctx.Done():
		s.log.Info("stop: asked to stop", "cause", context.Cause(ctx))
	case e := <-httpErr:
		err = fmt.Errorf("serve http on %s: %w", s.ln.Addr(), e)
		s.log.Error("stop: the listener failed", "err", e)
	}

	s.mu.Lock()
	s.stopping = true
	dropped, running := s.pending, s.running
	s.pending = nil
	s.mu.Unlock()
	if dropped != nil {
		s.log.Info("stop: queued run dropped", "queued", describe(dropped.request()))
	}
	stopSchedule()
	<-schedDone
	switch {
	case s.ln != nil && err != nil:
		s.http.Close()
	case s.ln != nil:
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownGrace)
		if e := s.http.Shutdown(sctx); e != nil {
			s.log.Warn("stop: requests still in flight after the grace period: closed", "err", e)
			s.http.Close()
		}
		cancel()
	}
	if running != nil {
		if s.opts.OnStop == OnStopCancel {
			s.log.Info("stop: cancelling the run under way (on_stop = \"cancel\")", "running", describe(running.req))
		} else {
			s.log.Info("stop: waiting for the run under way to finish (on_stop = \"finish\")", "running", describe(running.req))
		}
	}
	if s.opts.OnStop == OnStopCancel {
		cancelRun()
	}
	if s.hooks.stopping != nil {
		s.hooks.stopping()
	}
	close(quit)
	<-loopDone
	s.log.Info("stop: stopped")
	return err
}

// loop makes the queued runs one after another until quit is closed and
// the run under way (if any) has returned.
func (s *Server) loop(ctx context.Context, quit <-chan struct{}) {
	for {
		select {
		case <-s.wake:
		case <-quit:
			return
		}
		for {
			req, ok := s.take()
			if !ok {
				break
			}
			s.log.Info("run: start", "trigger", req.Kind, "detail", req.Detail, "only", req.Only)
			out := s.run(ctx, req)
			s.done(req, out)
		}
	}
}

// take moves the queued run to running.
func (s *Server) take() (Request, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping || s.pending == nil {
		return Request{}, false
	}
	req := s.pending.request()
	s.pending = nil
	s.running = &current{req: req, start: s.clock.Now()}
	return req, true
}

// done records a run's outcome as the last run.
func (s *Server) done(req Request, out Outcome) {
	s.mu.Lock()
	if out.Start.IsZero() {
		out.Start = s.running.start
	}
	if out.End.IsZero() {
		out.End = s.clock.Now()
	}
	if out.Result == "" {
		out.Result = resultOf(out.ExitCode)
	}
	s.last = &LastRun{
		Trigger: state.Trigger{Kind: req.Kind, Detail: req.Detail}, Only: req.Only,
		Result: out.Result, ExitCode: out.ExitCode, Start: out.Start, End: out.End,
	}
	s.running = nil
	s.mu.Unlock()
	s.log.Info("run: end", "trigger", req.Kind, "result", out.Result, "exit_code", out.ExitCode,
		"duration", out.End.Sub(out.Start).Round(time.Millisecond))
	if s.hooks.runEnded != nil {
		s.hooks.runEnded(out)
	}
}

func resultOf(exitCode int) string {
	switch exitCode {
	case 0:
		return state.RunOK
	case 1:
		return state.RunFailed
	default:
		return state.RunTrouble
	}
}

// What a request did (the "status" of a hook's answer).
const (
	statusQueued    = "queued"    // a new run: now when idle, else right after the run under way
	statusCoalesced = "coalesced" // joined the run already queued behind the one under way
	statusStopping  = "stopping"  // refused: the server is stopping
)

// submit queues req, or coalesces it into the run already queued.
func (s *Server) submit(req Request) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.stopping:
		return statusStopping
	case s.pending != nil:
		s.pending.add(req)
		return statusCoalesced
	}
	s.enqueueLocked(req)
	return statusQueued
}

// enqueueLocked makes req the queued run and wakes the loop; s.mu held,
// nothing queued.
func (s *Server) enqueueLocked(req Request) {
	s.pending = newPending(req)
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// describe is a request in one line for the log.
func describe(req Request) string {
	d := req.Kind
	if req.Detail != "" {
		d += ": " + req.Detail
	}
	if len(req.Only) > 0 {
		d += " (only " + strings.Join(req.Only, ",") + ")"
	}
	return d
}
