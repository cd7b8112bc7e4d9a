package oci

import (
	"runtime"

	specs "github.com/opencontainers/runtime-spec/specs-go"
)

// deniedSyscalls fail with EPERM in a build. The filter allows everything
// else (a build runs arbitrary upstream test suites), and takes away what
// only serves to reach kernel code meant for the host's root or to leave
// the sandbox: new namespaces (a user namespace would hand the build a
// full capability set over fresh kernel attack surface), joining others,
// the kernel keyring (not namespaced), BPF, perf, userfaultfd, modules,
// kexec, mounting, swap, reboot, accounting and quotas. Most of these need
// a capability the build does not have anyway; the filter holds if one
// slips through.
var deniedSyscalls = []string{
	"acct", "add_key", "bpf", "delete_module", "finit_module", "fsconfig",
	"fsmount", "fsopen", "fspick", "init_module", "kexec_file_load", "kexec_load",
	"keyctl", "lookup_dcookie", "mount", "mount_setattr", "move_mount",
	"open_by_handle_at", "open_tree", "perf_event_open", "pivot_root",
	"quotactl", "reboot", "request_key", "setns", "swapoff", "swapon",
	"umount", "umount2", "unshare", "userfaultfd",
}

// cloneNamespaceFlags are the clone(2) flags that make namespaces:
// CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME.
var cloneNamespaceFlags = []uint64{
	0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080,
}

// seccompArches are the syscall ABIs a build may use: the host's and its
// 32-bit compat ABI (x86 builds on x86_64, armv7 on aarch64). Syscalls of
// other ABIs are refused.
func seccompArches() []specs.Arch {
	switch runtime.GOARCH {
	case "amd64":
		return []specs.Arch{specs.ArchX86_64, specs.ArchX86, specs.ArchX32}
	case "arm64":
		return []specs.Arch{specs.ArchAARCH64, specs.ArchARM}
	}
	return nil // the native ABI only
}

// seccompProfile is the filter every build runs under.
func seccompProfile() *specs.LinuxSeccomp {
	eperm, enosys := uint(1), uint(38)
	cloneArg := uint(0)
	if runtime.GOARCH == "s390x" {
		cloneArg = 1 // s390x swaps clone's first two arguments
	}
	rules := []specs.LinuxSyscall{
		{Names: deniedSyscalls, Action: specs.ActErrno, ErrnoRet: &eperm},
	}
	// clone with any namespace flag: EPERM (fork and threads pass). One
	// rule per flag: a rule's conditions are ANDed, rules are ORed.
	for _, f := range cloneNamespaceFlags {
		rules = append(rules, specs.LinuxSyscall{Names: []string{"clone"}, Action: specs.ActErrno, ErrnoRet: &eperm,
			Args: []specs.LinuxSeccompArg{{Index: cloneArg, Value: f, ValueTwo: f, Op: specs.OpMaskedEqual}}})
	}
	return &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: seccompArches(),
		Syscalls: append(rules,
			// clone3 passes its flags in memory, out of a filter's reach:
			// ENOSYS makes libcs fall back to clone (Docker does the same).
			specs.LinuxSyscall{Names: []string{"clone3"}, Action: specs.ActErrno, ErrnoRet: &enosys},
		),
	}
}
