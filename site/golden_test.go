package site

import (
	"bytes"
	"context"
	"flag"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// goldenSkip are files not kept as golden: binary copies of the logs, and
// the static files, which are the embedded ones byte for byte.
func goldenSkip(rel string) bool {
	return strings.HasSuffix(rel, ".gz") || strings.HasPrefix(rel, "static/")
}

// TestGolden renders the fixture state and compares every text file of the
// site with testdata/golden (go test ./site -run TestGolden -update
// rewrites them).
func TestGolden(t *testing.T) {
	opt := fixtureOptions(t, fixtureState(t))
	if _, err := Render(context.Background(), opt); err != nil {
		t.Fatal(err)
	}
	got := map[string][]byte{}
	walkFiles(t, opt.Out, func(rel string, b []byte) {
		if !goldenSkip(rel) {
			got[rel] = b
		}
	})
	golden := filepath.Join("testdata", "golden")
	if *update {
		os.RemoveAll(golden)
		for rel, b := range got {
			p := filepath.Join(golden, rel)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}
		return
	}
	want := map[string][]byte{}
	walkFiles(t, golden, func(rel string, b []byte) { want[rel] = b })
	if len(want) == 0 {
		t.Fatal("no golden files: run go test ./site -run TestGolden -update")
	}
	for rel, b := range got {
		w, ok := want[rel]
		switch {
		case !ok:
			t.Errorf("%s: rendered but not in testdata/golden (-update adds it)", rel)
		case !bytes.Equal(b, w):
			t.Errorf("%s: differs from testdata/golden/%s at byte %d (-update rewrites it)", rel, rel, firstDiff(b, w))
		}
	}
	for rel := range want {
		if _, ok := got[rel]; !ok {
			t.Errorf("%s: in testdata/golden but not rendered", rel)
		}
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// walkFiles calls fn with every regular file under root.
func walkFiles(t testing.TB, root string, fn func(rel string, b []byte)) {
	t.Helper()
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		fn(filepath.ToSlash(rel), b)
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
}
