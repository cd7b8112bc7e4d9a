package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
	"github.com/apkfarm/apkfarm/runner/mirror/mirrortest"
)

// TestDoctorMirrors: `run doctor --config` prints a line per mirror: ready,
// or why not (nothing listening, an ssh host key missing from
// known_hosts), and no mirrors is fine.
func TestDoctorMirrors(t *testing.T) {
	ctx := context.Background()
	var out bytes.Buffer
	if !doctorMirrors(ctx, &out, nil) || !strings.Contains(out.String(), "mirrors     ✓ none configured") {
		t.Errorf("no mirrors:\n%s", out.String())
	}

	alpinetest.RequireCommand(t, "rsync", "apt-get install rsync")
	tmp := t.TempDir()
	daemon := mirrortest.StartDaemon(t, mirrortest.DaemonOptions{})
	sshd := mirrortest.StartSSHD(t)
	stranger := filepath.Join(tmp, "stranger_known_hosts")
	key := mirrortest.Keygen(t, filepath.Join(tmp, "stranger"))
	if err := os.WriteFile(stranger, []byte(fmt.Sprintf("[127.0.0.1]:%d %s", sshd.Port, key)), 0o644); err != nil {
		t.Fatal(err)
	}
	down := mirrortest.ClosedPort(t)
	cfgFile := filepath.Join(tmp, "apkfarm.toml")
	cfg := fmt.Sprintf(`[source]
path = "/t"
[publish]
dir = "/r"
[[mirrors]]
name = "here"
url = %q
[[mirrors]]
name = "daemon"
url = %q
[[mirrors]]
name = "down"
url = "rsync://127.0.0.1:%d/repo"
[[mirrors]]
name = "ssh"
url = %q
identity_file = %q
known_hosts = %q
[[mirrors]]
name = "ssh-unknown"
url = %q
identity_file = %q
known_hosts = %q
`, filepath.Join(tmp, "here"), daemon.URL(), down,
		sshd.URL(filepath.Join(tmp, "ssh")), sshd.IdentityFile, sshd.KnownHosts,
		sshd.URL(filepath.Join(tmp, "ssh2")), sshd.IdentityFile, stranger)
	if err := os.WriteFile(cfgFile, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := loadConfig(cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if doctorMirrors(ctx, &out, c.Mirrors) {
		t.Errorf("doctorMirrors is happy with a mirror down:\n%s", out.String())
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	want := []string{
		"mirrors     ✓ here (" + filepath.Join(tmp, "here") + "): reachable and writable",
		"            ✓ daemon (" + daemon.URL() + "): reachable and writable",
		fmt.Sprintf("            ✗ down (rsync://127.0.0.1:%d/repo): write a probe file: rsync exit 10", down),
		"            ✓ ssh (" + sshd.URL(filepath.Join(tmp, "ssh")) + "): reachable and writable",
		// rsync exits 255 (ssh failed) or 12 (the protocol stream broke),
		// whichever it notices first: the message is what counts.
		"            ✗ ssh-unknown (" + sshd.URL(filepath.Join(tmp, "ssh2")) + "): write a probe file: rsync exit ",
	}
	if len(lines) != len(want) {
		t.Fatalf("doctor printed %d lines, want %d:\n%s", len(lines), len(want), out.String())
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d:\n%s\nwant it to start with\n%s", i+1, lines[i], w)
		}
	}
	if !strings.Contains(lines[4], "Offending ED25519 key in "+stranger+":1; Host key for") ||
		!strings.Contains(lines[4], "Host key verification failed") || !strings.Contains(lines[4], "not the one in known_hosts") {
		t.Errorf("the unknown host key line gives no remedy: %s", lines[4])
	}

	// The whole command shows the section (its exit code is the runtime's
	// here: none is found).
	var all, errb bytes.Buffer
	cmdDoctor(ctx, []string{"--config", cfgFile, "--runtime", "no-such-runtime", "--work-dir", t.TempDir()}, &all, &errb)
	if !strings.Contains(all.String(), want[0]) || !strings.Contains(all.String(), "✗ down") {
		t.Errorf("run doctor --config shows no mirrors:\n%s", all.String())
	}
}
