package oci

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeBinfmt is a binfmtHost over temporary directories.
type fakeBinfmt struct {
	binfmtHost
	t *testing.T
}

func newFakeBinfmt(t *testing.T, native32 bool) fakeBinfmt {
	d := t.TempDir()
	b := binfmtHost{proc: filepath.Join(d, "proc"), admin: filepath.Join(d, "admin"),
		probe: func(string) bool { return native32 }}
	for _, dir := range []string{b.proc, b.admin} {
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	f := fakeBinfmt{b, t}
	f.write(b.proc, "status", "enabled\n")
	return f
}

func (f fakeBinfmt) write(dir, name, s string) {
	if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

const (
	registeredF   = "enabled\ninterpreter /usr/libexec/qemu-binfmt/riscv64-binfmt-P\nflags: PF\noffset 0\n"
	registeredNoF = "enabled\ninterpreter /usr/bin/qemu-riscv64\nflags: \noffset 0\n"
	registeredOff = "disabled\ninterpreter /usr/libexec/qemu-binfmt/riscv64-binfmt-P\nflags: PF\n"
)

// TestCheckBinfmt: every state a handler can be in gives its own remedy.
func TestCheckBinfmt(t *testing.T) {
	type binfmtCase struct {
		name     string
		arch     string
		native32 bool
		setup    func(f fakeBinfmt)
		want     string // "" no error
	}
	tests := []binfmtCase{
		{name: "host arch", arch: hostArch()},
		{name: "unknown arch", arch: "sparc", want: `unknown arch "sparc"`},
		{name: "binfmt_misc not mounted", arch: "riscv64",
			setup: func(f fakeBinfmt) { os.Remove(filepath.Join(f.proc, "status")) },
			want:  "binfmt_misc not mounted, so no riscv64 builds: mount -t binfmt_misc binfmt_misc "},
		{name: "not installed", arch: "riscv64",
			want: "qemu-riscv64 binfmt handler not installed, so no riscv64 builds: apt-get install qemu-user-static binfmt-support && update-binfmts --enable qemu-riscv64"},
		{name: "installed but disabled", arch: "loongarch64",
			setup: func(f fakeBinfmt) { f.write(f.admin, "qemu-loongarch64", "qemu-user-static\nmagic\n") },
			want:  "qemu-loongarch64 binfmt handler installed but disabled, so no loongarch64 builds: update-binfmts --enable qemu-loongarch64"},
		{name: "registered but disabled", arch: "riscv64",
			setup: func(f fakeBinfmt) { f.write(f.proc, "qemu-riscv64", registeredOff) },
			want:  "qemu-riscv64 binfmt handler registered but disabled, so no riscv64 builds: echo 1 > "},
		{name: "without the F flag", arch: "riscv64",
			setup: func(f fakeBinfmt) { f.write(f.proc, "qemu-riscv64", registeredNoF) },
			want:  "qemu-riscv64 binfmt handler lacks the F flag"},
		{name: "ready", arch: "riscv64",
			setup: func(f fakeBinfmt) { f.write(f.proc, "qemu-riscv64", registeredF) }},
		{name: "armv7 and armhf share qemu-arm", arch: "armhf",
			setup: func(f fakeBinfmt) { f.write(f.proc, "qemu-arm", registeredF) }},
	}
	if hostArch() == "x86_64" {
		tests = append(tests, []binfmtCase{
			{name: "x86 on a kernel with IA-32 emulation", arch: "x86", native32: true},
			{name: "x86 without IA-32 emulation or qemu-i386", arch: "x86",
				want: "this kernel does not run x86 programs itself, and no qemu-i386 binfmt handler is installed, so no x86 builds: boot with ia32_emulation=on, or register qemu's (make deps-binfmt does): " + InstallI386},
			{name: "x86 with qemu-i386 installed but disabled", arch: "x86",
				setup: func(f fakeBinfmt) { f.write(f.admin, "qemu-i386", "apkfarm\n") },
				want:  "qemu-i386 binfmt handler installed but disabled, so no x86 builds: update-binfmts --enable qemu-i386"},
			{name: "x86 through qemu-i386", arch: "x86",
				setup: func(f fakeBinfmt) { f.write(f.proc, "qemu-i386", registeredF) }},
		}...)
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeBinfmt(t, tt.native32)
			if tt.setup != nil {
				tt.setup(f)
			}
			err := f.check(tt.arch)
			switch {
			case tt.want == "" && err != nil:
				t.Errorf("check(%s) = %v; want nil", tt.arch, err)
			case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
				t.Errorf("check(%s) = %v; want %q", tt.arch, err, tt.want)
			}
		})
	}
}

// TestCompatNative: a 32-bit arch is native only when no enabled qemu
// handler takes its programs over and the kernel runs them.
func TestCompatNative(t *testing.T) {
	f := newFakeBinfmt(t, true)
	if !f.compatNative("x86") {
		t.Error("x86 with the kernel's emulation and no handler: not native")
	}
	f.write(f.proc, "qemu-i386", registeredF)
	if f.compatNative("x86") {
		t.Error("x86 with an enabled qemu-i386 handler: native")
	}
	if g := newFakeBinfmt(t, false); g.compatNative("x86") {
		t.Error("x86 on a kernel that refuses it: native")
	}
}

// TestRunsProgram: the probe runs a program from a memory file and says
// whether it ran; the tiny 32-bit programs exit 0 where qemu runs them.
func TestRunsProgram(t *testing.T) {
	host, err := os.ReadFile("/bin/true")
	if err != nil {
		t.Skip(err)
	}
	if !runsProgram(host) {
		t.Error("runsProgram(/bin/true) = false")
	}
	if f, _ := os.ReadFile("/bin/false"); runsProgram(f) {
		t.Error("runsProgram(/bin/false) = true")
	}
	if runsProgram([]byte("not a program")) {
		t.Error("runsProgram(garbage) = true")
	}
	for name, prog := range map[string][]byte{"qemu-i386-static": i386Exit0, "qemu-arm-static": armExit0} {
		q, err := exec.LookPath(name)
		if err != nil {
			continue
		}
		p := filepath.Join(t.TempDir(), "prog")
		if err := os.WriteFile(p, prog, 0o755); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command(q, p).CombinedOutput(); err != nil {
			t.Errorf("%s: the probe program: %v %s", name, err, out)
		}
	}
}

func TestLinux32(t *testing.T) {
	for arch, want := range map[string]bool{"x86": hostArch() == "x86_64", "armv7": hostArch() == "aarch64",
		"armhf": hostArch() == "aarch64", "x86_64": false, "riscv64": false} {
		if got := Linux32(arch); got != want {
			t.Errorf("Linux32(%s) = %v; want %v", arch, got, want)
		}
	}
}

func readPersonality(t *testing.T) string {
	b, err := os.ReadFile("/proc/self/personality")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
