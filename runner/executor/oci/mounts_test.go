package oci

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/runner/image/imagetest"
)

// TestMounts: a Spec's mounts reach every command: a read-write one
// writes through to the host directory, a read-only one refuses writes;
// bad mounts fail Start.
func TestMounts(t *testing.T) {
	forEachRuntime(t, "x86_64", func(t *testing.T, rt testRuntime) {
		e := newTestExecutor(t, rt)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		rw, ro := t.TempDir(), t.TempDir()
		if err := os.WriteFile(filepath.Join(ro, "seen"), []byte("from the host\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		s, err := e.Start(ctx, executor.Spec{ID: "mounts", Arch: "x86_64", Image: imagetest.AlpineRef(t, "x86_64"),
			Mounts: []executor.Mount{{Source: rw, Target: "/home/build/sources"}, {Source: ro, Target: "/srv/repo", ReadOnly: true}}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var out, errb bytes.Buffer
		code, err := s.Exec(ctx, executor.ExecRequest{Argv: []string{"sh", "-c",
			"echo fetched > /home/build/sources/file && cat /srv/repo/seen && ! touch /srv/repo/x 2>/dev/null"},
			Stdout: &out, Stderr: &errb})
		if err != nil || code != 0 {
			t.Fatalf("exec: %d %v %s", code, err, errb.String())
		}
		if out.String() != "from the host\n" {
			t.Errorf("read-only mount read %q", out.String())
		}
		if b, err := os.ReadFile(filepath.Join(rw, "file")); err != nil || string(b) != "fetched\n" {
			t.Errorf("read-write mount: host sees %q %v", b, err)
		}
		if _, err := os.Stat(filepath.Join(ro, "x")); err == nil {
			t.Error("a read-only mount was written")
		}
		for _, m := range []executor.Mount{{Source: "relative", Target: "/x"}, {Source: rw, Target: "x"}, {Source: "/nonexistent", Target: "/x"}} {
			_, err := e.Start(ctx, executor.Spec{ID: "bad-mount", Arch: "x86_64", Image: imagetest.AlpineRef(t, "x86_64"), Mounts: []executor.Mount{m}})
			if err == nil || !strings.Contains(err.Error(), "mount ") {
				t.Errorf("Start with mount %+v = %v", m, err)
			}
		}
	})
}
