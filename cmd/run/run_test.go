package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/plan"
	"github.com/apkfarm/apkfarm/runner/published/publishedtest"
	"github.com/apkfarm/apkfarm/state"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/plan")

// fixtureTree is the small tree the dry-run tests plan, relative to this
// package's directory.
const fixtureTree = "../../testdata/plan/tree"

var runNow = time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)

func init() { now = func() time.Time { return runNow } }

// fixture is a runner's world for the fixture tree: a signed published
// repo per arch, an upstream index, a previous state and a config.
type fixture struct {
	dir, config, keys, repo, stateDir string
	signer                            *apk.Signer
}

func pkg(nameVer, arch, origin string, provides ...string) *apk.Package {
	name, ver, _ := strings.Cut(nameVer, "=")
	return &apk.Package{Name: name, Version: ver, Arch: arch, Origin: origin, Provides: provides,
		Description: name, BuildTime: 1700000000}
}

func newFixture(t *testing.T, extraConfig string) *fixture {
	t.Helper()
	f := &fixture{dir: t.TempDir()}
	f.signer, f.keys = publishedtest.Signer(t)
	f.repo = filepath.Join(f.dir, "repo")
	f.stateDir = filepath.Join(f.dir, "state")
	published := map[string][]*apk.Package{
		"x86_64": {
			pkg("libgreet=1.0-r0", "x86_64", "libgreet", "so:libgreet.so.1=1.0"), pkg("libgreet-dev=1.0-r0", "x86_64", "libgreet"),
			pkg("greet-data=3-r0", "noarch", "greet-data"),
			pkg("stable=1.0-r2", "x86_64", "stable"), pkg("x86only=0.5-r0", "x86_64", "x86only"),
			pkg("broken=0.9-r0", "x86_64", "broken"),
		},
		"aarch64": {
			pkg("libgreet=1.0-r0", "aarch64", "libgreet"), pkg("libgreet-dev=1.0-r0", "aarch64", "libgreet"),
			pkg("stable=1.0-r2", "aarch64", "stable"), pkg("x86only=0.5-r0", "aarch64", "x86only"),
			pkg("device-old=1-r0", "aarch64", "device-old"),
		},
	}
	for arch, pkgs := range published {
		publishedtest.WriteIndex(t, filepath.Join(f.repo, arch, "APKINDEX.tar.gz"), f.signer, pkgs...)
		// The upstream index is unsigned: no upstream.keys is configured.
		publishedtest.WriteIndex(t, filepath.Join(f.dir, "upstream", arch, "APKINDEX.tar.gz"), nil,
			pkg("musl-dev=1.2.5-r0", arch, "musl"), pkg("musl=1.2.5-r0", arch, "musl", "so:libc.musl-"+arch+".so.1=1"),
			pkg("make=4.4-r0", arch, "make", "cmd:make=4.4-r0"))
	}
	// hello failed on aarch64 at this version and APKBUILD ten minutes ago.
	apkbuild, err := os.ReadFile(filepath.Join(fixtureTree, "main/hello/APKBUILD"))
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(apkbuild)
	st := state.New()
	st.Ensure("aarch64", "hello").AddAttempt(state.Attempt{Version: "2.12-r1", Hash: hex.EncodeToString(sum[:]),
		Start: runNow.Add(-20 * time.Minute), End: runNow.Add(-10 * time.Minute), ExitCode: 1, Class: state.ClassBuildError})
	st.Ensure("aarch64", "hello").Status = state.Failed
	if err := os.MkdirAll(f.stateDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if _, err := state.Save(filepath.Join(f.stateDir, state.FileName), st); err != nil {
		t.Fatal(err)
	}
	f.config = filepath.Join(f.dir, "apkfarm.toml")
	cfg := fmt.Sprintf(`arches = ["x86_64", "aarch64"]
native_arch = "x86_64"
[source]
path = %q
exclude = ["device/archived"]
[publish]
dir = %q
keys = %q
[upstream]
indexes = [%q]
[state]
dir = %q
[plan]
retry_delays = ["1h", "6h"]
%s`, fixtureTree, f.repo, f.keys, filepath.Join(f.dir, "upstream", "{arch}", "APKINDEX.tar.gz"), f.stateDir, extraConfig)
	if err := os.WriteFile(f.config, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return f
}

// run calls cmdRun in-process and returns its exit code and output.
func (f *fixture) run(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := cmdRun(context.Background(), append([]string{"--config", f.config}, args...), &stdout, &stderr)
	return code, stdout.String(), stderr.String()
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "plan", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file: %v (go test ./cmd/run -update writes it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (go test ./cmd/run -run DryRun -update rewrites it); got:\n%s", path, got)
	}
}

func TestDryRunGolden(t *testing.T) {
	f := newFixture(t, "")
	code, stdout, stderr := f.run(t, "--dry-run", "--json")
	if code != exitOK {
		t.Fatalf("exit %d, want 0; stderr:\n%s", code, stderr)
	}
	golden(t, "dry-run.json", []byte(stdout))
	var p plan.Plan
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatalf("the JSON plan does not parse back: %v", err)
	}

	code, text, stderr := f.run(t, "--dry-run")
	if code != exitOK {
		t.Fatalf("text: exit %d; stderr:\n%s", code, stderr)
	}
	golden(t, "dry-run.txt", []byte(text))

	// A second run over the unchanged tree and repo (caches now warm)
	// prints the same plan.
	if _, again, _ := f.run(t, "--dry-run", "--json"); again != stdout {
		t.Errorf("second dry run differs from the first:\n%s", again)
	}
	// A dry run changes nothing: the state file is as it was.
	before, _ := os.ReadFile(filepath.Join(f.stateDir, state.FileName))
	f.run(t, "--dry-run")
	if after, _ := os.ReadFile(filepath.Join(f.stateDir, state.FileName)); !bytes.Equal(before, after) {
		t.Error("a dry run changed the state file")
	}
}

func TestDryRunOptions(t *testing.T) {
	f := newFixture(t, "")
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantOut    []string // substrings of stdout
		wantNotOut []string
		wantErr    string // substring of stderr
	}{
		{name: "only a subpackage name, one arch", args: []string{"--only", "libgreet-dev", "--arch", "x86_64"},
			wantOut: []string{"libgreet 1.0-r0 → 1.1-r0 (outdated)", "== x86_64"}, wantNotOut: []string{"== aarch64", "hello 2.12"}},
		{name: "only with deps", args: []string{"--only", "hello", "--with-deps", "--arch", "x86_64"},
			wantOut: []string{"batch 2\n    hello - → 2.12-r1 (new) after libgreet"}},
		{name: "only without deps uses what is published", args: []string{"--only", "hello", "--arch", "x86_64"},
			wantOut: []string{"hello - → 2.12-r1 (new)\n"}},
		{name: "why", args: []string{"--why", "hello-doc,stable"},
			wantOut: []string{"x86_64: hello-doc (a subpackage of hello) is built in batch 2: new (published nothing, tree 2.12-r1)\n",
				"aarch64: hello-doc (a subpackage of hello) is not built: failed: failed 1 time(s) at 2.12-r1; next retry at 2026-11-22T03:50:00Z\n",
				"x86_64: stable is up to date: 1.0-r2 is published\n"},
			wantNotOut: []string{"batch 1\n"}},
		{name: "unknown only", args: []string{"--only", "nope"}, wantCode: exitTrouble, wantErr: `"nope": no aport or subpackage`},
		{name: "unknown arch", args: []string{"--arch", "riscv64"}, wantCode: exitTrouble, wantErr: `--arch "riscv64" is not in`},
		{name: "with-deps alone", args: []string{"--with-deps"}, wantCode: exitTrouble, wantErr: "--with-deps needs --only"},
		{name: "stray argument", args: []string{"main/hello"}, wantCode: exitTrouble, wantErr: `unexpected argument "main/hello"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := f.run(t, append([]string{"--dry-run"}, tt.args...)...)
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d; stderr:\n%s", code, tt.wantCode, stderr)
			}
			for _, s := range tt.wantOut {
				if !strings.Contains(stdout, s) {
					t.Errorf("stdout lacks %q:\n%s", s, stdout)
				}
			}
			for _, s := range tt.wantNotOut {
				if strings.Contains(stdout, s) {
					t.Errorf("stdout has %q:\n%s", s, stdout)
				}
			}
			if !strings.Contains(stderr, tt.wantErr) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.wantErr)
			}
		})
	}
}

// TestDryRunBadIndex: an arch whose published index is unsigned or signed
// by an unknown key is an error for that arch (exit 2), never an empty
// repo; the other arch is still planned.
func TestDryRunBadIndex(t *testing.T) {
	strangerSigner := publishedtest.Stranger(t, "stranger-12345678.rsa.pub")
	for _, tt := range []struct {
		name   string
		signer *apk.Signer
		want   string
	}{{"unsigned", nil, "signature"}, {"unknown key", strangerSigner, "stranger-12345678.rsa.pub"}} {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t, "")
			publishedtest.WriteIndex(t, filepath.Join(f.repo, "aarch64", "APKINDEX.tar.gz"), tt.signer,
				pkg("libgreet=1.1-r0", "aarch64", "libgreet"))
			code, stdout, stderr := f.run(t, "--dry-run", "--json")
			if code != exitTrouble {
				t.Fatalf("exit %d, want %d", code, exitTrouble)
			}
			var p plan.Plan
			if err := json.Unmarshal([]byte(stdout), &p); err != nil {
				t.Fatal(err)
			}
			if a := p.Arch("aarch64"); a == nil || !strings.Contains(a.Error, tt.want) || len(a.Builds) != 0 {
				t.Errorf("aarch64 = %+v, want an error containing %q and no builds", a, tt.want)
			}
			if x := p.Arch("x86_64"); x == nil || x.Error != "" || len(x.Builds) == 0 {
				t.Errorf("x86_64 = %+v, want it planned", x)
			}
			if !strings.Contains(stderr, "aarch64: ") || !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr = %q, want the arch and its error", stderr)
			}
		})
	}
}

func TestDryRunBootstrapMissingRepo(t *testing.T) {
	f := newFixture(t, "")
	if err := os.RemoveAll(f.repo); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := f.run(t, "--dry-run", "--json", "--arch", "x86_64")
	if code != exitOK {
		t.Fatalf("exit %d; stderr:\n%s", code, stderr)
	}
	var p plan.Plan
	if err := json.Unmarshal([]byte(stdout), &p); err != nil {
		t.Fatal(err)
	}
	for _, b := range p.Arch("x86_64").Builds {
		if b.Reason != plan.ReasonNew {
			t.Errorf("%s: reason %q, want new (no published index)", b.Pkgname, b.Reason)
		}
	}
	if n := len(p.Arch("x86_64").Builds); n < 4 {
		t.Errorf("%d builds, want every valid aport of the tree", n)
	}
}

func TestRunConfigErrors(t *testing.T) {
	tests := []struct {
		name, config string
		want         []string
	}{
		{"unknown keys, each with its line", "arches = [\"x86_64\"]\ncolour = \"red\"\n[source]\npath = \"x\"\nexcludes = []\n",
			[]string{`:2: unknown key "colour"`, `:5: unknown key "source.excludes"`}},
		{"every problem at once", "arches = [\"x86_64\", \"m68k\"]\n[publish]\nurl = \"https://example.org/repo\"\n[plan]\nretry_delays = [\"-1h\"]\n",
			[]string{`source.path: missing`, `arches: unknown arch "m68k"`, `publish.url: "https://example.org/repo" does not contain {arch}`,
				`plan.retry_delays: delay 1 is -1h0m0s`}},
		{"bad duration", "[plan]\nretry_delays = [\"soon\"]\n", []string{`parse duration "soon"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.toml")
			if err := os.WriteFile(path, []byte(tt.config), 0o644); err != nil {
				t.Fatal(err)
			}
			var stdout, stderr bytes.Buffer
			code := cmdRun(context.Background(), []string{"--dry-run", "--config", path}, &stdout, &stderr)
			if code != exitTrouble || stdout.Len() != 0 {
				t.Fatalf("exit %d with output %q, want %d and none", code, stdout.String(), exitTrouble)
			}
			for _, w := range tt.want {
				if !strings.Contains(stderr.String(), w) {
					t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
				}
			}
		})
	}
	var stderr bytes.Buffer
	t.Setenv("APKFARM_CONFIG", filepath.Join(t.TempDir(), "none.toml"))
	if code := cmdRun(context.Background(), []string{"--dry-run"}, &bytes.Buffer{}, &stderr); code != exitTrouble ||
		!strings.Contains(stderr.String(), "none.toml") {
		t.Errorf("missing config from $APKFARM_CONFIG: exit %d, stderr %q", code, stderr.String())
	}
}

// TestDryRunPublishURL: the published index read over HTTP (publish.url)
// gives the same plan as from disk; a 404 is an empty repo.
func TestDryRunPublishURL(t *testing.T) {
	f := newFixture(t, "")
	_, fromDisk, _ := f.run(t, "--dry-run", "--json")
	srv := httptest.NewServer(http.FileServer(http.Dir(f.repo)))
	defer srv.Close()
	cfg, err := os.ReadFile(f.config)
	if err != nil {
		t.Fatal(err)
	}
	withURL := strings.Replace(string(cfg), fmt.Sprintf("dir = %q\n", f.repo),
		fmt.Sprintf("url = %q\n", srv.URL+"/{arch}/APKINDEX.tar.gz"), 1)
	if withURL == string(cfg) {
		t.Fatal("publish.dir not found in the fixture config")
	}
	if err := os.WriteFile(f.config, []byte(withURL), 0o644); err != nil {
		t.Fatal(err)
	}
	code, fromURL, stderr := f.run(t, "--dry-run", "--json")
	if code != exitOK || fromURL != fromDisk {
		t.Fatalf("exit %d, plan from the URL differs from the plan from disk:\n%s\nstderr: %s", code, fromURL, stderr)
	}
	if err := os.Remove(filepath.Join(f.repo, "aarch64", "APKINDEX.tar.gz")); err != nil {
		t.Fatal(err)
	}
	code, out, stderr := f.run(t, "--dry-run", "--arch", "aarch64")
	if code != exitOK || !strings.Contains(out, "libgreet - → 1.1-r0 (new)") {
		t.Fatalf("404: exit %d, want every aport new:\n%s\nstderr: %s", code, out, stderr)
	}
}

func TestDryRunNoKeys(t *testing.T) {
	f := newFixture(t, "")
	if err := os.RemoveAll(f.keys); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr := f.run(t, "--dry-run")
	if code != exitTrouble || stdout != "" || !strings.Contains(stderr, "publish.keys: ") || !strings.Contains(stderr, "run keygen") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 2 naming publish.keys with the remedy", code, stdout, stderr)
	}
}
