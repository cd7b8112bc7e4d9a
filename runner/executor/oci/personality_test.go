package oci

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/runner/image/imagetest"
)

// TestPersonality: a 32-bit arch of the host runs with the LINUX32
// personality under both runtimes (runc 1.1 ignores the config's field;
// the runtime is started with it), so uname -m says the 32-bit machine,
// and a 64-bit arch does not.
func TestPersonality(t *testing.T) {
	var arch32, machine string
	switch hostArch() {
	case "x86_64":
		arch32, machine = "x86", "i686"
	case "aarch64":
		arch32, machine = "armv7", "armv8l"
	default:
		t.Skipf("no 32-bit arch runs with a personality on %s", hostArch())
	}
	for _, tc := range []struct{ arch, want string }{
		{arch32, machine + "\n00000008\n"},
		{hostArch(), hostArch() + "\n00000000\n"},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			forEachRuntime(t, tc.arch, func(t *testing.T, rt testRuntime) {
				e := newTestExecutor(t, rt)
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				defer cancel()
				s, err := e.Start(ctx, executor.Spec{ID: "personality-" + tc.arch, Arch: tc.arch, Image: imagetest.AlpineRef(t, tc.arch)})
				if err != nil {
					t.Fatal(err)
				}
				defer s.Close()
				var out, errb bytes.Buffer
				code, err := s.Exec(ctx, executor.ExecRequest{Argv: []string{"sh", "-c", "uname -m; cat /proc/self/personality"},
					Stdout: &out, Stderr: &errb})
				if err != nil || code != 0 {
					t.Fatalf("exec: %d %v %s", code, err, errb.String())
				}
				if out.String() != tc.want {
					t.Errorf("%s: uname -m; personality = %q; want %q", tc.arch, out.String(), tc.want)
				}
			})
		})
	}
	// The runner's own thread gets its personality back.
	if p := strings.TrimSpace(readPersonality(t)); p != "00000000" {
		t.Errorf("runner's personality after the sessions: %s", p)
	}
}
