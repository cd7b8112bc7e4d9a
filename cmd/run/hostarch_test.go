package main

import (
	"errors"
	"strings"
	"testing"
)

// TestDryRunUnrunnableArch: a plan with builds for an arch this host
// cannot run says so at plan time, naming the arch and the fix; the plan
// itself is unchanged and the other arches are not named.
func TestDryRunUnrunnableArch(t *testing.T) {
	f := newFixture(t, "")
	_, want, _ := f.run(t, "--dry-run")
	defer func(c func(string) error) { archCheck = c }(archCheck)
	archCheck = func(arch string) error {
		if arch == "aarch64" {
			return errors.New("qemu-aarch64 binfmt handler installed but disabled, so no aarch64 builds: update-binfmts --enable qemu-aarch64")
		}
		return nil
	}
	code, stdout, stderr := f.run(t, "--dry-run")
	if code != exitOK {
		t.Errorf("exit %d; want %d (the plan was made)", code, exitOK)
	}
	if stdout != want {
		t.Errorf("the plan changed:\n%s", stdout)
	}
	if !strings.Contains(stderr, "run: aarch64: ") || !strings.Contains(stderr, "builds planned, but this host cannot run them: ") ||
		!strings.Contains(stderr, "update-binfmts --enable qemu-aarch64") {
		t.Errorf("stderr lacks the aarch64 line with its fix:\n%s", stderr)
	}
	if strings.Contains(stderr, "x86_64") {
		t.Errorf("stderr names x86_64, which runs:\n%s", stderr)
	}
}
