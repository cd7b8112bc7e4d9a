package apk

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

func pkgSpec() *PackageSpec {
	return &PackageSpec{
		Info: PkgInfo{Name: "hello", Version: "1.0-r0", Description: "hi", URL: "https://example.org",
			BuildDate: 1700000000, Packager: "p", Arch: "x86_64", Origin: "hello", License: "MIT",
			Depends: []string{"so:libc.musl-x86_64.so.1", "b>1"}, Provides: []string{"cmd:hello=1.0-r0"}},
		Scripts: map[string][]byte{".post-install": []byte("#!/bin/sh\n"), ".pre-deinstall": []byte("#!/bin/sh\nexit 0\n")},
		Files: []File{
			{Name: "usr/bin/hello", Mode: 0o755, Data: []byte("binary")},
			{Name: "usr/bin/hi", Mode: fs.ModeSymlink, Link: "hello"},
			{Name: "etc/hello/hello.conf", Data: []byte("x=1\n")},
			{Name: "var/lib/hello", Mode: fs.ModeDir | 0o750},
			{Name: "usr/lib/" + strings.Repeat("long-", 30) + "name.so", Data: []byte("lib")},
		},
	}
}

func TestWritePackageRoundTrip(t *testing.T) {
	spec := pkgSpec()
	b, err := MarshalPackage(spec)
	if err != nil {
		t.Fatal(err)
	}
	pf, err := ReadPackageFile(b, "hello-1.0-r0.apk")
	if err != nil {
		t.Fatal(err)
	}
	if pf.Signature != nil || pf.ControlOffset != 0 || pf.DataOffset != int64(len(pf.Control)) || pf.Size != int64(len(b)) {
		t.Fatalf("members: sig %d control %d data at %d of %d bytes", len(pf.Signature), len(pf.Control), pf.DataOffset, len(b))
	}
	wantInfo := spec.Info
	wantInfo.Size = int64(len("binary") + len("x=1\n") + len("lib"))
	sum := sha256.Sum256(b[pf.DataOffset:])
	wantInfo.DataHash = hex.EncodeToString(sum[:])
	if !reflect.DeepEqual(*pf.Info, wantInfo) {
		t.Errorf("info\n got %+v\nwant %+v", *pf.Info, wantInfo)
	}
	if spec.Info.DataHash != "" || spec.Info.Size != 0 {
		t.Errorf("WritePackage modified the caller's spec")
	}
	if !reflect.DeepEqual(pf.Scripts, spec.Scripts) {
		t.Errorf("scripts %q, want %q", pf.Scripts, spec.Scripts)
	}
	var names []string
	for _, f := range pf.Files {
		names = append(names, f.Name)
	}
	long := "usr/lib/" + strings.Repeat("long-", 30) + "name.so"
	wantNames := []string{"etc/", "etc/hello/", "etc/hello/hello.conf", "usr/", "usr/bin/", "usr/bin/hello", "usr/bin/hi",
		"usr/lib/", long, "var/", "var/lib/", "var/lib/hello/"}
	if !reflect.DeepEqual(names, wantNames) {
		t.Errorf("data entries %q\nwant %q", names, wantNames)
	}
	for _, f := range pf.Files {
		switch f.Name {
		case "usr/bin/hello":
			if f.Mode != 0o755 || f.SHA1 != sha1Hex([]byte("binary")) || f.Typeflag != '0' {
				t.Errorf("%s: %+v", f.Name, f)
			}
		case "usr/bin/hi":
			if f.Typeflag != '2' || f.Link != "hello" || f.SHA1 != sha1Hex([]byte("hello")) || f.Mode != 0o777 {
				t.Errorf("%s: %+v", f.Name, f)
			}
		case "var/lib/hello/":
			if f.Typeflag != '5' || f.Mode != 0o750 || f.SHA1 != "" {
				t.Errorf("%s: %+v", f.Name, f)
			}
		case "etc/hello/hello.conf":
			if f.Mode != 0o644 {
				t.Errorf("%s: mode %o, want the default 0644", f.Name, f.Mode)
			}
		}
	}
	sha := pf.Checksum()
	raw, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(sha, "Q1"))
	if !strings.HasPrefix(sha, "Q1") || err != nil || len(raw) != 20 || sha != controlChecksum(b[:len(pf.Control)]) {
		t.Errorf("Checksum() = %q", sha)
	}
	want := &Package{Checksum: sha, Name: "hello", Version: "1.0-r0", Arch: "x86_64", Size: int64(len(b)),
		InstalledSize: wantInfo.Size, Description: "hi", URL: "https://example.org", License: "MIT", Origin: "hello",
		BuildTime: 1700000000, Depends: spec.Info.Depends, Provides: spec.Info.Provides}
	if got := pf.IndexEntry(); !reflect.DeepEqual(got, want) {
		t.Errorf("IndexEntry\n got %+v\nwant %+v", got, want)
	}
}

// TestWritePackageLayout checks the bytes abuild's layout asks for: control
// tar cut, data tar with its end blocks, PAX checksum headers and the
// legacy APK2 digest, times from builddate.
func TestWritePackageLayout(t *testing.T) {
	b, err := MarshalPackage(pkgSpec())
	if err != nil {
		t.Fatal(err)
	}
	members, err := splitMembers(b)
	if err != nil || len(members) != 2 {
		t.Fatalf("%d members (%v), want control and data", len(members), err)
	}
	ctl, _ := gunzipMember(members[0])
	data, _ := gunzipMember(members[1])
	if len(ctl)%512 != 0 || bytes.Equal(ctl[len(ctl)-512:], make([]byte, 512)) {
		t.Errorf("control tar (%d bytes) ends with a zero block: end-of-archive not cut", len(ctl))
	}
	if len(data)%512 != 0 || !bytes.Equal(data[len(data)-1024:], make([]byte, 1024)) {
		t.Errorf("data tar does not end with two zero blocks")
	}
	tr := tar.NewReader(bytes.NewReader(ctl))
	var ctlNames []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ctlNames = append(ctlNames, h.Name)
		if h.ModTime.Unix() != 1700000000 || h.Uid != 0 || h.Gid != 0 {
			t.Errorf("control %s: mtime %v uid %d gid %d", h.Name, h.ModTime.Unix(), h.Uid, h.Gid)
		}
	}
	if want := []string{".PKGINFO", ".post-install", ".pre-deinstall"}; !reflect.DeepEqual(ctlNames, want) {
		t.Errorf("control entries %q, want %q", ctlNames, want)
	}
	// Walk the raw data tar: every regular file and symlink is preceded by
	// an 'x' header with the checksum record.
	var prevPAX string
	for off := 0; off+512 <= len(data); {
		h := data[off : off+512]
		if h[0] == 0 {
			break
		}
		name := strings.TrimRight(string(h[:100]), "\x00")
		size, _ := strconv.ParseInt(strings.TrimRight(string(h[124:135]), "\x00"), 8, 64)
		mtime, _ := strconv.ParseInt(strings.TrimRight(string(h[136:147]), "\x00"), 8, 64)
		if mtime != 1700000000 {
			t.Errorf("%s: mtime %d", name, mtime)
		}
		if string(h[257:265]) != tarMagicPOSIX {
			t.Errorf("%s: magic %q", name, h[257:265])
		}
		body := data[off+512 : off+512+int(size)]
		switch h[156] {
		case 'x':
			prevPAX = string(body)
			if !strings.Contains(name, "PaxHeaders/") {
				t.Errorf("PAX header named %q", name)
			}
		case '0':
			rec := tarPAXRecord(tarChecksumKey, sha1Hex(body))
			if !strings.Contains(prevPAX, rec) {
				t.Errorf("%s: PAX header %q lacks %q", name, prevPAX, rec)
			}
			if string(h[160:164]) != "APK2" || h[164] != 64 || h[166] != 20 || hex.EncodeToString(h[168:188]) != sha1Hex(body) {
				t.Errorf("%s: legacy APK2 checksum missing from linkname: % x", name, h[157:190])
			}
			prevPAX = ""
		case '2':
			if !strings.Contains(prevPAX, tarChecksumKey) {
				t.Errorf("%s: symlink without checksum record", name)
			}
			prevPAX = ""
		case '5':
			prevPAX = ""
		}
		off += 512 + int(size+511)/512*512
	}
	// PAX record lengths count themselves.
	for _, tc := range []struct{ k, v, want string }{
		{"a", "b", "6 a=b\n"},
		{"k", "12345", "11 k=12345\n"},
		{tarChecksumKey, strings.Repeat("0", 40), "68 APK-TOOLS.checksum.SHA1=" + strings.Repeat("0", 40) + "\n"},
		{"k", strings.Repeat("x", 93), "99 k=" + strings.Repeat("x", 93) + "\n"},
		{"k", strings.Repeat("x", 94), "101 k=" + strings.Repeat("x", 94) + "\n"},
	} {
		if got := tarPAXRecord(tc.k, tc.v); got != tc.want {
			t.Errorf("tarPAXRecord(%q, %d bytes) = %q, want %q", tc.k, len(tc.v), got, tc.want)
		}
	}
}

func TestWritePackageDeterministic(t *testing.T) {
	a, err := MarshalPackage(pkgSpec())
	if err != nil {
		t.Fatal(err)
	}
	s := pkgSpec()
	for i, j := 0, len(s.Files)-1; i < j; i, j = i+1, j-1 {
		s.Files[i], s.Files[j] = s.Files[j], s.Files[i]
	}
	b, err := MarshalPackage(s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("the same spec with files in another order gave different bytes")
	}
	s.Info.BuildDate++
	c, _ := MarshalPackage(s)
	if bytes.Equal(a, c) {
		t.Fatal("a different builddate gave the same bytes")
	}
}

func TestWritePackageRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		modify func(*PackageSpec)
		want   string
	}{
		{"no name", func(s *PackageSpec) { s.Info.Name = "" }, "pkgname and pkgver are required"},
		{"no version", func(s *PackageSpec) { s.Info.Version = "" }, "pkgname and pkgver are required"},
		{"dot-dot", func(s *PackageSpec) { s.Files = []File{{Name: "../etc/passwd"}} }, `file "../etc/passwd"`},
		{"absolute", func(s *PackageSpec) { s.Files = []File{{Name: "/etc/passwd"}} }, `file "/etc/passwd"`},
		{"unclean", func(s *PackageSpec) { s.Files = []File{{Name: "usr//bin"}} }, `file "usr//bin": want a clean relative path`},
		{"inner dot-dot", func(s *PackageSpec) { s.Files = []File{{Name: "usr/../../x"}} }, `want a clean relative path`},
		{"twice", func(s *PackageSpec) { s.Files = []File{{Name: "a"}, {Name: "a"}} }, `file "a": listed twice`},
		{"device", func(s *PackageSpec) { s.Files = []File{{Name: "dev/null", Mode: fs.ModeDevice}} }, `unsupported type`},
		{"symlink without target", func(s *PackageSpec) { s.Files = []File{{Name: "a", Mode: fs.ModeSymlink}} }, `symlink without a target`},
		{"script not a dot file", func(s *PackageSpec) { s.Scripts = map[string][]byte{"install.sh": nil} }, `script "install.sh"`},
		{"script in a directory", func(s *PackageSpec) { s.Scripts = map[string][]byte{".a/b": nil} }, `script ".a/b"`},
		{"second .PKGINFO", func(s *PackageSpec) { s.Scripts = map[string][]byte{".PKGINFO": nil} }, `script ".PKGINFO"`},
		{"newline in pkgdesc", func(s *PackageSpec) { s.Info.Description = "a\ndatahash = 00" }, "newline"},
		{"space in a depend", func(s *PackageSpec) { s.Info.Depends = []string{"a b"} }, `list value "a b"`},
		{"bad extra key", func(s *PackageSpec) { s.Info.Extra = []InfoField{{Key: "a = b", Value: "c"}} }, `extra key "a = b"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := pkgSpec()
			tc.modify(s)
			err := WritePackage(io.Discard, s)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestParsePkgInfo(t *testing.T) {
	in := `# Generated by abuild 3.14.1-r0
# using fakeroot version 1.36
pkgname = hello
pkgver = 1.0-r0
pkgdesc = A = B, with an equals sign
url = https://example.org
builddate = 1700000000
packager = Buildozer <alpine-devel@lists.alpinelinux.org>
size = 4096
arch = aarch64
origin = hello-src
commit = abcdef
maintainer = Jane <j@example.org>
replaces_priority = 10
provider_priority = 20
license = MIT AND (GPL-2.0-only OR BSD-3-Clause)
replaces = old-hello
replaces = older-hello
depend = so:libc.musl-aarch64.so.1
depend = b>=2 c
provides = cmd:hello=1.0-r0
provides = so:libhello.so.1=1.0.0
triggers = /usr/share/fonts /usr/lib/gdk
install_if = hello-base=1.0-r0 docs
future_key = kept

datahash = 0123abcd
`
	want := &PkgInfo{Name: "hello", Version: "1.0-r0", Description: "A = B, with an equals sign", URL: "https://example.org",
		BuildDate: 1700000000, Packager: "Buildozer <alpine-devel@lists.alpinelinux.org>", Size: 4096, Arch: "aarch64",
		Origin: "hello-src", Commit: "abcdef", Maintainer: "Jane <j@example.org>", ReplacesPriority: "10",
		ProviderPriority: "20", License: "MIT AND (GPL-2.0-only OR BSD-3-Clause)",
		Replaces: []string{"old-hello", "older-hello"}, Depends: []string{"so:libc.musl-aarch64.so.1", "b>=2", "c"},
		Provides: []string{"cmd:hello=1.0-r0", "so:libhello.so.1=1.0.0"}, Triggers: []string{"/usr/share/fonts", "/usr/lib/gdk"},
		InstallIf: []string{"hello-base=1.0-r0", "docs"}, DataHash: "0123abcd",
		Extra: []InfoField{{Key: "future_key", Value: "kept"}}}
	got, err := ParsePkgInfo([]byte(in), ".PKGINFO")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	back, err := ParsePkgInfo(got.Marshal(), ".PKGINFO")
	if err != nil || !reflect.DeepEqual(back, want) {
		t.Fatalf("Marshal round trip: %v\n%s", err, got.Marshal())
	}
}

func TestParsePkgInfoErrors(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"no pkgname", "pkgver = 1\n", ".PKGINFO: no pkgname"},
		{"malformed", "pkgname = a\npkgver: 1\n", `.PKGINFO:2: malformed line "pkgver: 1"`},
		{"bad builddate", "pkgname = a\nbuilddate = soon\n", `.PKGINFO:2: builddate: "soon" is not a non-negative integer`},
		{"bad size", "pkgname = a\n\nsize = -5\n", `.PKGINFO:3: size:`},
		{"bad provider_priority", "pkgname = a\nprovider_priority = x\n", `.PKGINFO:2: provider_priority:`},
		{"10 MB line", "pkgname = a\npkgdesc = " + strings.Repeat("x", 10<<20) + "\n", `.PKGINFO:2: line longer than 131071 bytes`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParsePkgInfo([]byte(tc.in), ".PKGINFO")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// pkgRaw assembles an .apk from a .PKGINFO text and a data tar; datahash
// "auto" is replaced with the data member's real hash.
func pkgRaw(t *testing.T, pkginfo string, dataTar []byte) []byte {
	t.Helper()
	data := gz(t, string(dataTar))
	sum := sha256.Sum256(data)
	pkginfo = strings.ReplaceAll(pkginfo, "datahash = auto", "datahash = "+hex.EncodeToString(sum[:]))
	ctl := gz(t, string(arcTar([]arcEntry{{name: ".PKGINFO", data: pkginfo}}, false)))
	return append(ctl, data...)
}

func TestReadPackageFileErrors(t *testing.T) {
	good, err := MarshalPackage(pkgSpec())
	if err != nil {
		t.Fatal(err)
	}
	pf, err := ReadPackageFile(good, "good.apk")
	if err != nil {
		t.Fatal(err)
	}
	other := pkgSpec()
	other.Files[0].Data = []byte("tampered")
	otherBytes, _ := MarshalPackage(other)
	otherPF, _ := ReadPackageFile(otherBytes, "other.apk")
	swapped := append(append([]byte{}, pf.Control...), otherBytes[otherPF.DataOffset:]...)

	info := "pkgname = x\npkgver = 1\ndatahash = auto\n"
	fileTar := func(name string) []byte { return arcTar([]arcEntry{{name: name, data: "x"}}, true) }
	badSHA := func() []byte {
		var b bytes.Buffer
		rec := tarPAXRecord(tarChecksumKey, sha1Hex([]byte("not x")))
		b.Write(tarHeader(tarEntry{Name: "PaxHeaders/f", Mode: 0o644, Size: int64(len(rec)), Typeflag: 'x', Magic: tarMagicPOSIX}))
		b.WriteString(rec)
		b.Write(tarPadding(int64(len(rec))))
		b.Write(arcTar([]arcEntry{{name: "f", data: "x"}}, true))
		return b.Bytes()
	}()
	hardlink := append(tarHeader(tarEntry{Name: "x", Link: "../../etc/shadow", Mode: 0o644, Typeflag: '1', Magic: tarMagicPOSIX}), tarEnd...)
	ctlOnly := gz(t, string(arcTar([]arcEntry{{name: ".PKGINFO", data: "pkgname = x\n"}}, false)))
	sig := arcSig(t, ".SIGN.RSA.k.rsa.pub")
	for _, tc := range []struct {
		name string
		in   []byte
		want string
	}{
		{"empty", nil, `read package "x.apk": empty file`},
		{"garbage", []byte("GIF89a"), `read package "x.apk": gzip member 1 at offset 0`},
		{"truncated", good[:len(good)-100], "gzip member 2 at offset " + strconv.Itoa(len(pf.Control))},
		{"control only", ctlOnly, "no data member after the control member at offset 0"},
		{"signature only", sig, "no control member after the signature"},
		{"signature and control", append(append([]byte{}, sig...), ctlOnly...), "no data member after the control member at offset " + strconv.Itoa(len(sig))},
		{"garbage after the data", append(append([]byte{}, good...), "junk"...), "gzip member 3 at offset " + strconv.Itoa(len(good))},
		{"extra member", append(append([]byte{}, good...), ctlOnly...), "gzip member 3 at offset " + strconv.Itoa(len(good)) + ": unexpected member"},
		{"datahash mismatch", swapped, "data member at offset " + strconv.Itoa(len(pf.Control)) + ": data hash mismatch: .PKGINFO says " + pf.Info.DataHash},
		{"dot-dot in data", pkgRaw(t, info, fileTar("usr/../../etc/shadow")), `data member at offset`},
		{"dot-dot message", pkgRaw(t, info, fileTar("../x")), `entry "../x": path has a ".." element`},
		{"absolute in data", pkgRaw(t, info, fileTar("/etc/passwd")), `entry "/etc/passwd": absolute path`},
		{"hard link out of the root", pkgRaw(t, info, hardlink), `entry "x": hard link target "../../etc/shadow": path has a ".." element`},
		{"file SHA-1 mismatch", pkgRaw(t, info, badSHA), `entry "f": content SHA-1 is ` + sha1Hex([]byte("x"))},
		{"no .PKGINFO", append(gz(t, string(arcTar([]arcEntry{{name: ".post-install", data: "x"}}, false))), gz(t, string(tarEnd))...), "control member at offset 0: no .PKGINFO"},
		{"control entry in a directory", append(gz(t, string(arcTar([]arcEntry{{name: ".PKGINFO", data: "pkgname = x\n"}, {name: "etc/x", data: "x"}}, false))), gz(t, string(tarEnd))...), `entry "etc/x": control entries are dot files`},
		{"control dot-dot", append(gz(t, string(arcTar([]arcEntry{{name: "../.PKGINFO", data: "pkgname = x\n"}}, false))), gz(t, string(tarEnd))...), `control member at offset 0: entry "../.PKGINFO": path has a ".." element`},
		{"bad .PKGINFO", pkgRaw(t, "pkgname = x\nsize = big\n", fileTar("a")), `control member at offset 0: .PKGINFO:2: size:`},
		{"data not a tar", pkgRaw(t, info, []byte(strings.Repeat("z", 1024))), "data member at offset"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ReadPackageFile(tc.in, "x.apk")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestReadPackageFileSigned(t *testing.T) {
	good, err := MarshalPackage(pkgSpec())
	if err != nil {
		t.Fatal(err)
	}
	sig := arcSig(t, ".SIGN.RSA.builder.rsa.pub")
	signed := append(append([]byte{}, sig...), good...)
	pf, err := ReadPackageFile(signed, "hello.apk")
	if err != nil {
		t.Fatal(err)
	}
	unsigned, _ := ReadPackageFile(good, "hello.apk")
	if !bytes.Equal(pf.Signature, sig) || pf.SignatureName != ".SIGN.RSA.builder.rsa.pub" {
		t.Errorf("signature member not found: %d bytes, name %q", len(pf.Signature), pf.SignatureName)
	}
	// The identity does not depend on the signature; S: does.
	if pf.Checksum() != unsigned.Checksum() {
		t.Errorf("signing changed the control checksum")
	}
	if e := pf.IndexEntry(); e.Size != int64(len(signed)) {
		t.Errorf("S: %d, want the signed file's size %d", e.Size, len(signed))
	}
}

func TestFilesFromFS(t *testing.T) {
	fsys := fstest.MapFS{
		"usr/bin/hello": {Data: []byte("bin"), Mode: 0o755},
		"etc":           {Mode: fs.ModeDir | 0o755},
		"etc/x.conf":    {Data: []byte("x"), Mode: 0o600},
	}
	files, err := FilesFromFS(fsys)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]File{}
	for _, f := range files {
		got[f.Name] = f
	}
	if f := got["usr/bin/hello"]; string(f.Data) != "bin" || f.Mode != 0o755 {
		t.Errorf("usr/bin/hello: %+v", f)
	}
	if f := got["etc/x.conf"]; f.Mode != 0o600 {
		t.Errorf("etc/x.conf mode %v", f.Mode)
	}
	if f := got["usr"]; !f.Mode.IsDir() {
		t.Errorf("usr not a directory: %+v", f)
	}
	if _, err := MarshalPackage(&PackageSpec{Info: PkgInfo{Name: "a", Version: "1"}, Files: files}); err != nil {
		t.Errorf("a package of the FS: %v", err)
	}
}

// FuzzReadPackage feeds ReadPackageFile arbitrary bytes: no panic, errors
// name the file, and what it accepts has a .PKGINFO with a name, an
// identity and no entry that leaves the root.
func FuzzReadPackage(f *testing.F) {
	if b, err := MarshalPackage(pkgSpec()); err == nil {
		f.Add(b)
		if sig, err := pkgwGzip(arcTar([]arcEntry{{name: ".SIGN.RSA.k.rsa.pub", data: "sig"}}, false)); err == nil {
			f.Add(append(sig, b...))
		}
	}
	if b, err := MarshalPackage(&PackageSpec{Info: PkgInfo{Name: "a", Version: "1"}}); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		pf, err := ReadPackageFile(data, "fuzz.apk")
		if err != nil {
			if !strings.HasPrefix(err.Error(), `read package "fuzz.apk": `) {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		if pf.Info == nil || pf.Info.Name == "" || !strings.HasPrefix(pf.Checksum(), "Q1") {
			t.Fatalf("accepted a package without name or identity: %+v", pf.Info)
		}
		for _, e := range pf.Files {
			if tarCheckName(e.Name) != nil {
				t.Fatalf("accepted entry %q", e.Name)
			}
		}
		if e := pf.IndexEntry(); e.Size != int64(len(data)) {
			t.Fatalf("S: %d for a %d-byte file", e.Size, len(data))
		}
	})
}

func TestFilesFromDirFS(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "usr/bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "usr/bin/hello"), []byte("bin"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("hello", filepath.Join(dir, "usr/bin/hi")); err != nil {
		t.Fatal(err)
	}
	files, err := FilesFromFS(os.DirFS(dir))
	if err != nil {
		t.Fatal(err)
	}
	b, err := MarshalPackage(&PackageSpec{Info: PkgInfo{Name: "a", Version: "1"}, Files: files})
	if err != nil {
		t.Fatal(err)
	}
	pf, err := ReadPackageFile(b, "a-1.apk")
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]PackageEntry{}
	for _, e := range pf.Files {
		got[e.Name] = e
	}
	if e := got["usr/bin/hi"]; e.Typeflag != '2' || e.Link != "hello" {
		t.Errorf("symlink read as %+v", e)
	}
	if e := got["usr/bin/hello"]; e.Typeflag != '0' || e.Mode != 0o755 || e.Size != 3 {
		t.Errorf("file read as %+v", e)
	}
}

func TestPackageFileReadFile(t *testing.T) {
	b, err := MarshalPackage(pkgSpec())
	if err != nil {
		t.Fatal(err)
	}
	pf, err := ReadPackageFile(b, "hello-1.0-r0.apk")
	if err != nil {
		t.Fatal(err)
	}
	long := "usr/lib/" + strings.Repeat("long-", 30) + "name.so"
	for _, tc := range []struct {
		name, file, want, err string
	}{
		{"regular file", "usr/bin/hello", "binary", ""},
		{"long name (PAX)", long, "lib", ""},
		{"second file", "etc/hello/hello.conf", "x=1\n", ""},
		{"symlink is not a regular file", "usr/bin/hi", "", "no such regular file"},
		{"directory", "var/lib/hello/", "", "no such regular file"},
		{"absent", "usr/bin/nope", "", `read usr/bin/nope from hello-1.0-r0.apk: no such regular file`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := pf.ReadFile(tc.file)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want it to contain %q", err, tc.err)
				}
				return
			}
			if err != nil || string(got) != tc.want {
				t.Fatalf("ReadFile(%q) = %q, %v; want %q", tc.file, got, err, tc.want)
			}
		})
	}
}
