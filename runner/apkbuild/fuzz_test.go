package apkbuild

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// FuzzEval checks that no input makes Parse or Eval panic, and that an
// evaluation that succeeds has the fields validate requires. The seed
// corpus is every fixture and hostile APKBUILD.
func FuzzEval(f *testing.F) {
	for _, root := range []string{fixtureRoot, hostileRoot} {
		rels, err := fixtureRels(root)
		if err != nil {
			f.Fatal(err)
		}
		for _, rel := range rels {
			src, err := os.ReadFile(filepath.Join(root, rel, "APKBUILD"))
			if err != nil {
				f.Fatal(err)
			}
			if !strings.Contains(rel, "loop") {
				f.Add(string(src))
			}
		}
	}
	// Small limits: an input that grows a variable or loops meets them in
	// milliseconds, so that the fuzzer runs thousands of inputs a minute
	// rather than waiting out 100 ms and megabytes for most mutants of the
	// hostile seeds.
	lim := Limits{MaxVarSize: 64 << 10}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := ParseLimits("fuzz", []byte(src), lim)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "fuzz/APKBUILD") {
				t.Fatalf("error does not name the file: %v", err)
			}
			return
		}
		done := make(chan *Aport, 1)
		go func() {
			done <- p.EvalWith(context.Background(), "armv7", EvalOptions{Timeout: 20 * time.Millisecond})
		}()
		var a *Aport
		select {
		case a = <-done:
		case <-time.After(3 * time.Second):
			t.Fatalf("evaluation ignored its time limit of 20ms on %q", src)
		}
		if a.Error == "" && (a.Pkgname == "" || a.Pkgver == "" || a.Pkgrel == "") {
			t.Fatalf("no error but pkgname %q pkgver %q pkgrel %q", a.Pkgname, a.Pkgver, a.Pkgrel)
		}
	})
}
