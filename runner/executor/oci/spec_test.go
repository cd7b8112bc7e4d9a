package oci

import (
	"slices"
	"strings"
	"testing"

	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/apkfarm/apkfarm/runner/executor"
)

func nsTypes(s *specs.Spec) []string {
	var out []string
	for _, n := range s.Linux.Namespaces {
		out = append(out, string(n.Type))
	}
	slices.Sort(out)
	return out
}

func mountDests(s *specs.Spec) []string {
	var out []string
	for _, m := range s.Mounts {
		out = append(out, m.Destination)
	}
	return out
}

func TestBuildSpec(t *testing.T) {
	cg := Cgroups{Version: 2, Controllers: map[string]bool{"memory": true, "pids": true}}
	base := specInput{Root: "/s/root", Cgroups: cg, CgroupPath: "apkfarm/x", Limits: executor.Limits{MemoryBytes: 1 << 30, Pids: 512}}

	in := base
	in.Req = executor.ExecRequest{Argv: []string{"abuild", "-r"}, Env: []string{"A=b"}, Dir: "/home/build/", User: "1000:300"}
	s, err := buildSpec(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := nsTypes(s); strings.Join(got, " ") != "ipc mount network pid uts" {
		t.Errorf("namespaces without Network = %v", got)
	}
	if s.Process.Cwd != "/home/build" || s.Process.User.UID != 1000 || s.Process.User.GID != 300 {
		t.Errorf("process = %+v", s.Process)
	}
	if !slices.Equal(s.Process.Env, []string{DefaultPath, "A=b"}) {
		t.Errorf("env = %v", s.Process.Env)
	}
	if !s.Process.NoNewPrivileges || len(s.Process.Capabilities.Effective) != 0 || len(s.Process.Capabilities.Ambient) != 0 {
		t.Errorf("a non-root user must get no capabilities and no_new_privileges: %+v", s.Process.Capabilities)
	}
	if *s.Linux.Resources.Memory.Limit != 1<<30 || *s.Linux.Resources.Pids.Limit != 512 || s.Linux.CgroupsPath != "apkfarm/x" {
		t.Errorf("resources = %+v %+v %q", s.Linux.Resources.Memory, s.Linux.Resources.Pids, s.Linux.CgroupsPath)
	}
	for _, d := range []string{"/proc", "/dev", "/dev/pts", "/dev/shm", "/sys", "/tmp"} {
		if !slices.Contains(mountDests(s), d) {
			t.Errorf("no %s mount", d)
		}
	}
	if slices.Contains(mountDests(s), "/etc/resolv.conf") {
		t.Errorf("the host's resolv.conf is mounted without Network")
	}
	if !slices.Contains(s.Linux.MaskedPaths, "/proc/kcore") || !slices.Contains(s.Linux.ReadonlyPaths, "/proc/sys") {
		t.Errorf("masked/readonly paths missing")
	}

	in = base
	in.Req = executor.ExecRequest{Argv: []string{"apk", "add"}, Network: true}
	s, err = buildSpec(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := nsTypes(s); slices.Contains(got, "network") {
		t.Errorf("namespaces with Network = %v, want the host's network", got)
	}
	root := s.Process.Capabilities
	for _, c := range []string{"CAP_CHOWN", "CAP_SETUID", "CAP_SETFCAP"} {
		if !slices.Contains(root.Effective, c) {
			t.Errorf("root lacks %s", c)
		}
	}
	for _, c := range []string{"CAP_SYS_ADMIN", "CAP_NET_RAW", "CAP_MKNOD", "CAP_SYS_PTRACE", "CAP_NET_ADMIN"} {
		if slices.Contains(root.Bounding, c) {
			t.Errorf("root keeps %s", c)
		}
	}

	// No cgroups: no path, no limits (runc would fail otherwise).
	in.Cgroups = Cgroups{}
	s, _ = buildSpec(in)
	if s.Linux.CgroupsPath != "" || s.Linux.Resources.Memory != nil {
		t.Errorf("limits set without cgroups")
	}

	for _, req := range []executor.ExecRequest{
		{}, {Argv: []string{""}}, {Argv: []string{"x"}, User: "root"}, {Argv: []string{"x"}, User: "1:"},
		{Argv: []string{"x"}, Dir: "rel"}, {Argv: []string{"x"}, Env: []string{"=v"}},
	} {
		in.Req = req
		if _, err := buildSpec(in); err == nil {
			t.Errorf("buildSpec(%+v) succeeded", req)
		}
	}
}
