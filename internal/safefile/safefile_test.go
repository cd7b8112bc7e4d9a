package safefile

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestWriteReplacesAtomically(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "sub", "f.json")
	if err := Write(p, []byte("one"), 0o640); err != nil {
		t.Fatal(err)
	}
	if err := Write(p, []byte("two"), 0o600); err != nil {
		t.Fatal(err)
	}
	b, err := ReadFile(p, 0)
	if err != nil || string(b) != "two" {
		t.Fatalf("read back %q, %v; want \"two\"", b, err)
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the file (no temporary left)", len(ents))
	}
}

func TestAbortLeavesOld(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	if err := Write(p, []byte("old"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Create(p, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	f.Write([]byte("half"))
	f.Abort()
	f.Abort() // twice is fine
	if err := f.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	b, _ := os.ReadFile(p)
	if string(b) != "old" {
		t.Errorf("content %q after abort, want \"old\"", b)
	}
	ents, _ := os.ReadDir(filepath.Dir(p))
	if len(ents) != 1 {
		t.Errorf("%d entries after abort, want 1", len(ents))
	}
}

func TestWriteFromFailingReader(t *testing.T) {
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("old"), 0o644)
	_, err := WriteFrom(p, errReader{}, 0o644)
	if err == nil {
		t.Fatal("WriteFrom of a failing reader succeeded")
	}
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Errorf("content %q, want the old one", b)
	}
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("disk on fire") }

// TestOpenRefusesFIFOWithoutBlocking: a FIFO at a path the runner reads
// (status.json, an index) is an error at once, not a hang.
func TestOpenRefusesFIFOWithoutBlocking(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "status.json")
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { _, err := ReadFile(fifo, 0); done <- err }()
	select {
	case err := <-done:
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), fifo) || !strings.Contains(err.Error(), "FIFO") {
			t.Errorf("err %v; want ErrNotRegular naming the path and FIFO", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ReadFile of a FIFO blocked")
	}
	if _, err := Open(dir); !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), "directory") {
		t.Errorf("Open(directory): %v; want ErrNotRegular naming a directory", err)
	}
}

func TestReadFileCap(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big")
	os.WriteFile(p, make([]byte, 1000), 0o644)
	if _, err := ReadFile(p, 999); !errors.Is(err, ErrTooLarge) {
		t.Errorf("ReadFile over the cap: %v; want ErrTooLarge", err)
	}
	if b, err := ReadFile(p, 1000); err != nil || len(b) != 1000 {
		t.Errorf("ReadFile at the cap: %d bytes, %v", len(b), err)
	}
	if _, err := ReadFile(filepath.Join(t.TempDir(), "none"), 0); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v; want ErrNotExist", err)
	}
}

func TestOpenFollowsSymlinkToRegular(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "real"), []byte("x"), 0o644)
	os.Symlink("real", filepath.Join(dir, "link"))
	if b, err := ReadFile(filepath.Join(dir, "link"), 0); err != nil || string(b) != "x" {
		t.Errorf("read through a symlink: %q, %v", b, err)
	}
}

func TestWriteUnsyncedReplacesAndSyncFS(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "a", "b.html")
	for _, content := range []string{"one", "two"} {
		if err := WriteUnsynced(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		b, err := ReadFile(p, 0)
		if err != nil || string(b) != content {
			t.Fatalf("read back %q, %v; want %q", b, err, content)
		}
	}
	fi, _ := os.Stat(p)
	if fi.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", fi.Mode().Perm())
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Errorf("directory holds %d entries, want only the file (no temporary left)", len(ents))
	}
	if err := SyncFS(dir); err != nil {
		t.Fatal(err)
	}
	if err := SyncFS(filepath.Join(dir, "missing")); err == nil {
		t.Error("SyncFS of a missing directory: no error")
	}
	// A directory where the file should go: the write fails, nothing is left behind.
	if err := os.Mkdir(filepath.Join(dir, "d.html"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteUnsynced(filepath.Join(dir, "d.html"), []byte("x"), 0o644); err == nil {
		t.Error("WriteUnsynced over a directory: no error")
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 2 {
		t.Errorf("directory holds %d entries after a failed write, want 2", len(ents))
	}
}
