package apk

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// idxFull is one record with every field apk writes, in apk's order, plus
// two unknown lowercase fields.
const idxFull = `C:Q1dk0agsfcCNsUIKK9lxe2JGlcdgE=
P:hello
V:2.12.1-r0
A:x86_64
S:1293
I:4036
T:Say hello: a greeting
U:https://example.org/hello
L:GPL-3.0-or-later
o:hello
m:Jane <jane@example.org>
t:1726000000
c:0123456789abcdef0123456789abcdef01234567
k:100
D:so:libc.musl-x86_64.so.1 busybox>=1.36 !hello-old
p:cmd:hello=2.12.1-r0 greeter
i:hello-base=2.12.1-r0 docs
g:future field
z:another

`

var idxFullPkg = &Package{
	Checksum: "Q1dk0agsfcCNsUIKK9lxe2JGlcdgE=", Name: "hello", Version: "2.12.1-r0", Arch: "x86_64",
	Size: 1293, InstalledSize: 4036, Description: "Say hello: a greeting", URL: "https://example.org/hello",
	License: "GPL-3.0-or-later", Origin: "hello", Maintainer: "Jane <jane@example.org>", BuildTime: 1726000000,
	Commit: "0123456789abcdef0123456789abcdef01234567", ProviderPriority: "100",
	Depends:   []string{"so:libc.musl-x86_64.so.1", "busybox>=1.36", "!hello-old"},
	Provides:  []string{"cmd:hello=2.12.1-r0", "greeter"},
	InstallIf: []string{"hello-base=2.12.1-r0", "docs"},
	Extra:     []Field{{Key: 'g', Value: "future field"}, {Key: 'z', Value: "another"}},
}

func TestParseIndex(t *testing.T) {
	minimal := func(name string) *Package {
		return &Package{Name: name, Version: "1"}
	}
	for _, tc := range []struct {
		name string
		in   string
		want []*Package
	}{
		{"empty", "", nil},
		{"only blank lines", "\n\n\n", nil},
		{"every field", idxFull, []*Package{idxFullPkg}},
		{"no trailing blank line", "P:a\nV:1", []*Package{{Name: "a", Version: "1"}}},
		{"no final newline", "P:a\nV:1", []*Package{minimal("a")}},
		{"several blank lines between records", "P:a\nV:1\n\n\n\nP:b\nV:1\n\n", []*Package{minimal("a"), minimal("b")}},
		{"empty values", "P:a\nV:1\nT:\nU:\nL:\n\n", []*Package{minimal("a")}},
		{"value with colons and spaces", "P:a\nV:1\nT: x : y \n", []*Package{{Name: "a", Version: "1", Description: " x : y "}}},
		{"later field wins", "P:a\nV:1\nV:2\n", []*Package{{Name: "a", Version: "2"}}},
		{"extra spaces in deps", "P:a\nV:1\nD: x  y \n", []*Package{{Name: "a", Version: "1", Depends: []string{"x", "y"}}}},
		{"line of exactly the limit", "P:a\nV:1\nT:" + strings.Repeat("x", MaxIndexLine-2) + "\n",
			[]*Package{{Name: "a", Version: "1", Description: strings.Repeat("x", MaxIndexLine-2)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseIndex(strings.NewReader(tc.in), "APKINDEX")
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tc.want)
			}
		})
	}
}

func TestParseIndexErrors(t *testing.T) {
	for _, tc := range []struct {
		name, in, want string
	}{
		{"record without P:", "P:a\nV:1\n\nV:1\nA:x86_64\n\n", `APKINDEX:4: record without P: field`},
		{"last record without P:", "P:a\nV:1\n\nC:Q1x\n", `APKINDEX:4: record without P: field`},
		{"record without V:", "P:a\nV:1\n\nP:b\nA:x86_64\n\n", `APKINDEX:4: record of "b" without V: field`},
		{"empty V:", "P:a\nV:\n", `APKINDEX:1: record of "a" without V: field`},
		{"unknown uppercase field", "P:a\nV:1\nX:new\n", `APKINDEX:3: unknown field "X:"`},
		{"digit field", "P:a\n9:new\n", `APKINDEX:2: unknown field "9:"`},
		{"malformed line", "P:a\nhello world\n", `APKINDEX:2: malformed line "hello world"`},
		{"one character line", "P:a\nx\n", `APKINDEX:2: malformed line "x"`},
		{"bad size", "P:a\nS:12k\n", `APKINDEX:2: field S: "12k" is not a non-negative integer`},
		{"negative installed size", "P:a\nI:-1\n", `APKINDEX:2: field I:`},
		{"bad build time", "P:a\nt:yesterday\n", `APKINDEX:2: field t:`},
		{"bad provider priority", "P:a\nk:high\n", `APKINDEX:2: field k:`},
		{"line one byte over the limit", "P:a\nT:" + strings.Repeat("x", MaxIndexLine-1) + "\n", `APKINDEX:2: line longer than 131071 bytes`},
		{"over the limit at EOF", "P:a\nT:" + strings.Repeat("x", MaxIndexLine-1), `APKINDEX:2: line longer than`},
		{"10 MB line", "P:a\nT:" + strings.Repeat("x", 10<<20) + "\n\n", `APKINDEX:2: line longer than`},
		{"garbage", "\x1f\x8b\x08\x00garbage", `APKINDEX:1: malformed line`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseIndex(strings.NewReader(tc.in), "APKINDEX")
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

// errAfter yields its data, then err.
type errAfter struct {
	r   io.Reader
	err error
}

func (e *errAfter) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, e.err
	}
	return n, err
}

func TestParseIndexReadError(t *testing.T) {
	boom := errors.New("disk on fire")
	_, err := ParseIndex(&errAfter{strings.NewReader("P:a\nV:1\nT:x"), boom}, "APKINDEX")
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "APKINDEX:3:") {
		t.Fatalf("err = %v, want the read error with its line", err)
	}
}

func TestWriteIndexRoundTrip(t *testing.T) {
	got, err := MarshalIndex([]*Package{idxFullPkg})
	if err != nil {
		t.Fatal(err)
	}
	// apk writes k: before D:, and never g:/z:; ours keeps them at the end.
	if string(got) != idxFull {
		t.Fatalf("got\n%s\nwant\n%s", got, idxFull)
	}
	back, err := ParseIndex(bytes.NewReader(got), "APKINDEX")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, []*Package{idxFullPkg}) {
		t.Fatalf("round trip changed the record: %+v", back[0])
	}
}

func TestWriteIndexMinimal(t *testing.T) {
	got, err := MarshalIndex([]*Package{{Name: "a", Version: "1"}})
	if err != nil {
		t.Fatal(err)
	}
	// apk always writes S, I, T, U and L; the others only when set.
	if want := "P:a\nV:1\nS:0\nI:0\nT:\nU:\nL:\n\n"; string(got) != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestWriteIndexRejects(t *testing.T) {
	long := strings.Repeat("x", MaxIndexLine)
	for _, tc := range []struct {
		name string
		pkg  *Package
		want string
	}{
		{"no name", &Package{Version: "1"}, "package without a name"},
		{"newline in description", &Package{Name: "a", Description: "x\nP:evil"}, `package "a": newline`},
		{"space in a dependency", &Package{Name: "a", Depends: []string{"b c"}}, `dependency "b c"`},
		{"empty dependency", &Package{Name: "a", Provides: []string{""}}, `dependency ""`},
		{"uppercase extra", &Package{Name: "a", Extra: []Field{{Key: 'X', Value: "1"}}}, `extra field "X"`},
		{"newline in extra", &Package{Name: "a", Extra: []Field{{Key: 'x', Value: "1\n2"}}}, `extra field "x"`},
		{"description over apk's line limit", &Package{Name: "a", Description: long}, "line limit"},
		{"deps over apk's line limit", &Package{Name: "a", Depends: []string{long[:70000], long[:70000]}}, "line limit"},
		{"extra over apk's line limit", &Package{Name: "a", Extra: []Field{{Key: 'x', Value: long}}}, "line limit"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := WriteIndex(io.Discard, []*Package{tc.pkg})
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestSortPackages(t *testing.T) {
	pkgs := []*Package{
		{Name: "zlib", Version: "1.3"},
		{Name: "Zlib-Compat", Version: "1"},
		{Name: "abc", Version: "1.10"},
		{Name: "ABC", Version: "1"},
		{Name: "abc", Version: "1.9"},
		{Name: "abc", Version: "1.9", Checksum: "Q1b"},
		{Name: "abc", Version: "1.9", Checksum: "Q1a"},
		{Name: "a-b", Version: "1"},
	}
	SortPackages(pkgs)
	var got []string
	for _, p := range pkgs {
		got = append(got, p.Name+"-"+p.Version+p.Checksum)
	}
	want := []string{"a-b-1", "ABC-1", "abc-1.9", "abc-1.9Q1a", "abc-1.9Q1b", "abc-1.10", "zlib-1.3", "Zlib-Compat-1"}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("order %q, want %q", got, want)
	}
}

// idxMany returns n varied records.
func idxMany(n int) []*Package {
	pkgs := make([]*Package, n)
	for i := range pkgs {
		s := strconv.Itoa(i)
		pkgs[i] = &Package{
			Checksum: "Q1" + strings.Repeat("A", 26) + "=", Name: "pkg" + s, Version: "1." + s + "-r0",
			Arch: "aarch64", Size: int64(1000 + i), InstalledSize: int64(4000 + i),
			Description: "package number " + s + " of the benchmark index",
			URL:         "https://example.org/pkg" + s, License: "MIT", Origin: "origin" + strconv.Itoa(i/3),
			Maintainer: "Jane Doe <jane@example.org>", BuildTime: 1726000000 + int64(i),
			Commit:   "0123456789abcdef0123456789abcdef01234567",
			Depends:  []string{"so:libc.musl-aarch64.so.1", "so:libz.so.1", "pkg" + strconv.Itoa(i/2)},
			Provides: []string{"so:libpkg" + s + ".so.1=1", "cmd:pkg" + s + "=1." + s + "-r0"},
		}
	}
	return pkgs
}

// FuzzReadIndex feeds ParseIndex and ReadIndexArchive arbitrary bytes. They
// must not panic; what ParseIndex accepts must survive WriteIndex and a
// second ParseIndex unchanged, and an archive ReadIndexArchive accepts must
// survive WriteIndexArchive and a second read (in sorted order).
func FuzzReadIndex(f *testing.F) {
	f.Add([]byte(idxFull))
	f.Add([]byte("P:a\nV:1\n\nP:b\nD:\nk:007\nS:0010\n\n"))
	f.Add([]byte("P:a\n\nV:1\n"))
	f.Add([]byte("P:a\nX:upper\n"))
	if b, err := MarshalIndexArchive(&Index{Description: "d", Packages: []*Package{idxFullPkg, {Name: "b", Version: "2"}}}); err == nil {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if pkgs, err := ParseIndex(bytes.NewReader(data), "APKINDEX"); err == nil {
			text, err := MarshalIndex(pkgs)
			if err != nil {
				t.Fatalf("cannot write what was read: %v", err)
			}
			again, err := ParseIndex(bytes.NewReader(text), "APKINDEX")
			if err != nil {
				t.Fatalf("cannot read what was written: %v\n%q", err, text)
			}
			if !reflect.DeepEqual(pkgs, again) {
				t.Fatalf("round trip changed records:\n%+v\n%+v", pkgs, again)
			}
		} else if !strings.HasPrefix(err.Error(), "APKINDEX:") {
			t.Fatalf("error without file and line: %v", err)
		}
		idx, err := ReadIndexArchive(data, "APKINDEX.tar.gz")
		if err != nil {
			if !strings.Contains(err.Error(), "APKINDEX.tar.gz") {
				t.Fatalf("error without the file name: %v", err)
			}
			return
		}
		b, err := MarshalIndexArchive(idx)
		if err != nil {
			t.Fatalf("cannot write the archive that was read: %v", err)
		}
		again, err := ReadIndexArchive(b, "again")
		if err != nil {
			t.Fatalf("cannot read the archive that was written: %v", err)
		}
		SortPackages(idx.Packages)
		if !reflect.DeepEqual(idx, again) {
			t.Fatalf("archive round trip changed the index")
		}
	})
}

// An index built from package files, written and read back.
func ExampleWriteIndexArchive() {
	pkg, err := MarshalPackage(&PackageSpec{
		Info:  PkgInfo{Name: "hello", Version: "1.0-r0", Arch: "x86_64", License: "MIT", BuildDate: 1700000000},
		Files: []File{{Name: "usr/bin/hello", Mode: 0o755, Data: []byte("#!/bin/sh\necho hello\n")}},
	})
	if err != nil {
		panic(err)
	}
	pf, err := ReadPackageFile(pkg, "hello-1.0-r0.apk")
	if err != nil {
		panic(err)
	}
	var archive bytes.Buffer
	if err := WriteIndexArchive(&archive, &Index{Description: "example", Packages: []*Package{pf.IndexEntry()}}); err != nil {
		panic(err)
	}
	idx, err := ReadIndexArchive(archive.Bytes(), "APKINDEX.tar.gz")
	if err != nil {
		panic(err)
	}
	p := idx.Packages[0]
	fmt.Println(idx.Description, p.Name, p.Version, p.InstalledSize, p.Checksum == pf.Checksum())
	// Output: example hello 1.0-r0 21 true
}

func TestIndexDedupe(t *testing.T) {
	p := func(name, ver string) *Package { return &Package{Name: name, Version: ver} }
	a1, a3, a2, b, a3again := p("a", "1.0-r0"), p("a", "1.0-r3"), p("a", "1.0-r2"), p("b", "5"), p("a", "1.0-r3")
	idx := &Index{Packages: []*Package{a1, b, a3, a2, a3again}}
	dups := idx.Dedupe()
	if len(idx.Packages) != 2 || idx.Packages[0] != a3 || idx.Packages[1] != b {
		t.Fatalf("kept %v, want a 1.0-r3 (the first of the highest) then b", idx.Packages)
	}
	if len(dups) != 1 || dups[0].Kept != a3 || len(dups[0].Dropped) != 3 {
		t.Fatalf("duplicates %+v", dups)
	}
	if got := dups[0].String(); got != "a 1.0-r3 (kept), 1.0-r0, 1.0-r2, 1.0-r3" {
		t.Errorf("String() = %q", got)
	}
	once := &Index{Packages: []*Package{a1, b}}
	if dups := once.Dedupe(); dups != nil || len(once.Packages) != 2 {
		t.Errorf("an index without duplicates changed: %v", dups)
	}
}
