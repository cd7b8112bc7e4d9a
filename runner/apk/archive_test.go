package apk

import (
	"bytes"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// arcEntry is one tar entry for the hand-made archives of these tests.
type arcEntry struct {
	name, data string
	typeflag   byte
}

// arcTar builds a tar of entries with headers as apk index writes them,
// with or without the end-of-archive blocks.
func arcTar(entries []arcEntry, end bool) []byte {
	var b bytes.Buffer
	for _, e := range entries {
		tf := e.typeflag
		if tf == 0 {
			tf = '0'
		}
		b.Write(tarHeader(tarEntry{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), Typeflag: tf, Magic: tarMagicGNU}))
		b.WriteString(e.data)
		b.Write(tarPadding(int64(len(e.data))))
	}
	if end {
		b.Write(tarEnd)
	}
	return b.Bytes()
}

// arcSig is a signature member as abuild-sign makes one: the tar cut.
func arcSig(t testing.TB, name string) []byte {
	return gz(t, string(arcTar([]arcEntry{{name: name, data: "\x01\x02signature"}}, false)))
}

func TestWriteIndexArchiveLayout(t *testing.T) {
	idx := &Index{Description: "v3.21.0-123-gabc", Packages: []*Package{
		{Name: "b", Version: "1", BuildTime: 100},
		{Name: "a", Version: "2", BuildTime: 300},
	}}
	b, err := MarshalIndexArchive(idx)
	if err != nil {
		t.Fatal(err)
	}
	// gzip header: no FNAME flag, mtime 0, OS unix.
	if !bytes.Equal(b[:10], []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3}) {
		t.Errorf("gzip header % x, want fixed: no name, no mtime, xfl 0, os 3", b[:10])
	}
	members, err := splitMembers(b)
	if err != nil || len(members) != 1 {
		t.Fatalf("want one gzip member, got %d (%v)", len(members), err)
	}
	tb, err := gunzipMember(b)
	if err != nil {
		t.Fatal(err)
	}
	text := "P:a\nV:2\nS:0\nI:0\nT:\nU:\nL:\nt:300\n\nP:b\nV:1\nS:0\nI:0\nT:\nU:\nL:\nt:100\n\n"
	want := arcTar(nil, false)
	for _, e := range []struct{ name, data string }{{"DESCRIPTION", idx.Description}, {"APKINDEX", text}} {
		h := tarHeader(tarEntry{Name: e.name, Mode: 0o644, Size: int64(len(e.data)), MTime: 300, Typeflag: '0', Magic: tarMagicGNU})
		want = append(want, h...)
		want = append(want, e.data...)
		want = append(want, tarPadding(int64(len(e.data)))...)
	}
	want = append(want, make([]byte, 1024)...)
	if !bytes.Equal(tb, want) {
		t.Fatalf("tar differs from DESCRIPTION+APKINDEX+2 end blocks:\n got %q\nwant %q", tb, want)
	}
	// The caller's slice keeps its order.
	if idx.Packages[0].Name != "b" {
		t.Errorf("WriteIndexArchive reordered the caller's packages")
	}
}

func TestWriteIndexArchiveDeterministic(t *testing.T) {
	pkgs := idxMany(500)
	first, err := MarshalIndexArchive(&Index{Description: "d", Packages: pkgs})
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 3 {
		shuffled := append([]*Package(nil), pkgs...)
		r.Shuffle(len(shuffled), func(a, b int) { shuffled[a], shuffled[b] = shuffled[b], shuffled[a] })
		again, err := MarshalIndexArchive(&Index{Description: "d", Packages: shuffled})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(first, again) {
			t.Fatalf("shuffle %d: same packages in another order gave different bytes", i)
		}
	}
}

func TestReadIndexArchive(t *testing.T) {
	idx := &Index{Description: "edge", Packages: []*Package{idxFullPkg, {Name: "zz", Version: "1"}}}
	unsigned, err := MarshalIndexArchive(idx)
	if err != nil {
		t.Fatal(err)
	}
	multi := gz(t, string(arcTar([]arcEntry{{name: "DESCRIPTION", data: "edge"}}, false)))
	multi = append(multi, gz(t, string(arcTar([]arcEntry{{name: "APKINDEX", data: "P:zz\nV:1\n"}}, true)))...)
	whole := arcTar([]arcEntry{{name: "DESCRIPTION", data: "edge"}, {name: "APKINDEX", data: "P:zz\nV:1\n"}}, true)
	split := append(gz(t, string(whole[:700])), gz(t, string(whole[700:]))...)
	for _, tc := range []struct {
		name string
		in   []byte
		want *Index
	}{
		{"unsigned", unsigned, idx},
		{"tar cut inside an entry between members", split, &Index{Description: "edge", Packages: []*Package{{Name: "zz", Version: "1"}}}},
		{"signed RSA", append(arcSig(t, ".SIGN.RSA.builder-6165ee59.rsa.pub"), unsigned...), idx},
		{"signed RSA256", append(arcSig(t, ".SIGN.RSA256.builder-6165ee59.rsa.pub"), unsigned...), idx},
		{"no description, extra entry", gz(t, string(arcTar([]arcEntry{{name: "README", data: "hi"}, {name: "APKINDEX", data: "P:zz\nV:1\n"}}, true))),
			&Index{Packages: []*Package{{Name: "zz", Version: "1"}}}},
		{"tar split over two gzip members", multi, &Index{Description: "edge", Packages: []*Package{{Name: "zz", Version: "1"}}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ReadIndexArchive(tc.in, "APKINDEX.tar.gz")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestReadIndexArchiveErrors(t *testing.T) {
	good, err := MarshalIndexArchive(&Index{Packages: []*Package{{Name: "a", Version: "1"}}})
	if err != nil {
		t.Fatal(err)
	}
	sig := arcSig(t, ".SIGN.RSA.k.rsa.pub")
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, `read index "x86_64/APKINDEX.tar.gz": empty file`},
		{"garbage", []byte("<html>not found</html>"), `read index "x86_64/APKINDEX.tar.gz": gzip member 1 at offset 0`},
		{"truncated", good[:len(good)-9], `gzip member 1 at offset 0: unexpected EOF`},
		{"truncated after signature", append(append([]byte{}, sig...), good[:20]...), "gzip member 2 at offset " + strconv.Itoa(len(sig))},
		{"signature only", sig, `no APKINDEX entry`},
		{"no APKINDEX", gz(t, string(arcTar([]arcEntry{{name: "DESCRIPTION", data: "x"}}, true))), `no APKINDEX entry`},
		{"dot-dot path", gz(t, string(arcTar([]arcEntry{{name: "../APKINDEX", data: "P:a\n"}}, true))), `entry "../APKINDEX": path has a ".." element`},
		{"absolute path", gz(t, string(arcTar([]arcEntry{{name: "/APKINDEX", data: "P:a\n"}}, true))), `entry "/APKINDEX": absolute path`},
		{"truncated tar", gz(t, string(arcTar([]arcEntry{{name: "APKINDEX", data: strings.Repeat("P:a\n", 300)}}, false)[:700])), `read tar entry "APKINDEX": unexpected EOF`},
		{"garbage after the archive", append(append([]byte{}, good...), "junk"...), "gzip member 2 at offset " + strconv.Itoa(len(good))},
		{"corrupt deflate data", append(append([]byte{}, good[:30]...), bytes.Repeat([]byte{0xff}, 200)...), "gzip member 1 at offset 0"},
		{"bomb of zeros", gz(t, string(arcTar([]arcEntry{{name: "APKINDEX", data: string(make([]byte, 32<<20))}}, true))), "APKINDEX:1: line longer than 131071 bytes"},
		{"long description", gz(t, string(arcTar([]arcEntry{{name: "DESCRIPTION", data: strings.Repeat("d", 70000)}, {name: "APKINDEX", data: "P:a\n"}}, true))), `read tar entry "DESCRIPTION": longer than 65536 bytes`},
		{"bad record", gz(t, string(arcTar([]arcEntry{{name: "APKINDEX", data: "P:a\nV:1\n\nV:1\n"}}, true))), `x86_64/APKINDEX.tar.gz: APKINDEX:4: record without P: field`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadIndexArchive(tc.in, "x86_64/APKINDEX.tar.gz")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestIsSignatureMember(t *testing.T) {
	for _, tc := range []struct {
		name    string
		member  []byte
		ok      bool
		sigName string
		wantErr string
	}{
		{"abuild-sign member", arcSig(t, ".SIGN.RSA.a@b.c-1234.rsa.pub"), true, ".SIGN.RSA.a@b.c-1234.rsa.pub", ""},
		{"with end blocks", gz(t, string(arcTar([]arcEntry{{name: ".SIGN.RSA256.k.rsa.pub", data: "s"}}, true))), true, ".SIGN.RSA256.k.rsa.pub", ""},
		{"control member", gz(t, string(arcTar([]arcEntry{{name: ".PKGINFO", data: "pkgname = a\n"}}, false))), false, "", ""},
		{"signature plus another entry", gz(t, string(arcTar([]arcEntry{{name: ".SIGN.RSA.k", data: "s"}, {name: ".PKGINFO", data: "x"}}, false))), false, "", ""},
		{"empty tar", gz(t, string(tarEnd)), false, "", ""},
		{"not gzip", []byte("plain"), false, "", "decompress member"},
		{"signature path escapes", gz(t, string(arcTar([]arcEntry{{name: "../.SIGN.RSA.k", data: "s"}}, false))), false, "", `".." element`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name, sig, ok, err := isSignatureMember(tc.member)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || ok != tc.ok || name != tc.sigName {
				t.Fatalf("got (%q, ok=%v, %v), want (%q, ok=%v)", name, ok, err, tc.sigName, tc.ok)
			}
			if ok && len(sig) == 0 {
				t.Fatalf("signature bytes empty")
			}
		})
	}
}
