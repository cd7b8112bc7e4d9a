package apk

import (
	"runtime"
	"slices"
	"testing"
)

func TestHostArch(t *testing.T) {
	want := map[string]string{"amd64": "x86_64", "arm64": "aarch64", "386": "x86", "riscv64": "riscv64"}[runtime.GOARCH]
	if want == "" {
		t.Skipf("no expectation written for GOARCH %s", runtime.GOARCH)
	}
	if got := HostArch(); got != want {
		t.Fatalf("HostArch() = %q on GOARCH %s, want %q", got, runtime.GOARCH, want)
	}
	if !slices.Contains(NativeArches(), want) {
		t.Fatalf("NativeArches() = %q lacks the host arch %q", NativeArches(), want)
	}
}
