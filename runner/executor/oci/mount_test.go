package oci

import (
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/runner/image/imagetest"
)

// TestMounts: a read-only mount shows the host directory and refuses
// writes; a writable one takes them; bad mounts are refused at Start.
func TestMounts(t *testing.T) {
	forEachRuntime(t, "x86_64", func(t *testing.T, rt testRuntime) {
		ro, rw := t.TempDir(), t.TempDir()
		os.WriteFile(filepath.Join(ro, "APKINDEX.tar.gz"), []byte("published"), 0o644)
		e := newTestExecutor(t, rt)
		s, err := e.Start(context.Background(), executor.Spec{ID: "mounts", Arch: "x86_64", Image: imagetest.AlpineRef(t, "x86_64"),
			Mounts: []executor.Mount{{Source: ro, Target: "/var/cache/apkfarm/published"}, {Source: rw, Target: "/srv/out", Writable: true}}})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		var out bytes.Buffer
		code, err := s.Exec(context.Background(), executor.ExecRequest{Argv: []string{"sh", "-c",
			"cat /var/cache/apkfarm/published/APKINDEX.tar.gz; echo; echo x > /var/cache/apkfarm/published/new && echo WROTE-RO; echo y > /srv/out/file && echo WROTE-RW"},
			Stdout: &out, Stderr: io.Discard})
		if err != nil || code != 0 {
			t.Fatalf("exec: %d, %v", code, err)
		}
		got := out.String()
		if !strings.HasPrefix(got, "published\n") || strings.Contains(got, "WROTE-RO") || !strings.Contains(got, "WROTE-RW") {
			t.Errorf("output %q: want the read-only mount readable, not writable, and the writable one written", got)
		}
		if _, err := os.Stat(filepath.Join(ro, "new")); err == nil {
			t.Error("a file appeared in the read-only host directory")
		}
		if b, _ := os.ReadFile(filepath.Join(rw, "file")); string(b) != "y\n" {
			t.Errorf("writable mount: host file %q", b)
		}
		for _, bad := range [][]executor.Mount{
			{{Source: ro, Target: "/"}},
			{{Source: "rel", Target: "/x"}},
			{{Source: ro, Target: "/proc/x"}},
			{{Source: ro, Target: "/a"}, {Source: rw, Target: "/a/"}},
		} {
			if s, err := e.Start(context.Background(), executor.Spec{ID: "bad", Arch: "x86_64", Image: imagetest.AlpineRef(t, "x86_64"), Mounts: bad}); err == nil {
				s.Close()
				t.Errorf("mounts %+v accepted", bad)
			}
		}
	})
}
