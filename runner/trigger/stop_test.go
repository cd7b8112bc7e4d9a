package trigger

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/apkfarm/apkfarm/state"
)

// TestStop: when Serve's context ends (SIGTERM in `run`), the listener
// closes and a queued run is dropped; with on_stop "finish" Serve waits
// for the run under way, whose context stays alive; with "cancel" the
// run's context is cancelled and Serve returns once the run has returned.
func TestStop(t *testing.T) {
	for _, onStop := range []string{OnStopFinish, OnStopCancel} {
		t.Run(onStop, func(t *testing.T) {
			fr := newFakeRun()
			opts := listenOptions(t)
			opts.OnStop = onStop
			h := serve(t, opts, fr.run, nil)

			h.post("/hook/run?only=hello", testToken, nil)
			runCtx := recv(t, fr.ctxs, "run context")
			recv(t, fr.started, "run")
			if code, r := h.post("/hook/run?only=world", testToken, nil); code != 202 || r.Status != statusQueued {
				t.Fatalf("second request: %d %+v, want queued", code, r)
			}

			h.cancel()
			recv(t, h.stopped, "the stopping point")
			// The listener is closed before Serve waits for the run.
			if resp, err := http.Get(h.url + "/healthz"); err == nil {
				resp.Body.Close()
				t.Errorf("listener still answers after stop: %s", resp.Status)
			}
			var out Outcome
			switch onStop {
			case OnStopFinish:
				if err := runCtx.Err(); err != nil {
					t.Fatalf("on_stop finish: the run's context ended: %v", err)
				}
				select {
				case err := <-h.served:
					t.Fatalf("Serve returned (%v) while the run was under way", err)
				default:
				}
				fr.release <- struct{}{}
				out = recv(t, h.ended, "end of the run")
				if out.Result != state.RunOK {
					t.Errorf("result = %q, want ok", out.Result)
				}
			case OnStopCancel:
				<-runCtx.Done()
				if runCtx.Err() != context.Canceled {
					t.Errorf("run context: %v, want canceled", runCtx.Err())
				}
				out = recv(t, h.ended, "end of the run")
				if out.Result != state.RunInterrupted {
					t.Errorf("result = %q, want interrupted", out.Result)
				}
			}
			if err := recv(t, h.served, "Serve's return"); err != nil {
				t.Errorf("Serve: %v", err)
			}
			h.served <- nil // for the cleanup
			if n := fr.calls.Load(); n != 1 {
				t.Errorf("%d runs, want 1 (the queued one is dropped)", n)
			}
			if n := h.log.count("stop: queued run dropped"); n != 1 {
				t.Errorf("dropped run logged %d times, want 1", n)
			}
			if hl := h.s.Health(); hl.Last == nil || hl.Last.Result != out.Result || hl.Queued || hl.Running != nil {
				t.Errorf("health after stop = %+v", hl)
			}
		})
	}
}

// TestStopIdle: a Server with nothing running stops at once, and a
// second Serve is refused.
func TestStopIdle(t *testing.T) {
	fc := newFakeClock(mustTime("2026-12-04T12:00:00Z"))
	h := serve(t, Options{Every: "@daily", OnStop: OnStopCancel}, newFakeRun().run, useClock(fc))
	recv(t, fc.waits, "the schedule's wait")
	h.cancel()
	if err := recv(t, h.served, "Serve's return"); err != nil {
		t.Errorf("Serve: %v", err)
	}
	h.served <- nil
	if err := h.s.Serve(context.Background()); err == nil {
		t.Error("second Serve: no error")
	}
}

// TestListenerFails: when the listener dies, Serve stops (the run under
// way finishing, as on_stop says) and returns the listener's error.
func TestListenerFails(t *testing.T) {
	fr := newFakeRun()
	h := serve(t, listenOptions(t), fr.run, nil)
	h.post("/hook/run", testToken, nil)
	recv(t, fr.started, "run")
	h.s.ln.Close()
	recv(t, h.stopped, "the stopping point")
	fr.release <- struct{}{}
	err := recv(t, h.served, "Serve's return")
	if err == nil || !strings.Contains(err.Error(), "serve http on 127.0.0.1:") {
		t.Errorf("Serve = %v, want the listener's error", err)
	}
	h.served <- nil
	if n := h.log.count("stop: the listener failed"); n != 1 {
		t.Errorf("failure logged %d times, want 1", n)
	}
}
