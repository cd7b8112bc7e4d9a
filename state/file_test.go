package state

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/internal/safefile"
)

// notRegular makes a FIFO or a directory at dir/name.
func notRegular(t *testing.T, dir, name, kind string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	var err error
	if kind == "FIFO" {
		err = syscall.Mkfifo(p, 0o644)
	} else {
		err = os.Mkdir(p, 0o755)
	}
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// within fails the test when f does not return within 10 s: a FIFO must
// never be waited on.
func within(t *testing.T, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("still waiting after 10 s")
		return nil
	}
}

// TestStateFileNotRegular: a FIFO or a directory at status.json is an
// error naming it from Preflight, Read, Load and Save, at once.
func TestStateFileNotRegular(t *testing.T) {
	logger := slog.New(slog.DiscardHandler)
	for _, kind := range []string{"FIFO", "directory"} {
		t.Run(kind, func(t *testing.T) {
			dir := t.TempDir()
			p := notRegular(t, dir, FileName, kind)
			for name, f := range map[string]func() error{
				"Preflight": func() error { return Preflight(dir) },
				"Read":      func() error { _, err := Read(p); return err },
				"Load":      func() error { _, err := Load(p, logger); return err },
			} {
				err := within(t, f)
				if !errors.Is(err, safefile.ErrNotRegular) || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), kind) {
					t.Errorf("%s: err = %v, want one naming %s as a %s", name, err, p, kind)
				}
			}
			if _, err := os.Stat(p); err != nil {
				t.Errorf("the %s was moved or removed: %v", kind, err)
			}
		})
	}
}

func TestPreflight(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new", "state")
	if err := Preflight(dir); err != nil {
		t.Fatalf("a missing directory is made: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("Preflight left %d files behind", len(ents))
	}
	if _, err := Save(filepath.Join(dir, FileName), New()); err != nil {
		t.Fatal(err)
	}
	if err := Preflight(dir); err != nil {
		t.Errorf("a good state directory: %v", err)
	}
	notRegular(t, dir, LiveFile, "FIFO")
	if err := within(t, func() error { return Preflight(dir) }); err == nil || !strings.Contains(err.Error(), LiveFile) {
		t.Errorf("FIFO at %s: err = %v", LiveFile, err)
	}
	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if err := Preflight(file); err == nil || !strings.Contains(err.Error(), file) {
		t.Errorf("a file as the state directory: err = %v", err)
	}
	runsFile := t.TempDir()
	os.WriteFile(filepath.Join(runsFile, RunsDir), nil, 0o644)
	if err := Preflight(runsFile); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a file at runs/: err = %v", err)
	}
}

// FuzzUnmarshal feeds arbitrary bytes to the reader of status.json: no
// panic, and a state it accepts writes back to bytes that read as the
// same state.
func FuzzUnmarshal(f *testing.F) {
	s := New()
	s.Ensure("x86_64", "hello").AddAttempt(Attempt{Version: "1.0-r0", Hash: "ab", ExitCode: 1, Class: ClassBuildError})
	s.Ensure("x86_64", "hello").Status = Failed
	s.Generated = time.Unix(1700000000, 0).UTC()
	s.Schema = Schema
	if b, err := Marshal(s); err == nil {
		f.Add(b)
	}
	f.Add([]byte(`{"schema":1,"arches":{"x86_64":{"aports":{"a":{"status":"bogus"}}}}}`))
	f.Add([]byte(`{"schema":2}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := Unmarshal(b)
		if err != nil {
			return
		}
		out, err := Marshal(s)
		if err != nil {
			t.Fatalf("accepted state does not marshal: %v", err)
		}
		again, err := Unmarshal(out)
		if err != nil {
			t.Fatalf("written state does not read: %v\n%s", err, out)
		}
		if out2, _ := Marshal(again); !bytes.Equal(out, out2) {
			t.Fatalf("round trip changed the state:\n%s\n%s", out, out2)
		}
	})
}
