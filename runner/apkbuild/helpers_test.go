package apkbuild

import (
	"os"
	"path/filepath"
	"testing"
)

func parseFixture(t testing.TB, rel string) *File {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(fixtureRoot, filepath.FromSlash(rel), "APKBUILD"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := Parse(rel, src)
	if err != nil {
		t.Fatalf("parse %s: %v", rel, err)
	}
	return f
}

// fixtureRels returns the aport paths under root.
func fixtureRels(root string) ([]string, error) {
	dirs, err := findAports(root, nil, nil)
	if err != nil {
		return nil, err
	}
	rels := make([]string, len(dirs))
	for i, d := range dirs {
		rels[i] = d.rel
	}
	return rels, nil
}
