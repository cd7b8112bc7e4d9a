package trigger

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/state"
)

func mustTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		panic(err)
	}
	return t
}

// getHealth fetches /healthz.
func (h *harness) getHealth() (int, Health) {
	h.t.Helper()
	resp, err := http.Get(h.url + "/healthz")
	if err != nil {
		h.t.Fatal(err)
	}
	defer resp.Body.Close()
	var hl Health
	if err := json.NewDecoder(resp.Body).Decode(&hl); err != nil {
		h.t.Fatal(err)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		h.t.Errorf("Content-Type = %q", ct)
	}
	return resp.StatusCode, hl
}

// writeRecord writes a run record to a new state directory.
func writeRecord(t *testing.T, result string, exit int, end time.Time) string {
	t.Helper()
	dir := t.TempDir()
	r := &state.Run{
		Schema: state.RunSchema, ID: state.NewRunID(dir, end.Add(-time.Minute)),
		Trigger: state.Trigger{Kind: state.TriggerTimer}, Start: end.Add(-time.Minute), End: end,
		Result: result, ExitCode: exit,
	}
	if err := state.WriteRun(dir, r); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestHealthz: the last run (from the state directory, then from this
// process) and its age decide 200 or 503.
func TestHealthz(t *testing.T) {
	now := mustTime("2026-12-04T12:00:00Z")
	for _, c := range []struct {
		name   string
		result string
		exit   int
		ago    time.Duration
		code   int
		reason string
	}{
		{"ok", state.RunOK, 0, time.Hour, 200, ""},
		{"failed packages", state.RunFailed, 1, time.Hour, 200, ""},
		{"interrupted", state.RunInterrupted, 2, time.Hour, 200, ""},
		{"trouble", state.RunTrouble, 2, time.Hour, 503, `ended "trouble"`},
		{"crashed", state.RunRunning, 0, time.Hour, 503, `ended "running"`},
		{"too old", state.RunOK, 0, 3 * time.Hour, 503, "trigger.healthz_max_age 2h0m0s"},
	} {
		t.Run(c.name, func(t *testing.T) {
			fc := newFakeClock(now)
			opts := listenOptions(t)
			opts.HealthzMaxAge = 2 * time.Hour
			opts.StateDir = writeRecord(t, c.result, c.exit, now.Add(-c.ago))
			h := serve(t, opts, newFakeRun().run, useClock(fc))
			code, hl := h.getHealth()
			if code != c.code || hl.Healthy != (c.code == 200) || !strings.Contains(hl.Reason, c.reason) || (c.code == 200) != (hl.Reason == "") {
				t.Errorf("healthz = %d %+v, want %d with reason %q", code, hl, c.code, c.reason)
			}
			if hl.Last == nil || hl.Last.Result != c.result || hl.Last.AgeSeconds != int64(c.ago/time.Second) || hl.Last.Trigger.Kind != state.TriggerTimer {
				t.Errorf("last = %+v, want %s, %s ago", hl.Last, c.result, c.ago)
			}
		})
	}
}

// TestHealthzRunning: a run under way counts as a sign of life until it
// is older than the limit itself; its end replaces the last run.
func TestHealthzRunning(t *testing.T) {
	now := mustTime("2026-12-04T12:00:00Z")
	fc := newFakeClock(now)
	fr := newFakeRun()
	opts := listenOptions(t)
	opts.HealthzMaxAge = time.Hour
	h := serve(t, opts, fr.run, useClock(fc))

	if code, hl := h.getHealth(); code != 200 || hl.Last != nil || hl.Running != nil {
		t.Errorf("fresh: %d %+v, want 200 with no run (the process just started)", code, hl)
	}
	fc.set(now.Add(61 * time.Minute))
	if code, hl := h.getHealth(); code != 503 || !strings.Contains(hl.Reason, "no run has ended or started for 1h1m0s") {
		t.Errorf("no run for 61m: %d %+v, want 503", code, hl)
	}
	h.post("/hook/run", testToken, nil)
	recv(t, fr.started, "run")
	fc.set(now.Add(90 * time.Minute))
	code, hl := h.getHealth()
	if code != 200 || hl.Running == nil || hl.Running.Seconds != 29*60 || hl.Running.Trigger.Kind != state.TriggerHook {
		t.Errorf("running for 29m: %d %+v, want 200 with the run", code, hl)
	}
	fc.set(now.Add(125 * time.Minute))
	if code, _ := h.getHealth(); code != 503 {
		t.Errorf("running for 64m: %d, want 503", code)
	}
	fr.release <- struct{}{}
	recv(t, h.ended, "end of the run")
	code, hl = h.getHealth()
	if code != 200 || hl.Running != nil || hl.Last == nil || hl.Last.Result != state.RunOK || hl.Last.AgeSeconds != 0 ||
		!hl.Last.Start.Equal(now.Add(61*time.Minute)) || !hl.Last.End.Equal(now.Add(125*time.Minute)) {
		t.Errorf("after the run: %d %+v", code, hl)
	}
}
