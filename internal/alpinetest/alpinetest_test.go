package alpinetest

import (
	"strings"
	"testing"
)

func TestApkRunsInRootfs(t *testing.T) {
	for _, arch := range []string{"x86_64", "aarch64"} {
		t.Run(arch, func(t *testing.T) {
			res := Apk(t, arch, nil, "--version")
			if res.ExitCode != 0 || !strings.Contains(res.Stdout, "apk-tools 2.14") || !strings.Contains(res.Stdout, "compiled for "+arch) {
				t.Fatalf("apk --version: exit %d, stdout %q stderr %q", res.ExitCode, res.Stdout, res.Stderr)
			}
		})
	}
}

func TestVersionOracle(t *testing.T) {
	res := Apk(t, "x86_64", nil, "version", "-t", "1.2_rc1", "1.2")
	if got := strings.TrimSpace(res.Stdout); got != "<" {
		t.Fatalf("apk version -t 1.2_rc1 1.2 = %q, want <", got)
	}
}
