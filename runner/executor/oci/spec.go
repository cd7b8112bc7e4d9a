package oci

import (
	"fmt"
	"os"
	"path"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/apkfarm/apkfarm/runner/executor"
)

// Capabilities is what a build's root keeps: Docker's default set without
// CAP_NET_RAW (no raw sockets or ping spoofing) and CAP_MKNOD (/dev is made
// for the build; images' device nodes are skipped). apk needs CHOWN,
// DAC_OVERRIDE, FOWNER, FSETID and SETFCAP to install packages; abuild
// needs SETUID/SETGID to drop to its build user; KILL, SETPCAP,
// SYS_CHROOT, NET_BIND_SERVICE and AUDIT_WRITE are what test suites
// commonly use. A command run as a non-root User gets none of them (only
// the bounding set).
var Capabilities = []string{
	"CAP_AUDIT_WRITE", "CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FOWNER", "CAP_FSETID",
	"CAP_KILL", "CAP_NET_BIND_SERVICE", "CAP_SETFCAP", "CAP_SETGID", "CAP_SETPCAP",
	"CAP_SETUID", "CAP_SYS_CHROOT",
}

// oomScoreAdj makes the kernel pick a build over the runner when memory
// runs out.
var oomScoreAdj = 500

// DefaultPath is the PATH a command starts with.
const DefaultPath = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// runc's default masked and read-only paths (`runc spec`).
var (
	maskedPaths = []string{
		"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
		"/proc/scsi",
	}
	readonlyPaths = []string{
		"/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger",
	}
)

// specVersion is the config's ociVersion. It is 1.0.2, not the Go
// module's specs.Version (1.2.x): crun before 1.9 refuses a config whose
// ociVersion does not contain "1.0" ("unknown version specified"), and
// nothing here needs a later spec (runc ignores the field).
const specVersion = "1.0.2"

// specInput is everything one container's config depends on.
type specInput struct {
	Root       string
	Hostname   string
	Req        executor.ExecRequest
	Limits     executor.Limits
	Cgroups    Cgroups
	CgroupPath string // relative: runc nests it under its own cgroup
	CgroupNS   bool
	Linux32    bool // the 32-bit personality (see Linux32)
	Mounts     []executor.Mount
}

// parseUser reads "uid:gid" ("" is root).
func parseUser(u string) (uid, gid uint32, err error) {
	if u == "" {
		return 0, 0, nil
	}
	a, b, ok := strings.Cut(u, ":")
	ui, err1 := strconv.ParseUint(a, 10, 32)
	gi, err2 := strconv.ParseUint(b, 10, 32)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, fmt.Errorf("parse user %q: want numeric uid:gid", u)
	}
	return uint32(ui), uint32(gi), nil
}

// buildSpec makes the OCI runtime config of one command.
func buildSpec(in specInput) (*specs.Spec, error) {
	req := in.Req
	if len(req.Argv) == 0 || req.Argv[0] == "" {
		return nil, fmt.Errorf("build container config: empty Argv")
	}
	uid, gid, err := parseUser(req.User)
	if err != nil {
		return nil, err
	}
	cwd := "/"
	if req.Dir != "" {
		if !path.IsAbs(req.Dir) {
			return nil, fmt.Errorf("build container config: working directory %q is not absolute", req.Dir)
		}
		cwd = path.Clean(req.Dir)
	}
	env := []string{DefaultPath}
	for _, kv := range req.Env {
		if k, _, ok := strings.Cut(kv, "="); !ok || k == "" {
			return nil, fmt.Errorf("build container config: env entry %q is not KEY=value", kv)
		}
		env = append(env, kv)
	}
	caps := &specs.LinuxCapabilities{Bounding: Capabilities}
	if uid == 0 {
		caps.Effective, caps.Permitted = Capabilities, Capabilities
	}
	hostname := in.Hostname
	if hostname == "" {
		hostname = "apkfarm"
	}
	s := &specs.Spec{
		Version:  specVersion,
		Hostname: hostname,
		Root:     &specs.Root{Path: in.Root},
		Process: &specs.Process{
			Args:            req.Argv,
			Env:             env,
			Cwd:             cwd,
			User:            specs.User{UID: uid, GID: gid},
			Capabilities:    caps,
			NoNewPrivileges: true,
			OOMScoreAdj:     &oomScoreAdj,
			Rlimits: []specs.POSIXRlimit{
				{Type: "RLIMIT_NOFILE", Hard: nofile(), Soft: nofile()},
				{Type: "RLIMIT_CORE", Hard: 0, Soft: 0},
			},
		},
		Mounts: []specs.Mount{
			{Destination: "/proc", Type: "proc", Source: "proc", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/dev", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "strictatime", "mode=755", "size=65536k"}},
			{Destination: "/dev/pts", Type: "devpts", Source: "devpts", Options: []string{"nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"}},
			{Destination: "/dev/shm", Type: "tmpfs", Source: "shm", Options: []string{"nosuid", "noexec", "nodev", "mode=1777", "size=65536k"}},
			{Destination: "/dev/mqueue", Type: "mqueue", Source: "mqueue", Options: []string{"nosuid", "noexec", "nodev"}},
			{Destination: "/sys", Type: "sysfs", Source: "sysfs", Options: []string{"nosuid", "noexec", "nodev", "ro"}},
			{Destination: "/tmp", Type: "tmpfs", Source: "tmpfs", Options: []string{"nosuid", "nodev", "mode=1777"}},
		},
		Linux: &specs.Linux{
			Namespaces: []specs.LinuxNamespace{
				{Type: specs.PIDNamespace}, {Type: specs.IPCNamespace},
				{Type: specs.UTSNamespace}, {Type: specs.MountNamespace},
			},
			Seccomp:       seccompProfile(),
			MaskedPaths:   maskedPaths,
			ReadonlyPaths: readonlyPaths,
			Resources: &specs.LinuxResources{
				Devices: []specs.LinuxDeviceCgroup{{Allow: false, Access: "rwm"}},
			},
		},
	}
	for _, m := range in.Mounts {
		opts := []string{"rbind", "nosuid", "nodev", "ro"}
		if m.Writable {
			opts = opts[:3]
		}
		s.Mounts = append(s.Mounts, specs.Mount{Destination: path.Clean(m.Target), Type: "bind", Source: m.Source, Options: opts})
	}
	if in.Linux32 {
		s.Linux.Personality = &specs.LinuxPersonality{Domain: specs.PerLinux32}
	}
	if in.CgroupNS {
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.CgroupNamespace})
	}
	if req.Network {
		// The host's network namespace, and its name resolution.
		for _, f := range []string{"/etc/resolv.conf", "/etc/hosts"} {
			if _, err := os.Stat(f); err == nil {
				s.Mounts = append(s.Mounts, specs.Mount{Destination: f, Type: "bind", Source: f,
					Options: []string{"rbind", "ro", "nosuid", "nodev", "noexec"}})
			}
		}
	} else {
		// A new, empty one: runc brings its loopback up.
		s.Linux.Namespaces = append(s.Linux.Namespaces, specs.LinuxNamespace{Type: specs.NetworkNamespace})
	}
	if in.Cgroups.Version != 0 {
		s.Linux.CgroupsPath = in.CgroupPath
		if in.Cgroups.Controllers["memory"] && in.Limits.MemoryBytes > 0 {
			m := in.Limits.MemoryBytes
			s.Linux.Resources.Memory = &specs.LinuxMemory{Limit: &m}
		}
		if in.Cgroups.Controllers["pids"] && in.Limits.Pids > 0 {
			p := in.Limits.Pids
			s.Linux.Resources.Pids = &specs.LinuxPids{Limit: &p}
		}
	}
	return s, nil
}

// nofile is the open-files limit of a build: 65536, or the runner's own
// hard limit when lower (raising it needs CAP_SYS_RESOURCE on the host).
func nofile() uint64 {
	var rl unix.Rlimit
	if err := unix.Getrlimit(unix.RLIMIT_NOFILE, &rl); err == nil && rl.Max < 65536 {
		return rl.Max
	}
	return 65536
}
