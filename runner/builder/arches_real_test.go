package builder

import (
	"context"
	"debug/elf"
	"encoding/binary"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/executor/oci"
	"github.com/apkfarm/apkfarm/state"
)

// archMachine is what a build of each Alpine arch must see and make: the
// machine uname -m reports inside, and the ELF header of its binaries.
var archMachine = map[string]struct {
	uname   []string // any of these
	machine elf.Machine
	class   elf.Class
	order   binary.ByteOrder
}{
	"x86_64":  {[]string{"x86_64"}, elf.EM_X86_64, elf.ELFCLASS64, binary.LittleEndian},
	"aarch64": {[]string{"aarch64"}, elf.EM_AARCH64, elf.ELFCLASS64, binary.LittleEndian},
	// qemu-arm says armv7l; an aarch64 kernel with the 32-bit personality armv8l.
	"armv7":       {[]string{"armv7l", "armv8l"}, elf.EM_ARM, elf.ELFCLASS32, binary.LittleEndian},
	"armhf":       {[]string{"armv7l", "armv8l", "armv6l"}, elf.EM_ARM, elf.ELFCLASS32, binary.LittleEndian},
	"x86":         {[]string{"i686"}, elf.EM_386, elf.ELFCLASS32, binary.LittleEndian},
	"riscv64":     {[]string{"riscv64"}, elf.EM_RISCV, elf.ELFCLASS64, binary.LittleEndian},
	"ppc64le":     {[]string{"ppc64le"}, elf.EM_PPC64, elf.ELFCLASS64, binary.LittleEndian},
	"s390x":       {[]string{"s390x"}, elf.EM_S390, elf.ELFCLASS64, binary.BigEndian},
	"loongarch64": {[]string{"loongarch64"}, elf.EM_LOONGARCH, elf.ELFCLASS64, binary.LittleEndian},
}

// TestRealEveryArch builds a small aport in a runc container on each of
// the nine Alpine arches (natively, with the 32-bit personality, or under
// qemu) and checks the machine each build saw (uname -m, apk's arch) and
// the ELF machine of the binary in its package.
func TestRealEveryArch(t *testing.T) {
	r := newReal(t, alpinetest.Arches...)
	r.opts.Jobs = 3
	var jobs []Job
	for _, arch := range alpinetest.Arches {
		if err := oci.CheckBinfmt(arch); err != nil {
			alpinetest.SkipOrFail(t, "%v", err)
		}
		jobs = append(jobs, fjob(t, arch, "machine", "1.0-r0", 0))
	}
	t0 := time.Now()
	res, err := Run(context.Background(), jobs, r.opts, r.exec, r.logger)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("nine arches built in %v", time.Since(t0).Round(time.Millisecond))
	for _, o := range res.Outcomes {
		arch := o.Job.Arch
		if o.Status != state.Built {
			t.Errorf("%s: %s (%s)\n%s", arch, o.Status, o.Reason, readLog(t, r.stateDir, o.Attempt))
			continue
		}
		want := archMachine[arch]
		if got := strings.TrimSpace(packageFile(t, r.stateDir, o.Packages[0], "usr/share/machine/uname")); !slices.Contains(want.uname, got) {
			t.Errorf("%s: uname -m in the build = %q; want one of %q", arch, got, want.uname)
		}
		if got := strings.TrimSpace(packageFile(t, r.stateDir, o.Packages[0], "usr/share/machine/apk-arch")); got != arch {
			t.Errorf("%s: apk --print-arch in the build = %q", arch, got)
		}
		bin := packageFile(t, r.stateDir, o.Packages[0], "usr/bin/machine-busybox")
		f, err := elf.NewFile(strings.NewReader(bin))
		if err != nil {
			t.Errorf("%s: the packaged binary: %v", arch, err)
			continue
		}
		if f.Machine != want.machine || f.Class != want.class || f.ByteOrder != want.order {
			t.Errorf("%s: the packaged binary is %v %v %v; want %v %v %v", arch, f.Machine, f.Class, f.ByteOrder,
				want.machine, want.class, want.order)
		}
		if b, err := os.ReadFile(filepath.Join(r.stateDir, o.Packages[0])); err == nil {
			if pf, err := apk.ReadPackageFile(b, o.Packages[0]); err != nil || pf.Info.Arch != arch {
				t.Errorf("%s: package arch: %v %v", arch, pf, err)
			}
		}
		t.Logf("%s built in %v", arch, time.Duration(o.Attempt.DurationMS)*time.Millisecond)
	}
	if l := leftovers(t, r, "-machine-"); len(l) > 0 {
		t.Errorf("left behind: %v", l)
	}
}
