package plan

import (
	"strings"
	"testing"
	"time"
)

func TestFailureMemory(t *testing.T) {
	a := mk("a", "1-r0")
	delays := []time.Duration{time.Hour, 6 * time.Hour}
	fail := func(attempts int, ago time.Duration) Failure {
		return Failure{Version: "1-r0", Hash: a.Hash, Attempts: attempts, Last: testNow.Add(-ago)}
	}
	tests := []struct {
		name        string
		failure     *Failure
		wantAttempt int       // build with this attempt (0: a first try)
		wantHeld    string    // or blocked with a detail containing this
		wantRetryAt time.Time // and this retry time
	}{
		{name: "no failure: a first try"},
		{name: "first failure, delay not over", failure: ptr(fail(1, 30*time.Minute)),
			wantHeld: "failed 1 time(s) at 1-r0", wantRetryAt: testNow.Add(30 * time.Minute)},
		{name: "first failure, delay over", failure: ptr(fail(1, time.Hour)), wantAttempt: 2},
		{name: "second failure waits the second delay", failure: ptr(fail(2, 2*time.Hour)),
			wantHeld: "next retry at", wantRetryAt: testNow.Add(4 * time.Hour)},
		{name: "second failure, second delay over", failure: ptr(fail(2, 7*time.Hour)), wantAttempt: 3},
		{name: "no retry left", failure: ptr(fail(3, 1000*time.Hour)), wantHeld: "held until the APKBUILD changes"},
		{name: "APKBUILD changed", failure: &Failure{Version: "1-r0", Hash: "older", Attempts: 3, Last: testNow}},
		{name: "version changed", failure: &Failure{Version: "0.9-r0", Hash: a.Hash, Attempts: 3, Last: testNow}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{Arches: []string{"x86_64"}, Aports: tree([]string{"x86_64"}, a, mk("b", "1-r0", makedeps("a"))),
				Now: testNow, Options: Options{RetryDelays: delays, AssumeUpstream: true}}
			if tt.failure != nil {
				in.Failures = map[FailureKey]Failure{{Arch: "x86_64", Pkgname: "a"}: *tt.failure}
			}
			p, err := Compute(in)
			if err != nil {
				t.Fatal(err)
			}
			ap := p.Arches[0]
			if tt.wantHeld == "" {
				if b := builds(ap)["a"]; b == nil || b.Attempt != tt.wantAttempt {
					t.Fatalf("a = %+v, want a build with attempt %d", b, tt.wantAttempt)
				}
				return
			}
			b := blocked(ap)["a"]
			if b == nil || b.Reason != BlockedFailed || !strings.Contains(b.Detail, tt.wantHeld) {
				t.Fatalf("a = %+v, want held: %q", b, tt.wantHeld)
			}
			if tt.wantRetryAt.IsZero() != (b.RetryAt == nil) || (b.RetryAt != nil && !b.RetryAt.Equal(tt.wantRetryAt)) {
				t.Errorf("retry_at = %v, want %v", b.RetryAt, tt.wantRetryAt)
			}
			if d := blocked(ap)["b"]; d == nil || d.Reason != BlockedDep {
				t.Errorf("b = %+v, want blocked behind a", d)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
