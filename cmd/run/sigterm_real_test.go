package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/config"
	"github.com/apkfarm/apkfarm/runner/repo"
	"github.com/apkfarm/apkfarm/state"
)

// TestRealSIGTERMEachStage: `run`, a process of its own, gets SIGTERM as
// soon as its live file shows each stage (plan, build, publish, mirror).
// Whatever it was doing, it ends within seconds, leaves the repository
// consistent (its index verifies and names only files that exist with
// their size) and the state readable, and the next run converges to
// everything published and mirrored.
func TestRealSIGTERMEachStage(t *testing.T) {
	arch := config.HostArch()
	bin := runBinary(t)
	for _, stage := range []string{"plan", "build", "publish", "mirror"} {
		t.Run(stage, func(t *testing.T) {
			mirrorDir := filepath.Join(t.TempDir(), "mirror")
			r := newPublishRun(t, fmt.Sprintf("\n[[mirrors]]\nname = \"dir\"\nurl = %q\n", mirrorDir))
			cmd := exec.Command(bin, "--config", r.config)
			var out bytes.Buffer
			cmd.Stdout, cmd.Stderr = &out, &out
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			go func() { done <- cmd.Wait() }()
			live := filepath.Join(r.stateDir, state.LiveFile)
			seen, sent := "", time.Time{}
		watch:
			for {
				select {
				case err := <-done:
					if sent.IsZero() {
						t.Logf("run ended before stage %s was seen (last seen %q): %v", stage, seen, err)
					}
					break watch
				case <-time.After(2 * time.Millisecond):
				}
				if !sent.IsZero() {
					if time.Since(sent) > 60*time.Second {
						cmd.Process.Kill()
						t.Fatalf("run did not end within 60s of SIGTERM at %s:\n%s", stage, out.String())
					}
					continue
				}
				b, err := os.ReadFile(live)
				if err != nil {
					continue
				}
				var l state.Live
				if json.Unmarshal(b, &l) == nil && l.Stage != "" {
					seen = l.Stage
				}
				if seen == stage {
					cmd.Process.Signal(syscall.SIGTERM)
					sent = time.Now()
				}
			}
			code := cmd.ProcessState.ExitCode()
			t.Logf("SIGTERM at %s: exit %d after %v\n%s", stage, code, time.Since(sent).Round(time.Millisecond), out.String())
			if !sent.IsZero() && code != exitTrouble && code != exitOK {
				t.Errorf("exit %d after SIGTERM, want 2 (interrupted) or 0 (it had finished)", code)
			}
			checkRepoConsistent(t, r.repo, r.keysDir, arch)
			b, err := os.ReadFile(filepath.Join(r.stateDir, state.FileName))
			if err == nil {
				if _, err := state.Unmarshal(b); err != nil {
					t.Errorf("status.json unreadable after SIGTERM at %s: %v", stage, err)
				}
			} else if stage != "plan" {
				t.Errorf("no status.json after SIGTERM at %s: %v", stage, err)
			}
			// The next run converges: everything built, published and mirrored.
			_, st := r.runArgs(t, exitOK)
			for _, name := range []string{"libgreet", "hello", "greet-doc"} {
				if a := aportStatus(t, st, arch, name); a.Published != a.Version {
					t.Errorf("after the rerun %s: %+v, want published", name, a)
				}
			}
			published, _ := os.ReadFile(filepath.Join(r.repo, arch, repo.IndexName))
			if b, err := os.ReadFile(filepath.Join(mirrorDir, arch, repo.IndexName)); err != nil || !bytes.Equal(b, published) {
				t.Errorf("after the rerun the mirror does not serve the published index: %v", err)
			}
		})
	}
}

// checkRepoConsistent asserts what a client needs of a repository: each
// arch's index (when there is one) verifies with the farm's keys and names
// only files that exist with its size.
func checkRepoConsistent(t *testing.T, dir, keysDir, arch string) {
	t.Helper()
	keys, err := apk.LoadKeyring(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	idx, _, err := repo.Repository{Dir: dir, Keys: keys}.Index(arch)
	if err != nil {
		t.Fatalf("index: %v", err)
	}
	if idx == nil {
		return
	}
	for _, p := range idx.Packages {
		fi, err := os.Stat(filepath.Join(dir, arch, repo.FileName(p)))
		if err != nil || fi.Size() != p.Size {
			t.Errorf("the index names %s (%d bytes): %v", repo.FileName(p), p.Size, err)
		}
	}
}
