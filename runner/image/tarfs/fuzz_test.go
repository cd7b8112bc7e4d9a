package tarfs

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The fuzz targets extract into one directory per process, on tmpfs where
// there is one: a fresh t.TempDir per input (and its removal) cost more
// than the extraction, and with inputs of whole tar blocks minimising one
// new input took the minute the fuzzer allows, so that it ran ten inputs
// a minute. FuzzExtractEntries writes the tar from a compact description,
// so that its inputs are tens of bytes and each one a valid archive.

// extractBox is a root to extract into, beside a directory that must stay
// as it is.
type extractBox struct {
	base, root, outside string
	clean               bool // the root holds only the trap: no reset needed
}

func newExtractBox(f *testing.F) *extractBox {
	base, err := os.MkdirTemp(fuzzTmp(), "fuzzextract-*")
	if err != nil {
		f.Fatal(err)
	}
	f.Cleanup(func() { os.RemoveAll(base) })
	b := &extractBox{base: base, root: filepath.Join(base, "root"), outside: filepath.Join(base, "outside")}
	if err := os.Mkdir(b.outside, 0o755); err != nil {
		f.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(b.outside, "secret"), []byte("s"), 0o600); err != nil {
		f.Fatal(err)
	}
	return b
}

// extract empties the root, sets a trap in it and extracts data with
// whiteouts on: whatever happens inside the root, the sibling directory
// must stay exactly as it was.
func (b *extractBox) extract(t *testing.T, data []byte) {
	if !b.clean {
		if err := os.RemoveAll(b.root); err != nil {
			t.Fatal(err)
		}
		os.Mkdir(b.root, 0o755)
		os.Symlink("../outside", filepath.Join(b.root, "up")) // a trap already in the root
	}
	st, err := Extract(context.Background(), b.root, "/", bytes.NewReader(data), Options{Whiteouts: true})
	// Most mutations of a tar break its first header: then nothing was
	// written, and the next input can use the root as it is.
	b.clean = err != nil && st.Entries == 0 && st.Removed == 0 && st.Skipped == 0
	ents, _ := os.ReadDir(b.outside)
	if len(ents) != 1 || ents[0].Name() != "secret" {
		t.Fatalf("outside the root changed: %v", ents)
	}
	if c, err := os.ReadFile(filepath.Join(b.outside, "secret")); err != nil || string(c) != "s" {
		t.Fatalf("secret changed: %q %v", c, err)
	}
	if ents, _ := os.ReadDir(b.base); len(ents) != 2 {
		t.Fatalf("new entries beside the root: %v", ents)
	}
}

// fuzzTmp is where fuzz targets that write files work: /dev/shm (tmpfs)
// when it is there and writable, else the usual temporary directory.
func fuzzTmp() string {
	if st, err := os.Stat("/dev/shm"); err == nil && st.IsDir() && unix.Access("/dev/shm", unix.W_OK) == nil {
		return "/dev/shm"
	}
	return os.TempDir()
}

// FuzzExtract feeds arbitrary bytes (tar streams, mostly broken) to
// Extract.
func FuzzExtract(f *testing.F) {
	for _, ents := range extractSeeds {
		b := mktar(f, ents...).Bytes()
		f.Add(b[:len(b)-2*512]) // without the end blocks: a shorter input, the same archive
	}
	box := newExtractBox(f)
	f.Fuzz(func(t *testing.T, data []byte) { box.extract(t, data) })
}

var extractSeeds = [][]ent{
	{file("../../outside/evil", "x")},
	{symlink("a", "/etc"), file("a/passwd", "p")},
	{symlink("a", "../outside"), file("a/x", "p"), hardlink("b", "a/secret")},
	{file("d/.wh..wh..opq", ""), file("../.wh.outside", "")},
	{dir("x"), ent{name: "x/dev", typ: tar.TypeChar}, hardlink("y", "../outside/secret")},
}

// FuzzExtractEntries writes a valid tar from a compact description of
// its entries and extracts it: the fuzzer spends its time on names, link
// targets and their order, not on header checksums.
//
// The description is entries separated by '\n', each "T NAME" or
// "T NAME>TARGET", where T is f (file, NAME's bytes as content), d, l
// (symlink), h (hard link), c (character device) or p (FIFO).
func FuzzExtractEntries(f *testing.F) {
	for _, ents := range extractSeeds {
		var s []string
		for _, e := range ents {
			s = append(s, describeEnt(e))
		}
		f.Add(strings.Join(s, "\n"))
	}
	f.Add("l up2>up\nf up2/x\nh y>up/secret\nd .wh..wh..opq")
	box := newExtractBox(f)
	f.Fuzz(func(t *testing.T, desc string) {
		if len(desc) > 4096 {
			return
		}
		var buf bytes.Buffer
		tw := tar.NewWriter(&buf)
		for _, line := range strings.Split(desc, "\n") {
			if len(line) < 2 {
				continue
			}
			name, link, _ := strings.Cut(line[2:], ">")
			h := &tar.Header{Name: name, Linkname: link, Mode: 0o644, Format: tar.FormatPAX}
			switch line[0] {
			case 'f':
				h.Typeflag, h.Size = tar.TypeReg, int64(len(name))
			case 'd':
				h.Typeflag, h.Mode = tar.TypeDir, 0o755
			case 'l':
				h.Typeflag = tar.TypeSymlink
			case 'h':
				h.Typeflag = tar.TypeLink
			case 'c':
				h.Typeflag = tar.TypeChar
			case 'p':
				h.Typeflag = tar.TypeFifo
			default:
				continue
			}
			if tw.WriteHeader(h) != nil {
				continue
			}
			if h.Typeflag == tar.TypeReg {
				tw.Write([]byte(name))
			}
		}
		tw.Close()
		box.extract(t, buf.Bytes())
	})
}

func describeEnt(e ent) string {
	t := map[byte]string{tar.TypeReg: "f", tar.TypeDir: "d", tar.TypeSymlink: "l", tar.TypeLink: "h",
		tar.TypeChar: "c", tar.TypeFifo: "p"}[e.typ]
	if e.link != "" {
		return t + " " + e.name + ">" + e.link
	}
	return t + " " + e.name
}
