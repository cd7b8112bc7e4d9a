package oci

import (
	"os"
	"path/filepath"
	"testing"
)

// TestExecFailure: both runtimes' words for a program that cannot be run
// become a shell's 127 or 126; anything else stays an error. The lines are
// what runc 1.1 and crun 1.8 write with --log-format json.
func TestExecFailure(t *testing.T) {
	for _, tc := range []struct {
		line string
		code int
		ok   bool
	}{
		{`{"level":"error","msg":"runc run failed: unable to start container process: exec: \"nope\": executable file not found in $PATH","time":"x"}`, 127, true},
		{`{"level":"error","msg":"runc run failed: unable to start container process: exec: \"/nope\": stat /nope: no such file or directory","time":"x"}`, 127, true},
		{`{"level":"error","msg":"runc run failed: unable to start container process: exec: \"/etc/hosts\": permission denied","time":"x"}`, 126, true},
		{"{\"msg\":\"executable file `nope` not found in $PATH: No such file or directory\",\"level\":\"error\",\"time\":\"x\"}", 127, true},
		{"{\"msg\":\"executable file `/no/such/program` not found in $PATH: No such file or directory\",\"level\":\"error\",\"time\":\"x\"}", 127, true},
		{`{"msg":"open executable: Permission denied","level":"error","time":"x"}`, 126, true},
		{`{"msg":"open executable: Operation not permitted","level":"error","time":"x"}`, 126, true},
		// Trouble with the sandbox, not the command.
		{`{"msg":"cgroups in hybrid mode not supported, drop all controllers from cgroupv2","level":"error","time":"x"}`, 0, false},
		{`{"msg":"unknown version specified","level":"error","time":"x"}`, 0, false},
		{`{"level":"error","msg":"runc run failed: unable to apply cgroup configuration: mkdir /sys/fs/cgroup/x: no such file or directory","time":"x"}`, 0, false},
		{`{"msg":"executable file not found","level":"warning","time":"x"}`, 0, false},
	} {
		f := filepath.Join(t.TempDir(), "runtime.log")
		if err := os.WriteFile(f, []byte(tc.line+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if code, ok := execFailure(f); code != tc.code || ok != tc.ok {
			t.Errorf("execFailure(%s) = %d, %v; want %d, %v", tc.line, code, ok, tc.code, tc.ok)
		}
	}
}

// TestNotExist: both runtimes' "no such container".
func TestNotExist(t *testing.T) {
	for out, want := range map[string]bool{
		`time="2026-11-22T02:23:54Z" level=error msg="container does not exist"`:                      true,
		"error opening file `/run/crun/apkfarm-x-1/status`: No such file or directory":                true,
		`time="2026-11-22T02:23:54Z" level=error msg="cannot delete container: container is running"`: false,
		"the container `apkfarm-x-1` is not in 'stopped' state":                                       false,
	} {
		if got := notExist(out); got != want {
			t.Errorf("notExist(%q) = %v, want %v", out, got, want)
		}
	}
}
