package main

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
	"github.com/apkfarm/apkfarm/runner/config"
	"github.com/apkfarm/apkfarm/state"
)

// TestRealRunCrun: [build] runtime reaches the executor. The run fixture
// builds with runtime = a wrapper of crun that records its command lines,
// and every build's containers ran under it. Needs root and crun (runc for
// nothing): outside CI it skips saying so, under CI it fails.
func TestRealRunCrun(t *testing.T) {
	alpinetest.RequireRoot(t)
	crun := alpinetest.RequireCommand(t, "crun", "apt-get install crun")
	arch := config.HostArch()
	r := newRealRun(t, "run", arch)
	dir := t.TempDir()
	calls, wrapper := filepath.Join(dir, "calls"), filepath.Join(dir, "crun")
	script := "#!/bin/sh\necho \"$*\" >> " + calls + "\nexec " + crun + " \"$@\"\n"
	if err := os.WriteFile(wrapper, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(r.config, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "runtime = %q\n", wrapper) // [build] is the file's last table
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	out, st := r.run(t, exitOK)
	want := map[string]string{"libgreet": "1.0-r0 " + arch, "libgreet-dev": "1.0-r0 " + arch, "hello": "2.0-r1 " + arch, "greet-doc": "3-r0 noarch"}
	if got := r.staged(t, arch); !maps.Equal(got, want) {
		t.Errorf("staged %v, want %v", got, want)
	}
	for _, name := range []string{"libgreet", "hello", "greet-doc"} {
		if a := aportStatus(t, st, arch, name); a.Status != state.Built {
			t.Errorf("%s: %+v, want built", name, a)
		}
	}
	if !strings.Contains(out, "built 3, failed 0, blocked 0") {
		t.Errorf("summary:\n%s", out)
	}
	b, err := os.ReadFile(calls)
	if err != nil {
		t.Fatalf("the configured runtime never ran: %v", err)
	}
	// Each build is a prepare and a build command: a container each.
	if n := strings.Count(string(b), " run --bundle "); n < 6 {
		t.Errorf("%d containers ran under the configured runtime, want 6 or more; its calls:\n%s", n, b)
	}
}
