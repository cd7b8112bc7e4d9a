package apkbuild

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestReadAPKBUILD covers readAPKBUILD's answers, which it builds from
// system calls rather than os.File: the messages are os's.
func TestReadAPKBUILD(t *testing.T) {
	d := t.TempDir()
	write := func(name string, b []byte) {
		if err := os.WriteFile(filepath.Join(d, name), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("small", []byte("pkgname=a\n"))
	write("empty", nil)
	write("exact", bytes.Repeat([]byte("x"), 1000))
	write("big", bytes.Repeat([]byte("x"), 5000))
	if err := os.Symlink("small", filepath.Join(d, "link")); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(filepath.Join(d, "dir"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, want, err string }{
		{"small", "pkgname=a\n", ""},
		{"empty", "", ""},
		{"exact", strings.Repeat("x", 1000), ""},
		{"big", "", "5000 bytes is over the limit of 1000"},
		{"link", "", "open " + filepath.Join(d, "link") + ": too many levels of symbolic links"},
		{"dir", "", "not a regular file (mode d---------)"},
		{"missing", "", "open " + filepath.Join(d, "missing") + ": no such file or directory"},
	} {
		got, err := readAPKBUILD(filepath.Join(d, c.name), 1000, make([]byte, 0, 3))
		if msg := errString(err); string(got) != c.want || msg != c.err {
			t.Errorf("%s: got %q, %q; want %q, %q", c.name, got, msg, c.want, c.err)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}
