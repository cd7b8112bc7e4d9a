package state_test

import (
	"fmt"
	"time"

	"github.com/apkfarm/apkfarm/state"
)

// The planner's failure memory: how often the current version failed.
func ExampleStatus_Failures() {
	s := state.New()
	p := s.Ensure("aarch64", "gcc")
	t0 := time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)
	p.AddAttempt(state.Attempt{Version: "14.2.0-r4", Hash: "ab12", End: t0, Class: state.ClassTimeout})
	p.AddAttempt(state.Attempt{Version: "14.2.0-r4", Hash: "ab12", End: t0.Add(time.Hour), Class: state.ClassInfra})
	p.AddAttempt(state.Attempt{Version: "14.2.0-r4", Hash: "ab12", End: t0.Add(2 * time.Hour), Class: state.ClassQemuCrash})
	if f, ok := s.Failures("aarch64", "gcc"); ok {
		fmt.Println(f.Version, f.Attempts, f.Class, f.Last.Format(time.Kitchen))
	}
	// Output: 14.2.0-r4 2 qemu-crash 5:00AM
}
