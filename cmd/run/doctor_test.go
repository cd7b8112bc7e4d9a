package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/image"
)

func TestDoctor(t *testing.T) {
	ctx := context.Background()
	var out, errb bytes.Buffer
	if code := cmdDoctor(ctx, []string{"--runtime", "no-such-runtime", "--work-dir", t.TempDir()}, &out, &errb); code != exitTrouble {
		t.Errorf("doctor without a runtime exited %d, want %d", code, exitTrouble)
	}
	if !strings.Contains(out.String(), "runtime     ✗") || !strings.Contains(out.String(), "apt-get install runc") || !strings.Contains(out.String(), "NOT READY") {
		t.Errorf("doctor without a runtime printed:\n%s", out.String())
	}
	// One line per Alpine arch, each ready or with its remedy.
	for _, arch := range image.Arches() {
		re := regexp.MustCompile(`(?m)^(arches)? +(✓ ` + arch + ` +(native|qemu binfmt handler with the F flag)|✗ ` + arch + ` +.*(update-binfmts|apt-get install|mount -t binfmt_misc|echo 1 >))`)
		if !re.MatchString(out.String()) {
			t.Errorf("doctor has no line for %s with its state or remedy:\n%s", arch, out.String())
		}
	}
	if code := cmdDoctor(ctx, []string{"extra"}, &out, &errb); code != exitTrouble {
		t.Errorf("doctor with an argument exited %d", code)
	}

	// The configured runtime: build.runtime of --config, which --runtime
	// overrides.
	cfgFile := filepath.Join(t.TempDir(), "apkfarm.toml")
	if err := os.WriteFile(cfgFile, []byte("[source]\npath = \"/t\"\n[publish]\ndir = \"/r\"\n[build]\nruntime = \"/nonexistent/crun\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	if code := cmdDoctor(ctx, []string{"--config", cfgFile, "--work-dir", t.TempDir()}, &out, &errb); code != exitTrouble {
		t.Errorf("doctor with a missing configured runtime exited %d, want %d", code, exitTrouble)
	}
	for _, want := range []string{`configured  ✓ "/nonexistent/crun", from build.runtime in ` + cfgFile, "runtime     ✗", "apt-get install crun"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("doctor with a configured crun lacks %q:\n%s", want, out.String())
		}
	}
	out.Reset()
	cmdDoctor(ctx, []string{"--config", cfgFile, "--runtime", "no-such-runtime", "--work-dir", t.TempDir()}, &out, &errb)
	if want := `configured  ✓ "no-such-runtime", from --runtime`; !strings.Contains(out.String(), want) {
		t.Errorf("doctor --runtime lacks %q:\n%s", want, out.String())
	}

	alpinetest.RequireRoot(t)
	ref, err := alpinetest.TarballPath("x86_64")
	if err != nil {
		alpinetest.SkipOrFail(t, "%v", err)
	}
	for _, rt := range []string{"runc", "crun"} {
		t.Run(rt, func(t *testing.T) {
			alpinetest.RequireCommand(t, rt, "apt-get install "+rt)
			var out, errb bytes.Buffer
			code := cmdDoctor(ctx, []string{"--runtime", rt, "--work-dir", t.TempDir(), "--cache", t.TempDir(), "--image", "rootfs:" + ref}, &out, &errb)
			if code != exitOK {
				t.Fatalf("doctor on a ready host exited %d:\n%s%s", code, out.String(), errb.String())
			}
			for _, want := range []string{"runtime     ✓", rt + " version", "x86_64       native", "smoke test  ✓", "native builds: ready"} {
				if !strings.Contains(out.String(), want) {
					t.Errorf("doctor output lacks %q:\n%s", want, out.String())
				}
			}
		})
	}
}

// TestDoctorPublish: with --config, doctor checks the signer, the trusted
// keys and the directories publishing writes, each ✗ with its cause.
func TestDoctorPublish(t *testing.T) {
	dir := t.TempDir()
	k, err := apk.GenerateKey(2048)
	if err != nil {
		t.Fatal(err)
	}
	priv, pub, err := apk.WriteKeyPair(dir, "farm-0000000a", k)
	if err != nil {
		t.Fatal(err)
	}
	keys := filepath.Join(dir, "keys")
	os.MkdirAll(keys, 0o755)
	b, _ := os.ReadFile(pub)
	os.WriteFile(filepath.Join(keys, filepath.Base(pub)), b, 0o644)
	write := func(signerKey string) string {
		p := filepath.Join(dir, "apkfarm.toml")
		os.WriteFile(p, []byte(fmt.Sprintf("[source]\npath = %q\n[publish]\ndir = %q\nkeys = %q\n[state]\ndir = %q\n[signer]\nkeys = [%q]\n",
			dir, filepath.Join(dir, "repo"), keys, filepath.Join(dir, "state"), signerKey)), 0o644)
		return p
	}
	var out bytes.Buffer
	cfg, err := loadConfig(write(priv))
	if err != nil {
		t.Fatal(err)
	}
	if !checkPublish(context.Background(), &out, cfg) || !strings.Contains(out.String(), "signer      ✓ key backend signs with farm-0000000a.rsa.pub") ||
		!strings.Contains(out.String(), "publish.dir "+filepath.Join(dir, "repo")+" is writable") {
		t.Errorf("good configuration:\n%s", out.String())
	}
	out.Reset()
	cfg, _ = loadConfig(write(filepath.Join(dir, "missing.rsa")))
	if checkPublish(context.Background(), &out, cfg) || !strings.Contains(out.String(), "signer      ✗ signer.keys:") {
		t.Errorf("missing key:\n%s", out.String())
	}
}
