package trigger

import (
	"fmt"
	"net/http"
	"time"

	"github.com/apkfarm/apkfarm/state"
)

// Health is the body of GET /healthz.
type Health struct {
	// Healthy is false when the last run ended in trouble (or did not end:
	// a record left "running" by a crash), or when the last sign of life
	// is older than HealthzMaxAge; Reason then says which. /healthz
	// answers 200 when healthy, else 503.
	Healthy bool   `json:"healthy"`
	Reason  string `json:"reason,omitempty"`
	// Last is the last run that ended (read from the state directory at
	// start, then each run this process made); absent before the first.
	Last *LastRun `json:"last,omitempty"`
	// Running is the run under way, if any; Queued says whether a run
	// waits behind it.
	Running *RunningRun `json:"running,omitempty"`
	Queued  bool        `json:"queued"`
}

// LastRun is the last run that ended.
type LastRun struct {
	Trigger  state.Trigger `json:"trigger"`
	Only     []string      `json:"only,omitempty"`
	Result   string        `json:"result"`
	ExitCode int           `json:"exit_code"`
	Start    time.Time     `json:"start"`
	End      time.Time     `json:"end"`
	// AgeSeconds is how long ago it ended.
	AgeSeconds int64 `json:"age_seconds"`
}

// RunningRun is the run under way.
type RunningRun struct {
	Trigger state.Trigger `json:"trigger"`
	Only    []string      `json:"only,omitempty"`
	Start   time.Time     `json:"start"`
	// Seconds is how long it has been running.
	Seconds int64 `json:"seconds"`
}

// Health says how the runs go; /healthz serves it.
//
// The age limit counts from the last sign of life: the end of the last
// run or the start of the run under way, whichever is later; before any
// run, the start of this process. A run that lasts longer than the limit
// therefore turns /healthz to 503 too. Results ok, failed (some packages
// failed: the farm works) and interrupted (an operator stopped it) are
// healthy; trouble and anything else are not.
func (s *Server) Health() Health {
	now := s.clock.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	h := Health{Healthy: true, Queued: s.pending != nil}
	alive := s.born
	if s.last != nil {
		l := *s.last
		l.AgeSeconds = int64(now.Sub(l.End) / time.Second)
		h.Last = &l
		alive = l.End
		switch l.Result {
		case state.RunOK, state.RunFailed, state.RunInterrupted:
		default:
			h.Healthy = false
			h.Reason = fmt.Sprintf("the last run ended %q (exit code %d): see its log", l.Result, l.ExitCode)
		}
	}
	if s.running != nil {
		r := s.running
		h.Running = &RunningRun{
			Trigger: state.Trigger{Kind: r.req.Kind, Detail: r.req.Detail}, Only: r.req.Only,
			Start: r.start, Seconds: int64(now.Sub(r.start) / time.Second),
		}
		if r.start.After(alive) {
			alive = r.start
		}
	}
	if limit := s.opts.HealthzMaxAge; limit > 0 && now.Sub(alive) > limit && h.Healthy {
		h.Healthy = false
		h.Reason = fmt.Sprintf("no run has ended or started for %s, more than trigger.healthz_max_age %s", now.Sub(alive).Round(time.Second), limit)
	}
	return h
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	h := s.Health()
	code := http.StatusOK
	if !h.Healthy {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, h)
}
