package apk

import "runtime"

// HostArch returns the apk arch name of the machine running this program
// (x86_64 for GOARCH amd64, aarch64 for arm64, ...).
func HostArch() string {
	switch runtime.GOARCH {
	case "amd64":
		return "x86_64"
	case "arm64":
		return "aarch64"
	case "386":
		return "x86"
	case "arm":
		return "armv7"
	case "loong64":
		return "loongarch64"
	default: // ppc64le, riscv64, s390x keep their names
		return runtime.GOARCH
	}
}

// NativeArches returns the apk arches this host runs without emulation:
// its own, plus x86 on x86_64.
func NativeArches() []string {
	if h := HostArch(); h == "x86_64" {
		return []string{"x86_64", "x86"}
	} else {
		return []string{h}
	}
}
