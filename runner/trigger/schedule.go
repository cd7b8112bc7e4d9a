package trigger

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/apkfarm/apkfarm/state"
	"github.com/robfig/cron/v3"
)

// ParseSchedule parses a cron expression: five fields ("*/15 * * * *",
// minute hour day-of-month month day-of-week), optionally after
// "CRON_TZ=Europe/Berlin ", or a descriptor ("@hourly", "@every 30m"). An
// expression that never fires ("0 0 30 2 *") is an error too.
func ParseSchedule(expr string) (cron.Schedule, error) {
	s, err := parseCron(expr)
	if err != nil {
		return nil, fmt.Errorf("parse schedule %q: %w (want five fields such as \"*/15 * * * *\", or \"@hourly\")", expr, err)
	}
	if s.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("parse schedule %q: it never fires", expr)
	}
	return s, nil
}

// parseCron calls the cron parser, which panics on some inputs (a
// "TZ=" prefix without a space after it): those become errors.
func parseCron(expr string) (s cron.Schedule, err error) {
	if strings.TrimSpace(expr) == "" {
		return nil, fmt.Errorf("empty")
	}
	defer func() {
		if r := recover(); r != nil {
			s, err = nil, fmt.Errorf("malformed expression")
		}
	}()
	return cron.ParseStandard(expr)
}

// clock is the time the schedule follows; tests replace it.
type clock interface {
	Now() time.Time
	// After fires once, d from now.
	After(d time.Duration) <-chan time.Time
}

type realClock struct{}

func (realClock) Now() time.Time                         { return time.Now() }
func (realClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// schedule queues a run at every tick of the cron schedule until ctx ends.
func (s *Server) schedule(ctx context.Context) {
	for {
		now := s.clock.Now()
		next := s.sched.Next(now)
		if next.IsZero() {
			s.log.Error("schedule: no next tick: the schedule stops", "every", s.opts.Every)
			return
		}
		s.log.Debug("schedule: next tick", "at", next)
		select {
		case <-ctx.Done():
			return
		case <-s.clock.After(next.Sub(now)):
			s.tick(next)
		}
	}
}

// tick queues a scheduled run, or skips the tick when a run is under way
// or already queued: a schedule's run is never stacked behind another.
func (s *Server) tick(at time.Time) {
	req := Request{Kind: state.TriggerSchedule, Detail: s.opts.Every}
	s.mu.Lock()
	switch {
	case s.stopping:
		s.mu.Unlock()
		return
	case s.running != nil:
		cur := s.running.req
		s.mu.Unlock()
		s.log.Info("schedule: tick skipped: a run is under way", "tick", at, "running", describe(cur))
		return
	case s.pending != nil:
		queued := s.pending.request()
		s.mu.Unlock()
		s.log.Info("schedule: tick skipped: a run is queued", "tick", at, "queued", describe(queued))
		return
	}
	s.enqueueLocked(req)
	s.mu.Unlock()
	s.log.Info("schedule: tick", "tick", at, "every", s.opts.Every)
}
