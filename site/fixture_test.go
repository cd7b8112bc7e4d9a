package site

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// fixtureNow is the time the fixture site is rendered at: 90 minutes after
// the state was written, so nothing is stale.
var fixtureNow = time.Date(2026, 11, 22, 14, 0, 0, 0, time.UTC)

// fixtureState copies testdata/state into a temporary state directory,
// compressing the logs (kept as plain text in testdata for reading and
// diffing) as the runner does.
func fixtureState(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	err := filepath.WalkDir("testdata/state", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel("testdata/state", p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if strings.HasSuffix(rel, ".log") {
			var z bytes.Buffer
			zw := gzip.NewWriter(&z)
			zw.Write(b)
			zw.Close()
			b, rel = z.Bytes(), rel+".gz"
		}
		dst := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// fixtureOptions renders the fixture state into a new directory.
func fixtureOptions(t testing.TB, stateDir string) Options {
	return Options{
		StateDir:   stateDir,
		Out:        filepath.Join(t.TempDir(), "site"),
		Title:      "demo farm",
		BaseURL:    "https://build.example.org/",
		ForgeURL:   "https://gitlab.example.org/pmaports/-/blob/master/{dir}/APKBUILD",
		ContentDir: "testdata/content",
		History:    10,
		StaleAfter: 48 * time.Hour,
		Now:        fixtureNow,
	}
}
