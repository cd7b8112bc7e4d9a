package main

import (
	"bytes"
	"context"
	"strings"
	"testing"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
)

func TestDoctor(t *testing.T) {
	ctx := context.Background()
	var out, errb bytes.Buffer
	if code := cmdDoctor(ctx, []string{"--runtime", "no-such-runtime", "--work-dir", t.TempDir()}, &out, &errb); code != exitTrouble {
		t.Errorf("doctor without a runtime exited %d, want %d", code, exitTrouble)
	}
	if !strings.Contains(out.String(), "runtime     ✗") || !strings.Contains(out.String(), "apt-get install runc") || !strings.Contains(out.String(), "NOT READY") {
		t.Errorf("doctor without a runtime printed:\n%s", out.String())
	}
	if code := cmdDoctor(ctx, []string{"extra"}, &out, &errb); code != exitTrouble {
		t.Errorf("doctor with an argument exited %d", code)
	}

	alpinetest.RequireRoot(t)
	alpinetest.RequireCommand(t, "runc", "apt-get install runc")
	ref, err := alpinetest.TarballPath("x86_64")
	if err != nil {
		alpinetest.SkipOrFail(t, "%v", err)
	}
	out.Reset()
	code := cmdDoctor(ctx, []string{"--work-dir", t.TempDir(), "--cache", t.TempDir(), "--image", "rootfs:" + ref}, &out, &errb)
	if code != exitOK {
		t.Fatalf("doctor on a ready host exited %d:\n%s%s", code, out.String(), errb.String())
	}
	for _, want := range []string{"runtime     ✓", "x86_64       native", "smoke test  ✓", "native builds: ready"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("doctor output lacks %q:\n%s", want, out.String())
		}
	}
}
