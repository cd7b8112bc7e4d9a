package image

import (
	"fmt"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// arches lists every apk arch apkfarm builds for, with its OCI platform.
var arches = []struct {
	arch     string
	platform v1.Platform
}{
	{"x86_64", v1.Platform{OS: "linux", Architecture: "amd64"}},
	{"aarch64", v1.Platform{OS: "linux", Architecture: "arm64"}},
	{"armv7", v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
	{"armhf", v1.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}},
	{"x86", v1.Platform{OS: "linux", Architecture: "386"}},
	{"riscv64", v1.Platform{OS: "linux", Architecture: "riscv64"}},
	{"ppc64le", v1.Platform{OS: "linux", Architecture: "ppc64le"}},
	{"s390x", v1.Platform{OS: "linux", Architecture: "s390x"}},
	{"loongarch64", v1.Platform{OS: "linux", Architecture: "loong64"}},
}

// Platform returns the OCI platform of an apk arch ("aarch64" is
// linux/arm64, "armv7" linux/arm/v7, ...).
func Platform(arch string) (v1.Platform, error) {
	for _, a := range arches {
		if a.arch == arch {
			return a.platform, nil
		}
	}
	return v1.Platform{}, fmt.Errorf("unknown arch %q: want one of %s", arch, strings.Join(Arches(), ", "))
}

// Arches returns the apk arches Platform knows, in a fixed order.
func Arches() []string {
	out := make([]string, len(arches))
	for i, a := range arches {
		out[i] = a.arch
	}
	return out
}

// platformMatches says whether an image's platform fits the wanted one: OS
// and architecture equal, and the variant too when both name one (arm64
// images often leave out "v8").
func platformMatches(want v1.Platform, os, arch, variant string) bool {
	if os != want.OS || arch != want.Architecture {
		return false
	}
	return want.Variant == "" || variant == "" || variant == want.Variant
}
