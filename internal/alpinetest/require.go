package alpinetest

import (
	"os"
	"os/exec"
	"testing"
)

// SkipOrFail skips the test outside CI and fails it under CI (CI set): a
// prerequisite that is missing where the test is meant to run is a failure,
// not a silent skip. Say what is missing and the command that installs it.
func SkipOrFail(t testing.TB, format string, args ...any) {
	t.Helper()
	skipOrFail(t, format, args...)
}

// RequireRoot needs the test to run as root (mounts, runc).
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		SkipOrFail(t, "needs root (mounts, containers): run the tests as root, as CI does")
	}
}

// RequireCommand needs program on PATH; install is the command that
// provides it ("apt-get install runc").
func RequireCommand(t testing.TB, program, install string) string {
	t.Helper()
	p, err := exec.LookPath(program)
	if err != nil {
		SkipOrFail(t, "%s not found: run `make deps` (%s)", program, install)
	}
	return p
}

// RequireBinfmt needs a qemu binfmt_misc handler with the F flag for a
// foreign arch (nothing for the native one).
func RequireBinfmt(t testing.TB, arch string) {
	t.Helper()
	if err := binfmtReady(arch); err != nil {
		SkipOrFail(t, "%v", err)
	}
}
