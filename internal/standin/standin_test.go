package standin

import (
	"archive/tar"
	"bytes"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/klauspost/compress/gzip"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
)

// entries reads a tar stream: name → content (regular files) or
// "-> target" (links).
func entries(t *testing.T, r io.Reader) (map[string]string, []string) {
	t.Helper()
	out := map[string]string{}
	var order []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out, order
		}
		if err != nil {
			t.Fatal(err)
		}
		name := filepath.Clean(h.Name)
		order = append(order, name)
		switch h.Typeflag {
		case tar.TypeSymlink:
			out[name] = "-> " + h.Linkname
		case tar.TypeReg:
			b, _ := io.ReadAll(tr)
			out[name] = string(b)
		}
	}
}

func TestLayer(t *testing.T) {
	b, err := Layer([]byte("#!stand-in"))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := entries(t, bytes.NewReader(b))
	want := map[string]string{"usr/bin/abuild": "#!stand-in", "usr/bin/abuild-keygen": "-> abuild", "etc/apk/repositories": ""}
	if len(got) != len(want) {
		t.Errorf("layer = %q, want %q", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	again, _ := Layer([]byte("#!stand-in"))
	if !bytes.Equal(b, again) {
		t.Error("two layers of the same binary differ: the image digest would change every time")
	}
}

func TestRootfs(t *testing.T) {
	base, err := alpinetest.TarballPath("x86_64")
	if err != nil {
		alpinetest.SkipOrFail(t, "%v", err)
	}
	out := filepath.Join(t.TempDir(), "rootfs.tar.gz")
	if err := Rootfs(base, []byte("#!stand-in"), out); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	got, order := entries(t, zr)
	seen := map[string]int{}
	for _, n := range order {
		seen[n]++
	}
	for _, n := range []string{"usr/bin/abuild", "etc/apk/repositories"} {
		if seen[n] != 1 {
			t.Errorf("%s appears %d times, want once", n, seen[n])
		}
	}
	if got["usr/bin/abuild"] != "#!stand-in" || got["etc/apk/repositories"] != "" || got["bin/busybox"] == "" || got["sbin/apk"] == "" {
		t.Errorf("rootfs lacks the stand-in or the minirootfs: abuild %q, repositories %q, %d entries",
			got["usr/bin/abuild"], got["etc/apk/repositories"], len(order))
	}
}
