package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/state"
)

func TestStatusAndRetry(t *testing.T) {
	dir := t.TempDir()
	stateDir := filepath.Join(dir, "state")
	cfg := filepath.Join(dir, "apkfarm.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("arches = [\"x86_64\", \"aarch64\"]\n[source]\npath = %q\n[publish]\ndir = %q\nkeys = %q\n[state]\ndir = %q\n",
		dir, dir, dir, stateDir)), 0o644)
	st := state.New()
	t0 := time.Date(2026, 12, 4, 10, 0, 0, 0, time.UTC)
	for _, arch := range []string{"x86_64", "aarch64"} {
		e := st.Ensure(arch, "hello")
		e.Status, e.Version, e.Reason = state.Failed, "1-r0", "build-error: exit 2"
		e.AddAttempt(state.Attempt{Version: "1-r0", Hash: "h", Start: t0, End: t0.Add(time.Minute), ExitCode: 2,
			Class: state.ClassBuildError, Log: "logs/" + arch + "/hello/1-r0-1.log.gz"})
		ok := st.Ensure(arch, "fine")
		ok.Status, ok.Version, ok.Published = state.UpToDate, "2-r0", "2-r0"
	}
	os.MkdirAll(stateDir, 0o755)
	if _, err := state.Save(filepath.Join(stateDir, state.FileName), st); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (int, string, string) {
		var out, errb bytes.Buffer
		code := runMain(context.Background(), args, &out, &errb)
		return code, out.String(), errb.String()
	}
	code, out, _ := run("status", "--config", cfg)
	if code != exitOK || !strings.Contains(out, "2 failed or blocked:") || !strings.Contains(out, "failed  x86_64   hello  1-r0  build-error: exit 2") {
		t.Errorf("status: exit %d\n%s", code, out)
	}
	code, out, _ = run("status", "--config", cfg, "hello")
	if code != exitOK || !strings.Contains(out, "2026-12-04 10:01 build-error logs/aarch64/hello/1-r0-1.log.gz") {
		t.Errorf("status hello: exit %d\n%s", code, out)
	}
	if code, _, errs := run("status", "--config", cfg, "nosuch"); code != exitFailed || !strings.Contains(errs, `"nosuch" is in no arch`) {
		t.Errorf("status nosuch: exit %d, %s", code, errs)
	}
	code, out, errs := run("retry", "--config", cfg, "--arch", "aarch64", "hello,fine")
	if code != exitFailed || !strings.Contains(out, "hello: the next run builds it again on aarch64") || !strings.Contains(errs, `"fine" has no failure to clear on aarch64`) {
		t.Errorf("retry: exit %d\n%s\n%s", code, out, errs)
	}
	b, _ := os.ReadFile(filepath.Join(stateDir, state.FileName))
	after, err := state.Unmarshal(b)
	if err != nil {
		t.Fatal(err)
	}
	if _, failed := after.Failures("aarch64", "hello"); failed {
		t.Error("aarch64 hello still has its failure memory")
	}
	if _, failed := after.Failures("x86_64", "hello"); !failed {
		t.Error("x86_64 hello lost its failure memory, though --arch left it out")
	}
	if code, out, _ := run("status", "--config", cfg, "hello"); code != exitOK || !strings.Contains(out, "failed (retry asked)") {
		t.Errorf("status after retry:\n%s", out)
	}
}
