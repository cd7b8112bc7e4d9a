package plan

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/apk"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/plan")

// golden compares got with the file testdata/plan/<name> at the project
// root, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("..", "..", "testdata", "plan", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file: %v (run go test -update to write it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the plan (go test ./runner/plan -update rewrites it):\n%s", path, got)
	}
}

// TestGoldenMixed plans a two-arch tree that shows every decision at once
// and compares the JSON and the text form with the golden files.
func TestGoldenMixed(t *testing.T) {
	archList := []string{"x86_64", "aarch64"}
	aports := tree(archList,
		mk("musl", "1.2.5-r1", subs("musl-dev", "musl-dbg")),
		mk("zlib", "1.3.1-r0", subs("zlib-dev"), makedeps("musl-dev")),
		mk("curl", "8.10-r0", subs("curl-dev", "libcurl"), makedeps("zlib-dev", "so:libssl.so.3", "perl"), checkdeps("nghttp2")),
		mk("git", "2.47-r0", makedeps("curl-dev", "zlib-dev", "asciidoc")),
		mk("asciidoc", "10.2-r0", arches("noarch"), depends("python3")),
		mk("firmware-x", "1-r0", arches("aarch64")),
		mk("bad", "1-r0", broken("main/bad/APKBUILD:4: unterminated quote")),
		mk("oldver", "1.0-r0"),
		mk("needs-missing", "1-r0", makedeps("libnope-dev")),
		mk("a", "1-r0", makedeps("b")), mk("b", "1-r0", makedeps("a")),
		mk("flaky", "3-r0"),
	)
	pub := func(arch string) *apk.Index {
		recs := []*apk.Package{
			rec("musl=1.2.5-r0", "musl"), rec("musl-dev=1.2.5-r0", "musl"), rec("musl-dbg=1.2.5-r0", "musl"),
			rec("zlib=1.3.1-r0", "zlib", "so:libz.so.1=1.3.1"),
			rec("curl=8.9-r0", "curl"), rec("curl-dev=8.9-r0", "curl"), rec("libcurl=8.9-r0", "curl"),
			rec("oldver=1.1-r0", "oldver"),
			rec("retired=0.1-r0", "retired"),
		}
		for _, r := range recs {
			r.Arch = arch
		}
		return index(recs...)
	}
	upstream := index(rec("openssl=3.3-r0", "openssl", "so:libssl.so.3=3"),
		rec("perl=5.40-r0", "perl"), rec("python3=3.12-r0", "python3"), rec("nghttp2=1.6-r0", "nghttp2"))
	in := Input{
		Arches: archList, NativeArch: "x86_64", Aports: aports,
		Published: map[string]*apk.Index{"x86_64": pub("x86_64"), "aarch64": pub("aarch64")},
		Upstream:  map[string][]*apk.Index{"x86_64": {upstream}, "aarch64": {upstream}},
		Failures: map[FailureKey]Failure{{Arch: "aarch64", Pkgname: "flaky"}: {
			Version: "3-r0", Hash: "hash-flaky-3-r0", Attempts: 1, Last: testNow.Add(-10 * time.Minute)}},
		Now:     testNow,
		Options: Options{RetryDelays: []time.Duration{time.Hour, 6 * time.Hour}},
	}
	p, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	assertBatchesOrdered(t, p)
	golden(t, "mixed.json", mustJSON(t, p))
	var text bytes.Buffer
	if err := p.WriteText(&text); err != nil {
		t.Fatal(err)
	}
	golden(t, "mixed.txt", text.Bytes())
}
