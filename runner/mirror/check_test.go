package mirror

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apkfarm/apkfarm/runner/config"
	"github.com/apkfarm/apkfarm/runner/mirror/mirrortest"
)

// TestCheck: Check writes and removes a probe on a mirror that is ready,
// leaving what the mirror has, and says why one is not.
func TestCheck(t *testing.T) {
	newFixture(t)
	tmp := t.TempDir()
	ok := mirrortest.StartDaemon(t, mirrortest.DaemonOptions{Password: true})
	readOnly := mirrortest.StartDaemon(t, mirrortest.DaemonOptions{ReadOnly: true})
	sshd := mirrortest.StartSSHD(t)
	local := filepath.Join(tmp, "local")
	if err := os.MkdirAll(filepath.Join(local, "x86_64"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(local, "x86_64", "keep.apk"), []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	wrong := filepath.Join(tmp, "wrong.password")
	if err := os.WriteFile(wrong, []byte("not-the-password\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	notDir := filepath.Join(tmp, "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		t    Target
		says string // "" for ready
	}{
		{name: "local", t: target(t, "local", local, nil)},
		{name: "new local", t: target(t, "new", filepath.Join(tmp, "new"), nil)},
		{name: "daemon", t: target(t, "daemon", ok.URL(), func(m *config.Mirror) { m.PasswordFile = ok.PasswordFile })},
		{name: "ssh", t: target(t, "ssh", sshd.URL(filepath.Join(tmp, "ssh")), func(m *config.Mirror) {
			m.IdentityFile, m.KnownHosts = sshd.IdentityFile, sshd.KnownHosts
		})},
		{name: "not a directory", t: target(t, "x", filepath.Join(notDir, "m"), nil), says: "Not a directory"},
		{name: "read only module", t: target(t, "ro", readOnly.URL(), nil), says: "read only = no"},
		{name: "wrong password", t: target(t, "pw", ok.URL(), func(m *config.Mirror) { m.PasswordFile = wrong }), says: "auth failed"},
		{name: "no such module", t: target(t, "mod", strings.TrimSuffix(ok.URL(), "/repo")+"/nope", nil), says: "Unknown module"},
		{name: "down", t: target(t, "down", fmt.Sprintf("rsync://127.0.0.1:%d/repo", mirrortest.ClosedPort(t)), nil), says: "Connection refused"},
		{name: "hang", t: target(t, "hang", "rsync://"+mirrortest.Hang(t)+"/repo", func(m *config.Mirror) { m.Timeout = config.Duration(2e9) }), says: "no answer within 2s"},
		{name: "check_url down", t: target(t, "web", local, func(m *config.Mirror) {
			m.CheckURL = fmt.Sprintf("http://127.0.0.1:%d/", mirrortest.ClosedPort(t))
		}), says: "check_url"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := Check(context.Background(), tc.t)
			switch {
			case tc.says == "" && err != nil:
				t.Errorf("Check = %v, want ready", err)
			case tc.says != "" && (err == nil || !strings.Contains(err.Error(), tc.says)):
				t.Errorf("Check = %v, want an error saying %q", err, tc.says)
			}
		})
	}
	for _, dir := range []string{local, ok.Dir, filepath.Join(tmp, "new"), filepath.Join(tmp, "ssh")} {
		ents, _ := os.ReadDir(dir)
		for _, e := range ents {
			if strings.HasPrefix(e.Name(), ".apkfarm-doctor") {
				t.Errorf("%s: the probe %s was left behind", dir, e.Name())
			}
		}
	}
	sameTreeFiles(t, local, map[string]bool{"x86_64/keep.apk": true})
}

func sameTreeFiles(t *testing.T, dir string, want map[string]bool) {
	t.Helper()
	got := treeOf(t, dir)
	if len(got) != len(want) {
		t.Errorf("%s has %v, want only %v", dir, got, want)
	}
	for k := range want {
		if _, ok := got[k]; !ok {
			t.Errorf("%s lost %s", dir, k)
		}
	}
}
