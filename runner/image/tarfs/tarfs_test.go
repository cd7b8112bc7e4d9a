package tarfs

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

type ent struct {
	name, body, link string
	typ              byte
	mode             int64
}

func mktar(t testing.TB, ents ...ent) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range ents {
		h := &tar.Header{Name: e.name, Typeflag: e.typ, Linkname: e.link, Mode: e.mode, Size: int64(len(e.body))}
		if h.Mode == 0 {
			h.Mode = 0o644
		}
		if e.typ == tar.TypeDir && e.mode == 0 {
			h.Mode = 0o755
		}
		if e.typ != tar.TypeReg {
			h.Size = 0
		}
		if e.typ == tar.TypeChar || e.typ == tar.TypeBlock {
			h.Devmajor, h.Devminor = 1, 3
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if e.typ == tar.TypeReg {
			io.WriteString(tw, e.body)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func file(name, body string) ent  { return ent{name: name, body: body, typ: tar.TypeReg} }
func dir(name string) ent         { return ent{name: name, typ: tar.TypeDir} }
func symlink(name, to string) ent { return ent{name: name, link: to, typ: tar.TypeSymlink} }
func hardlink(name, to string) ent {
	return ent{name: name, link: to, typ: tar.TypeLink}
}

// listTree returns every path under dir with a one-letter type and, for
// files, the content: "f etc/passwd=x", "l a->/etc", "d etc".
func listTree(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.Walk(dir, func(p string, fi os.FileInfo, err error) error {
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "." {
			return nil
		}
		switch {
		case fi.Mode()&os.ModeSymlink != 0:
			to, _ := os.Readlink(p)
			out = append(out, "l "+rel+"->"+to)
		case fi.IsDir():
			out = append(out, "d "+rel)
		case fi.Mode().IsRegular():
			b, _ := os.ReadFile(p)
			out = append(out, "f "+rel+"="+string(b))
		default:
			out = append(out, "? "+rel)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

// TestExtractStaysInRoot extracts hostile streams into root, a sibling of
// outside; outside must stay empty and root must hold what the table says.
func TestExtractStaysInRoot(t *testing.T) {
	tests := []struct {
		name   string
		pre    []ent // a lower layer applied first
		layer  []ent
		wout   bool
		want   []string
		errHas string
	}{
		{name: "dotdot", layer: []ent{file("../../outside/evil", "x"), file("a/../../b", "y")},
			want: []string{"d outside", "f b=y", "f outside/evil=x"}},
		{name: "absolute", layer: []ent{file("/outside/evil", "x"), file("/etc/passwd", "p")},
			want: []string{"d etc", "d outside", "f etc/passwd=p", "f outside/evil=x"}},
		{name: "symlink escape through a directory link",
			pre:   []ent{dir("etc")},
			layer: []ent{symlink("a", "/etc"), file("a/passwd", "p")},
			want:  []string{"d etc", "f etc/passwd=p", "l a->/etc"}},
		{name: "symlink escape with dotdot",
			pre:   []ent{dir("outside")},
			layer: []ent{symlink("a", "../../../outside"), file("a/evil", "x")},
			want:  []string{"d outside", "f outside/evil=x", "l a->../../../outside"}},
		{name: "dangling symlink to a host directory is an error, not a write",
			layer:  []ent{symlink("a", "/outside"), file("a/evil", "x")},
			errHas: "no such file"},
		{name: "file over an existing symlink replaces the link",
			layer: []ent{symlink("passwd", "/outside-file"), file("passwd", "p")},
			want:  []string{"f passwd=p"}},
		{name: "hardlink to an absolute path stays inside",
			layer: []ent{file("etc/shadow", "s"), hardlink("copy", "/etc/shadow")},
			want:  []string{"d etc", "f copy=s", "f etc/shadow=s"}},
		{name: "hardlink through a symlink to the host fails",
			layer:  []ent{symlink("h", "/outside"), hardlink("x", "h/secret")},
			errHas: "hard link"},
		{name: "device nodes skipped",
			layer: []ent{{name: "dev/null", typ: tar.TypeChar}, {name: "dev/sda", typ: tar.TypeBlock}, file("ok", "1")},
			want:  []string{"f ok=1"}},
		{name: "whiteout removes lower file", wout: true,
			pre:   []ent{file("etc/a", "1"), file("etc/b", "2")},
			layer: []ent{file("etc/.wh.a", "")},
			want:  []string{"d etc", "f etc/b=2"}},
		{name: "whiteout of a directory", wout: true,
			pre:   []ent{file("usr/share/doc/x", "1")},
			layer: []ent{file("usr/share/.wh.doc", "")},
			want:  []string{"d usr", "d usr/share"}},
		{name: "opaque directory keeps this layer's files", wout: true,
			pre:   []ent{file("d/old", "1"), file("d/sub/old2", "2")},
			layer: []ent{file("d/new", "3"), file("d/.wh..wh..opq", "")},
			want:  []string{"d d", "f d/new=3"}},
		{name: "whiteout cannot reach outside", wout: true,
			layer: []ent{file("../.wh.outside", ""), file("/../.wh.keep", "")},
			want:  nil},
		{name: "whiteouts are plain files when not asked",
			layer: []ent{file(".wh.a", "w")},
			want:  []string{"f .wh.a=w"}},
		{name: "directory replaces a file, file replaces a directory",
			pre:   []ent{file("x", "1"), file("y/z", "2")},
			layer: []ent{dir("x"), file("y", "3")},
			want:  []string{"d x", "f y=3"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			base := t.TempDir()
			root := filepath.Join(base, "root")
			outside := filepath.Join(base, "outside")
			os.Mkdir(root, 0o755)
			os.Mkdir(outside, 0o755)
			os.WriteFile(filepath.Join(outside, "secret"), []byte("s"), 0o600)
			opts := Options{Whiteouts: tc.wout}
			if tc.pre != nil {
				if _, err := Extract(context.Background(), root, "/", mktar(t, tc.pre...), opts); err != nil {
					t.Fatalf("lower layer: %v", err)
				}
			}
			_, err := Extract(context.Background(), root, "/", mktar(t, tc.layer...), opts)
			if tc.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errHas) {
					t.Fatalf("err = %v, want one containing %q", err, tc.errHas)
				}
			} else if err != nil {
				t.Fatalf("Extract: %v", err)
			} else if got := listTree(t, root); strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("root holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
			if got := listTree(t, outside); len(got) != 1 || got[0] != "f secret=s" {
				t.Errorf("outside the root changed: %q", got)
			}
		})
	}
}

func TestExtractIntoSubdirAndArchiveRoundTrip(t *testing.T) {
	root := t.TempDir()
	in := mktar(t, dir("pkg"), file("pkg/a.apk", "AAAA"), symlink("pkg/link", "/etc/passwd"),
		hardlink("pkg/b.apk", "pkg/a.apk"), ent{name: "pkg/run.sh", body: "#!/bin/sh\n", typ: tar.TypeReg, mode: 0o755})
	st, err := Extract(context.Background(), root, "/home/build", in, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st.Entries != 5 {
		t.Errorf("Entries = %d, want 5", st.Entries)
	}
	fi, err := os.Stat(filepath.Join(root, "home/build/pkg/run.sh"))
	if err != nil || fi.Mode().Perm() != 0o755 {
		t.Fatalf("run.sh: %v %v, want mode 0755", fi, err)
	}
	var out bytes.Buffer
	if err := Archive(context.Background(), root, "/home/build/pkg", &out); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		got[h.Name] = string(h.Typeflag) + ":" + h.Linkname + ":" + string(b)
	}
	want := map[string]string{
		"pkg/":       "5::",
		"pkg/a.apk":  "0::AAAA",
		"pkg/b.apk":  "1:pkg/a.apk:",
		"pkg/link":   "2:/etc/passwd:",
		"pkg/run.sh": "0::#!/bin/sh\n",
	}
	if len(got) != len(want) {
		t.Errorf("archive has %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
}

func TestArchiveDoesNotFollowSymlinksOut(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	os.MkdirAll(filepath.Join(root, "etc"), 0o755)
	os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("inside"), 0o644)
	os.WriteFile(filepath.Join(base, "hostfile"), []byte("host"), 0o644)
	os.Symlink("/etc/passwd", filepath.Join(root, "p"))
	os.Symlink("../../hostfile", filepath.Join(root, "q"))
	for name, want := range map[string]string{"/p": "inside", "/q": ""} {
		var out bytes.Buffer
		err := Archive(context.Background(), root, name, &out)
		if want == "" {
			if !errors.Is(err, os.ErrNotExist) {
				t.Errorf("Archive(%s) = %v, want not-exist (../../hostfile resolves to /hostfile in the root)", name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Archive(%s): %v", name, err)
		}
		tr := tar.NewReader(&out)
		if _, err := tr.Next(); err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		if string(b) != want {
			t.Errorf("Archive(%s) read %q, want %q", name, b, want)
		}
	}
	b, err := ReadFile(root, "/q")
	if err == nil {
		t.Errorf("ReadFile(/q) read %q from the host", b)
	}
}
