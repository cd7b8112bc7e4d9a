package builder

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestPruneSources: files no build used for longer than the age go
// (renamed and partial downloads too); used ones and recent ones stay; a
// missing directory is no error.
func TestPruneSources(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"old.tar.gz", "used.tar.gz", "new.tar.gz", "bad.tar.gz.5d0f441d", "x.tar.gz.part"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
		if n != "new.tar.gz" {
			old := time.Now().Add(-40 * 24 * time.Hour)
			os.Chtimes(filepath.Join(dir, n), old, old)
		}
	}
	os.Mkdir(filepath.Join(dir, "subdir"), 0o755)
	markSourcesUsed(dir, []string{"used.tar.gz", "../escape", "", "missing.tar.gz"})
	removed, err := PruneSources(dir, 30*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(removed)
	if want := []string{"bad.tar.gz.5d0f441d", "old.tar.gz", "x.tar.gz.part"}; !slices.Equal(removed, want) {
		t.Errorf("removed %q; want %q", removed, want)
	}
	for _, n := range []string{"used.tar.gz", "new.tar.gz", "subdir"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s: %v", n, err)
		}
	}
	if r, err := PruneSources(filepath.Join(dir, "nonexistent"), time.Hour); err != nil || len(r) != 0 {
		t.Errorf("missing directory: %q %v", r, err)
	}
}

// TestCacheOptionsChecked: relative cache directories and a negative size
// are refused with the option named.
func TestCacheOptionsChecked(t *testing.T) {
	o := testOptions(t)
	o.SourcesDir, o.CcacheDir, o.CcacheSize = "sources", "ccache", -1
	err := check(&o, nil)
	for _, want := range []string{`sources directory "sources" must be absolute`, `ccache directory "ccache" must be absolute`, "negative ccache size"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("check = %v; want %q", err, want)
		}
	}
}

// TestCacheDirsForUser: for builds run as a user, the shared cache
// directories (made when missing) and what they hold become the user's.
func TestCacheDirsForUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("chown needs root")
	}
	base := t.TempDir()
	o := Options{SourcesDir: filepath.Join(base, "sources"), CcacheDir: filepath.Join(base, "ccache"), User: "1234:5678"}
	if err := os.MkdirAll(o.SourcesDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(o.SourcesDir, "x.tar.gz"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := makeCacheDirs(&o, []Job{{Arch: "x86_64"}, {Arch: "aarch64"}, {Arch: "x86_64"}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{o.SourcesDir, filepath.Join(o.SourcesDir, "x.tar.gz"), filepath.Join(o.CcacheDir, "x86_64"), filepath.Join(o.CcacheDir, "aarch64")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if st := fi.Sys().(*syscall.Stat_t); st.Uid != 1234 || st.Gid != 5678 {
			t.Errorf("%s: owner %d:%d; want 1234:5678", p, st.Uid, st.Gid)
		}
	}
}
