package trigger

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/state"
)

// fakeClock is a clock the test moves: every After the schedule asks for
// is handed to the test on waits, which fires it when it wants. An After
// call also says that the previous tick has been handled.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan fakeWait
}

type fakeWait struct {
	d time.Duration
	c chan time.Time
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, waits: make(chan fakeWait, 16)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waits <- fakeWait{d, ch}
	return ch
}

// useClock makes s follow c, as if s had been made at c's time.
func useClock(c *fakeClock) func(*Server) {
	return func(s *Server) { s.clock, s.born = c, c.Now() }
}

// TestScheduleNeverOverlaps drives the real cron schedule with a fake
// clock: the first tick starts a run, the ten ticks during it are skipped
// (and logged), and the tick after it ends starts the second run.
func TestScheduleNeverOverlaps(t *testing.T) {
	start := time.Date(2026, 12, 4, 12, 7, 0, 0, time.UTC)
	fc := newFakeClock(start)
	fr := newFakeRun()
	const every = "CRON_TZ=UTC */15 * * * *"
	h := serve(t, Options{Every: every, OnStop: OnStopFinish}, fr.run, useClock(fc))

	// 12:07 → the next quarter hour is 12:15, 8 minutes away.
	w := recv(t, fc.waits, "first wait")
	if w.d != 8*time.Minute {
		t.Fatalf("first wait = %s, want 8m0s (cron: */15 from 12:07)", w.d)
	}
	tick := start.Add(8 * time.Minute)
	fire := func(w fakeWait) fakeWait {
		fc.set(tick)
		w.c <- tick
		next := recv(t, fc.waits, "next wait") // the tick was handled
		if next.d != 15*time.Minute {
			t.Fatalf("wait after the tick at %s = %s, want 15m0s", tick.Format("15:04"), next.d)
		}
		tick = tick.Add(15 * time.Minute)
		return next
	}
	w = fire(w)
	got := recv(t, fr.started, "first run")
	if got.Kind != state.TriggerSchedule || got.Detail != every {
		t.Errorf("request = %+v, want kind schedule, detail %q", got, every)
	}
	for range 10 {
		w = fire(w)
	}
	if n := h.log.count("schedule: tick skipped: a run is under way"); n != 10 {
		t.Errorf("%d skipped ticks logged, want 10", n)
	}
	if hl := h.s.Health(); hl.Running == nil || hl.Queued {
		t.Errorf("during the run: health = %+v, want running, nothing queued (ticks are skipped, not queued)", hl)
	}
	fr.release <- struct{}{}
	recv(t, h.ended, "end of the first run")
	if hl := h.s.Health(); hl.Running != nil || hl.Queued {
		t.Errorf("after the run: health = %+v, want idle", hl)
	}
	w = fire(w)
	recv(t, fr.started, "second run")
	fr.release <- struct{}{}
	recv(t, h.ended, "end of the second run")
	_ = w
	if n := fr.calls.Load(); n != 2 {
		t.Errorf("%d runs, want 2", n)
	}
	if n := fr.maxIn.Load(); n != 1 {
		t.Errorf("%d runs at once, want 1", n)
	}
}

// TestScheduleAndHooksShareOneRun: a tick while a push's run is queued is
// skipped too; the push's run is not doubled.
func TestScheduleAndHooksShareOneRun(t *testing.T) {
	fc := newFakeClock(time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC))
	fr := newFakeRun()
	opts := listenOptions(t)
	opts.Every = "@hourly"
	h := serve(t, opts, fr.run, useClock(fc))
	w := recv(t, fc.waits, "first wait")
	h.post("/hook/gitlab", testToken, pushBody("master", "alice", "abc"))
	recv(t, fr.started, "push run")
	h.post("/hook/gitlab", testToken, pushBody("master", "alice", "def")) // queued behind it
	w.c <- fc.Now()
	recv(t, fc.waits, "wait after the tick")
	if n := h.log.count("schedule: tick skipped"); n != 1 {
		t.Errorf("%d skipped ticks logged, want 1", n)
	}
	fr.release <- struct{}{}
	recv(t, h.ended, "end of the push run")
	got := recv(t, fr.started, "follow-up run")
	if got.Kind != state.TriggerGitLab {
		t.Errorf("follow-up = %+v, want the queued push", got)
	}
	fr.release <- struct{}{}
	recv(t, h.ended, "end of the follow-up")
	if hl := h.s.Health(); hl.Queued || hl.Running != nil {
		t.Errorf("health = %+v, want idle", hl)
	}
}

func TestParseSchedule(t *testing.T) {
	from := time.Date(2026, 12, 4, 12, 7, 0, 0, time.UTC)
	for _, c := range []struct {
		expr string
		next time.Time // zero: an error
		err  string
	}{
		{expr: "CRON_TZ=UTC */15 * * * *", next: from.Add(8 * time.Minute)},
		{expr: "CRON_TZ=UTC 0 3 * * *", next: time.Date(2026, 12, 5, 3, 0, 0, 0, time.UTC)},
		{expr: "@every 30m", next: from.Add(30 * time.Minute)},
		{expr: "", err: "empty"},
		{expr: "   ", err: "empty"},
		{expr: "*/15 * * *", err: "five fields"},
		{expr: "* * * * * *", err: "five fields"},
		{expr: "61 * * * *", err: "parse schedule"},
		{expr: "@sometimes", err: "parse schedule"},
		{expr: "0 0 30 2 *", err: "never fires"},
		{expr: "TZ=UTC", err: "malformed"},
		{expr: "CRON_TZ=0", err: "malformed"},
		{expr: "TZ=", err: "malformed"},
		{expr: "TZ=Nowhere/City * * * * *", err: "bad location"},
	} {
		s, err := ParseSchedule(c.expr)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("ParseSchedule(%q) = %v, want an error with %q", c.expr, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseSchedule(%q): %v", c.expr, err)
			continue
		}
		if got := s.Next(from); !got.Equal(c.next) {
			t.Errorf("ParseSchedule(%q).Next(%s) = %s, want %s", c.expr, from, got, c.next)
		}
	}
}
