package state

import (
	"bytes"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

var t0 = time.Date(2026, 11, 22, 1, 0, 0, 0, time.UTC)

func sample() *Status {
	s := New()
	s.Generated = t0.Add(time.Hour)
	hello := s.Ensure("x86_64", "hello")
	hello.Status, hello.Dir, hello.Version, hello.Published, hello.Hash = Built, "main/hello", "1.1-r0", "1.0-r0", "abc123"
	hello.AddAttempt(Attempt{Version: "1.1-r0", Hash: "abc123", Start: t0, End: t0.Add(90 * time.Second),
		DurationMS: 90000, Log: "logs/x86_64/hello/1.1-r0-1.log.gz"})
	broken := s.Ensure("x86_64", "broken")
	broken.Status, broken.Version, broken.Hash, broken.Reason = Failed, "2.0-r1", "def456", "build-error: exit 2"
	broken.AddAttempt(Attempt{Version: "2.0-r1", Hash: "def456", Start: t0, End: t0.Add(time.Second), DurationMS: 1000,
		ExitCode: 2, Class: ClassBuildError, Log: "logs/x86_64/broken/2.0-r1-1.log.gz",
		ErrorLines: []string{"[00:01] main.c:3: error: expected ';'"}})
	dep := s.Ensure("x86_64", "needs-broken")
	dep.Status, dep.Version, dep.Reason, dep.BlockedBy = Blocked, "1-r0", "depends on broken, which failed", "broken"
	s.Ensure("aarch64", "firmware").Status = Excluded
	return s
}

func TestGolden(t *testing.T) {
	b, err := Marshal(sample())
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "status.golden.json")
	if *update {
		if err := os.WriteFile(golden, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./state -update)", err)
	}
	if !bytes.Equal(b, want) {
		t.Errorf("Marshal differs from %s (go test ./state -update after checking):\n%s", golden, b)
	}
	s, err := Unmarshal(want)
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Marshal(s)
	if !bytes.Equal(again, want) {
		t.Errorf("round trip changed the content:\n%s", again)
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestLoadMissing(t *testing.T) {
	s, err := Load(filepath.Join(t.TempDir(), FileName), discard())
	if err != nil || s == nil || len(s.Arches) != 0 || s.Schema != Schema {
		t.Fatalf("Load(missing) = %+v, %v; want an empty state", s, err)
	}
}

func TestLoadCorruptIsSetAside(t *testing.T) {
	for name, content := range map[string]string{
		"truncated":      `{"schema": 1, "arches": {`,
		"other schema":   `{"schema": 99, "arches": {}}`,
		"unknown status": `{"schema": 1, "arches": {"x86_64": {"aports": {"a": {"status": "weird"}}}}}`,
		"unknown class":  `{"schema": 1, "arches": {"x86_64": {"aports": {"a": {"status": "failed", "attempts": [{"class": "oops"}]}}}}}`,
		"null arch":      `{"schema": 1, "arches": {"x86_64": null}}`,
	} {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, FileName)
			if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			s, err := Load(path, slog.New(slog.NewTextHandler(&logs, nil)))
			if err != nil {
				t.Fatalf("Load: %v; a corrupt file must not be an error", err)
			}
			if len(s.Arches) != 0 {
				t.Errorf("Load returned %d arches; want an empty state", len(s.Arches))
			}
			if !strings.Contains(logs.String(), "level=WARN") {
				t.Errorf("no warning logged: %q", logs.String())
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Errorf("corrupt file still at %s", path)
			}
			m, _ := filepath.Glob(path + ".corrupt-*")
			if len(m) != 1 {
				t.Fatalf("set-aside files: %v; want one", m)
			}
			if b, _ := os.ReadFile(m[0]); string(b) != content {
				t.Errorf("set-aside file content changed: %q", b)
			}
		})
	}
}

func TestSaveSkipsUnchanged(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", FileName)
	s := sample()
	changed, err := Save(path, s)
	if err != nil || !changed {
		t.Fatalf("first Save = %v, %v; want changed", changed, err)
	}
	first, _ := os.ReadFile(path)
	st1, _ := os.Stat(path)

	// Same content, later generated time: the file stays as it was.
	s2 := sample()
	s2.Generated = t0.Add(5 * time.Hour)
	changed, err = Save(path, s2)
	if err != nil || changed {
		t.Fatalf("Save of equal content = %v, %v; want unchanged", changed, err)
	}
	if !s2.Generated.Equal(sample().Generated) {
		t.Errorf("Generated = %v; want the file's %v", s2.Generated, sample().Generated)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, first) {
		t.Error("file rewritten although only the generated time differed")
	}
	if st2, _ := os.Stat(path); !os.SameFile(st1, st2) {
		t.Error("file replaced although unchanged")
	}

	// A real change is written, and loads back.
	s2.Ensure("x86_64", "new").Status = Pending
	if changed, err = Save(path, s2); err != nil || !changed {
		t.Fatalf("Save of new content = %v, %v; want changed", changed, err)
	}
	back, err := Load(path, discard())
	if err != nil || back.Aport("x86_64", "new") == nil {
		t.Fatalf("Load after Save: %v, %v", back, err)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".*tmp*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}

func TestAddAttemptKeepsNewest(t *testing.T) {
	var p Aport
	for i := range MaxAttempts + 3 {
		p.AddAttempt(Attempt{ExitCode: i})
	}
	if len(p.Attempts) != MaxAttempts || p.Attempts[0].ExitCode != 3 || p.Attempts[MaxAttempts-1].ExitCode != MaxAttempts+2 {
		t.Errorf("attempts = %+v; want the newest %d", p.Attempts, MaxAttempts)
	}
}

func TestFailures(t *testing.T) {
	fail := func(v, h, class string, end int) Attempt {
		return Attempt{Version: v, Hash: h, Class: class, End: t0.Add(time.Duration(end) * time.Minute)}
	}
	ok := func(v string) Attempt { return Attempt{Version: v, Hash: "h"} }
	for _, tc := range []struct {
		name     string
		attempts []Attempt
		want     Failure
		wantOK   bool
	}{
		{name: "no attempts"},
		{name: "last succeeded", attempts: []Attempt{fail("1", "h", ClassBuildError, 1), ok("1")}},
		{name: "one failure", attempts: []Attempt{ok("0"), fail("1", "h", ClassTimeout, 2)},
			want: Failure{Version: "1", Hash: "h", Attempts: 1, Last: t0.Add(2 * time.Minute), Class: ClassTimeout}, wantOK: true},
		{name: "repeated failures of one version",
			attempts: []Attempt{fail("1", "h", ClassBuildError, 1), fail("1", "h", ClassBuildError, 2), fail("1", "h", ClassQemuCrash, 3)},
			want:     Failure{Version: "1", Hash: "h", Attempts: 3, Last: t0.Add(3 * time.Minute), Class: ClassQemuCrash}, wantOK: true},
		{name: "new hash starts the count again",
			attempts: []Attempt{fail("1", "h", ClassBuildError, 1), fail("1", "h2", ClassBuildError, 2)},
			want:     Failure{Version: "1", Hash: "h2", Attempts: 1, Last: t0.Add(2 * time.Minute), Class: ClassBuildError}, wantOK: true},
		{name: "infra failures are not counted",
			attempts: []Attempt{fail("1", "h", ClassBuildError, 1), fail("1", "h", ClassInfra, 2)},
			want:     Failure{Version: "1", Hash: "h", Attempts: 1, Last: t0.Add(1 * time.Minute), Class: ClassBuildError}, wantOK: true},
		{name: "only infra", attempts: []Attempt{fail("1", "h", ClassInfra, 2)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := New()
			s.Ensure("x86_64", "p").Attempts = tc.attempts
			got, gotOK := s.Failures("x86_64", "p")
			if gotOK != tc.wantOK || got != tc.want {
				t.Errorf("Failures = %+v, %v; want %+v, %v", got, gotOK, tc.want, tc.wantOK)
			}
		})
	}
	if _, ok := New().Failures("riscv64", "nothing"); ok {
		t.Error("Failures of an unknown arch reported a failure")
	}
}
