package tarfs

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
)

// FuzzExtract feeds arbitrary bytes (tar streams, mostly broken) to Extract
// with whiteouts on: whatever happens inside the root, the sibling
// directory must stay exactly as it was.
func FuzzExtract(f *testing.F) {
	for _, ents := range [][]ent{
		{file("../../outside/evil", "x")},
		{symlink("a", "/etc"), file("a/passwd", "p")},
		{symlink("a", "../outside"), file("a/x", "p"), hardlink("b", "a/secret")},
		{file("d/.wh..wh..opq", ""), file("../.wh.outside", "")},
		{dir("x"), ent{name: "x/dev", typ: tar.TypeChar}, hardlink("y", "../outside/secret")},
	} {
		f.Add(mktar(f, ents...).Bytes())
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		base := t.TempDir()
		root := filepath.Join(base, "root")
		outside := filepath.Join(base, "outside")
		os.Mkdir(root, 0o755)
		os.Mkdir(outside, 0o755)
		os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600)
		os.Symlink("../outside", filepath.Join(root, "up")) // a trap already in the root
		Extract(context.Background(), root, "/", bytes.NewReader(data), Options{Whiteouts: true})
		ents, _ := os.ReadDir(outside)
		if len(ents) != 1 || ents[0].Name() != "secret" {
			t.Fatalf("outside the root changed: %v", ents)
		}
		if b, err := os.ReadFile(filepath.Join(outside, "secret")); err != nil || string(b) != "s" {
			t.Fatalf("secret changed: %q %v", b, err)
		}
		if ents, _ := os.ReadDir(base); len(ents) != 2 {
			t.Fatalf("new entries beside the root: %v", ents)
		}
	})
}
