package oci

import (
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sys/unix"

	"github.com/apkfarm/apkfarm/runner/apk"
)

// hostArch is the apk arch of this host.
func hostArch() string { return apk.HostArch() }

// compat32 maps a 64-bit host arch to the 32-bit arches its kernel may run
// itself (IA-32 emulation, AArch32), with the 32-bit personality.
var compat32 = map[string][]string{"x86_64": {"x86"}, "aarch64": {"armv7", "armhf"}}

// NativeArches returns the apk arches this host runs without emulation:
// its own, plus x86 on an x86_64 kernel that runs 32-bit x86 programs
// (and armv7 and armhf on an aarch64 one that runs 32-bit Arm programs),
// unless a qemu handler takes those programs over.
func NativeArches() []string {
	h := hostArch()
	out := []string{h}
	for _, a := range compat32[h] {
		if defaultBinfmt.compatNative(a) {
			out = append(out, a)
		}
	}
	return out
}

// Linux32 says whether builds for arch run with the 32-bit personality
// (LINUX32) on this host: x86 on x86_64, armv7 and armhf on aarch64, so
// that uname -m, and everything that reads it, says i686 or armv8l, not
// the host's machine. Under qemu it does no harm (qemu answers uname
// itself).
func Linux32(arch string) bool { return slices.Contains(compat32[hostArch()], arch) }

// qemuNames maps apk arches to the name of their qemu-user binfmt handler.
var qemuNames = map[string]string{
	"x86_64": "x86_64", "aarch64": "aarch64", "armv7": "arm", "armhf": "arm",
	"x86": "i386", "riscv64": "riscv64", "ppc64le": "ppc64le", "s390x": "s390x",
	"loongarch64": "loongarch64",
}

const binfmtDir = "/proc/sys/fs/binfmt_misc"

// binfmtHost is where handlers are looked for; tests point it elsewhere.
type binfmtHost struct {
	proc  string // the kernel's registered handlers (binfmt_misc)
	admin string // binfmt-support's database: installed handlers, enabled or not
	// probe says whether the kernel runs a 32-bit arch's programs itself.
	probe func(arch string) bool
}

var defaultBinfmt = binfmtHost{proc: binfmtDir, admin: "/var/lib/binfmts", probe: probeCompat}

// CheckBinfmt says why arch cannot run here, with the command that fixes
// it: nil for a native arch, or one with an enabled qemu binfmt handler
// that has the F flag (the interpreter is opened when registered, so it
// works inside a container's root). It tells a handler that is not
// installed from one installed but disabled (Debian installs qemu's
// disabled until `update-binfmts --enable`).
func CheckBinfmt(arch string) error { return defaultBinfmt.check(arch) }

func (b binfmtHost) check(arch string) error {
	q, ok := qemuNames[arch]
	if !ok {
		return fmt.Errorf("unknown arch %q", arch)
	}
	if arch == hostArch() {
		return nil
	}
	name := "qemu-" + q
	if _, err := os.Stat(b.proc + "/status"); err != nil {
		return fmt.Errorf("binfmt_misc not mounted, so no %s builds: mount -t binfmt_misc binfmt_misc %s, then update-binfmts --enable %s", arch, b.proc, name)
	}
	reg, err := os.ReadFile(b.proc + "/" + name)
	if err != nil {
		if slices.Contains(compat32[hostArch()], arch) && b.probe(arch) {
			return nil // the kernel runs it itself
		}
		return b.notRegistered(arch, name)
	}
	lines := strings.Split(string(reg), "\n")
	if strings.TrimSpace(lines[0]) != "enabled" {
		if slices.Contains(compat32[hostArch()], arch) && b.probe(arch) {
			return nil
		}
		return fmt.Errorf("%s binfmt handler registered but disabled, so no %s builds: echo 1 > %s/%s", name, arch, b.proc, name)
	}
	for _, l := range lines {
		if f, ok := strings.CutPrefix(l, "flags:"); ok && strings.Contains(f, "F") {
			return nil
		}
	}
	return fmt.Errorf("%s binfmt handler lacks the F flag, so it cannot run inside a container: update-binfmts --disable %s && update-binfmts --enable %s (Debian registers it with F; elsewhere register it with flags F)", name, name, name)
}

// notRegistered explains a handler the kernel does not have: installed
// but disabled (in binfmt-support's database) or not installed at all.
func (b binfmtHost) notRegistered(arch, name string) error {
	if _, err := os.Stat(b.admin + "/" + name); err == nil {
		return fmt.Errorf("%s binfmt handler installed but disabled, so no %s builds: update-binfmts --enable %s", name, arch, name)
	}
	why := ""
	if slices.Contains(compat32[hostArch()], arch) {
		why = fmt.Sprintf("this kernel does not run %s programs itself, and ", arch)
	}
	if arch == "x86" {
		// Debian ships no qemu-i386 handler on amd64: it expects the
		// kernel's IA-32 emulation, which some kernels lack or disable.
		return fmt.Errorf("%sno %s binfmt handler is installed, so no x86 builds: boot with ia32_emulation=on, or register qemu's (make deps-binfmt does): %s", why, name, InstallI386)
	}
	return fmt.Errorf("%s%s binfmt handler not installed, so no %s builds: apt-get install qemu-user-static binfmt-support && update-binfmts --enable %s", why, name, arch, name)
}

// InstallI386 registers qemu's i386 emulator as a binfmt handler with
// binfmt-support, for x86 builds on an x86_64 kernel without IA-32
// emulation (Debian's qemu-user-static has the emulator but no handler on
// amd64). The magic and mask are qemu's own (scripts/qemu-binfmt-conf.sh).
const InstallI386 = `update-binfmts --package apkfarm --install qemu-i386 /usr/bin/qemu-i386-static ` +
	`--magic '\x7fELF\x01\x01\x01\x00\x00\x00\x00\x00\x00\x00\x00\x00\x02\x00\x03\x00' ` +
	`--mask '\xff\xff\xff\xff\xff\xfe\xfe\x00\xff\xff\xff\xff\xff\xff\xff\xff\xfe\xff\xff\xff' ` +
	`--offset 0 --credentials yes --fix-binary yes`

// compatNative says whether the kernel runs arch (a 32-bit arch of the
// host's) itself: no enabled qemu handler takes its programs over, and a
// tiny program of it runs.
func (b binfmtHost) compatNative(arch string) bool {
	if reg, err := os.ReadFile(b.proc + "/qemu-" + qemuNames[arch]); err == nil && strings.HasPrefix(string(reg), "enabled") {
		return false
	}
	return b.probe(arch)
}

// probeCompat runs a tiny static program of arch (exit(0), nothing else)
// from a memory file, once per process: a kernel without the 32-bit
// emulation refuses it (ENOEXEC). A qemu handler for arch, if enabled,
// would run it too; callers look at the handlers first.
func probeCompat(arch string) bool {
	f := compatProbes[arch]
	return f != nil && f()
}

var compatProbes = map[string]func() bool{
	"x86": sync.OnceValue(func() bool { return runsProgram(i386Exit0) }),
	// armv7 and armhf: a 32-bit Arm exit(0).
	"armv7": sync.OnceValue(func() bool { return runsProgram(armExit0) }),
	"armhf": sync.OnceValue(func() bool { return runsProgram(armExit0) }),
}

// runsProgram writes prog to a memory file and runs it: through a
// read-only reopening, since a file open for writing cannot be executed
// (ETXTBSY).
func runsProgram(prog []byte) bool {
	fd, err := unix.MemfdCreate("apkfarm-probe", unix.MFD_CLOEXEC)
	if err != nil {
		return false
	}
	w := os.NewFile(uintptr(fd), "apkfarm-probe")
	_, err = w.Write(prog)
	if err != nil {
		w.Close()
		return false
	}
	r, err := os.Open(fmt.Sprintf("/proc/self/fd/%d", fd))
	w.Close()
	if err != nil {
		return false
	}
	defer r.Close()
	return exec.Command(fmt.Sprintf("/proc/self/fd/%d", r.Fd())).Run() == nil
}

// elf32 returns a minimal static 32-bit little-endian ELF executable for
// machine whose code is code, loaded at 0x10000 with one PT_LOAD segment.
func elf32(machine uint16, flags uint32, code []byte) []byte {
	const base, hdr = 0x10000, 52 + 32
	size := uint32(hdr + len(code))
	b := make([]byte, 0, size)
	le16 := func(v uint16) { b = append(b, byte(v), byte(v>>8)) }
	le32 := func(v uint32) { b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24)) }
	b = append(b, 0x7f, 'E', 'L', 'F', 1, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0)
	le16(2)          // ET_EXEC
	le16(machine)    // e_machine
	le32(1)          // e_version
	le32(base + hdr) // e_entry
	le32(52)         // e_phoff
	le32(0)          // e_shoff
	le32(flags)      // e_flags
	le16(52)         // e_ehsize
	le16(32)         // e_phentsize
	le16(1)          // e_phnum
	le16(0)          // e_shentsize
	le16(0)          // e_shnum
	le16(0)          // e_shstrndx
	le32(1)          // PT_LOAD
	le32(0)          // p_offset
	le32(base)       // p_vaddr
	le32(base)       // p_paddr
	le32(size)       // p_filesz
	le32(size)       // p_memsz
	le32(5)          // PF_R|PF_X
	le32(0x1000)     // p_align
	return append(b, code...)
}

var (
	// mov eax, 1 (exit); xor ebx, ebx; int 0x80
	i386Exit0 = elf32(3, 0, []byte{0xb8, 1, 0, 0, 0, 0x31, 0xdb, 0xcd, 0x80})
	// mov r0, #0; mov r7, #1 (exit); svc #0 — EABI version 5
	armExit0 = elf32(40, 0x05000000, []byte{0x00, 0x00, 0xa0, 0xe3, 0x01, 0x70, 0xa0, 0xe3, 0x00, 0x00, 0x00, 0xef})
)

// perLinux32 is the PER_LINUX32 personality (linux/personality.h).
const perLinux32 = 0x0008

// withPersonality runs start (which forks) on the calling thread with the
// 32-bit personality when linux32, and restores the thread's own after.
// The caller must be locked to its OS thread: personality is per thread.
func withPersonality(linux32 bool, start func() error) error {
	if !linux32 {
		return start()
	}
	old, _, errno := unix.RawSyscall(unix.SYS_PERSONALITY, 0xffffffff, 0, 0)
	if errno != 0 {
		return fmt.Errorf("read personality: %w", errno)
	}
	if _, _, errno := unix.RawSyscall(unix.SYS_PERSONALITY, perLinux32|(old&^0xff), 0, 0); errno != 0 {
		return fmt.Errorf("set 32-bit personality: %w", errno)
	}
	defer unix.RawSyscall(unix.SYS_PERSONALITY, old, 0, 0)
	return start()
}
