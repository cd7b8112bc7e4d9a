package apk

import (
	"strconv"
	"strings"
	"testing"
)

// depParseCases are dependency strings ParseDep accepts, with what it
// makes of them. String must give back want.str.
var depParseCases = []struct {
	name string
	in   string
	want Dep
	str  string // String() of the result; "" means in
}{
	{"bare name", "musl", Dep{Name: "musl"}, ""},
	{"shared object", "so:libc.musl-x86_64.so.1", Dep{Name: "so:libc.musl-x86_64.so.1"}, ""},
	{"command with version", "cmd:foo=1.2-r0", Dep{Name: "cmd:foo", Op: "=", Version: "1.2-r0"}, ""},
	{"pkg-config", "pc:glib-2.0>=2.70", Dep{Name: "pc:glib-2.0", Op: ">=", Version: "2.70"}, ""},
	{"conflict", "!foo", Dep{Name: "foo", Conflict: true}, ""},
	{"conflict with version", "!foo<2", Dep{Name: "foo", Op: "<", Version: "2", Conflict: true}, ""},
	{"less", "foo<2", Dep{Name: "foo", Op: "<", Version: "2"}, ""},
	{"less or equal", "foo<=2", Dep{Name: "foo", Op: "<=", Version: "2"}, ""},
	{"greater", "foo>2", Dep{Name: "foo", Op: ">", Version: "2"}, ""},
	{"fuzzy", "foo~1.2", Dep{Name: "foo", Op: "~", Version: "1.2"}, ""},
	{"fuzzy less", "foo<~1.2", Dep{Name: "foo", Op: "<~", Version: "1.2"}, ""},
	{"fuzzy greater", "foo>~1.2", Dep{Name: "foo", Op: ">~", Version: "1.2"}, ""},
	{"checksum", "foo><Q1abc+/=", Dep{Name: "foo", Op: "><", Version: "Q1abc+/="}, ""},
	{"reversed greater or equal", "foo=>1.0", Dep{Name: "foo", Op: ">=", Version: "1.0"}, "foo>=1.0"},
	{"reversed checksum", "foo<>Q1x", Dep{Name: "foo", Op: "><", Version: "Q1x"}, "foo><Q1x"},
	{"doubled equal", "foo==1", Dep{Name: "foo", Op: "=", Version: "1"}, "foo=1"},
	{"fuzzy equal", "foo~=1", Dep{Name: "foo", Op: "~", Version: "1"}, "foo~1"},
	{"tag", "foo@testing", Dep{Name: "foo", Tag: "testing"}, ""},
	{"tag with version", "foo@edge>=1.0", Dep{Name: "foo", Op: ">=", Version: "1.0", Tag: "edge"}, ""},
	{"conflict with tag", "!foo@edge", Dep{Name: "foo", Conflict: true, Tag: "edge"}, ""},
	{"tag with at", "foo@a@b", Dep{Name: "foo", Tag: "a@b"}, ""},
	{"double bang", "!!foo", Dep{Name: "!foo", Conflict: true}, ""},
	{"odd name characters", "py3.12-foo_bar+x", Dep{Name: "py3.12-foo_bar+x"}, ""},
	{"version apk accepts", "foo>=1.x", Dep{Name: "foo", Op: ">=", Version: "1.x"}, ""},
	{"trailing dot version", "foo>1.", Dep{Name: "foo", Op: ">", Version: "1."}, ""},
	{"full version", "foo=1.2.3a_rc1_p2-r4", Dep{Name: "foo", Op: "=", Version: "1.2.3a_rc1_p2-r4"}, ""},
}

func TestParseDep(t *testing.T) {
	for _, tc := range depParseCases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseDep(tc.in)
			if err != nil {
				t.Fatalf("ParseDep(%q): %v", tc.in, err)
			}
			if got != tc.want {
				t.Fatalf("ParseDep(%q) = %#v, want %#v", tc.in, got, tc.want)
			}
			wantStr := tc.str
			if wantStr == "" {
				wantStr = tc.in
			}
			if s := got.String(); s != wantStr {
				t.Errorf("String() = %q, want %q", s, wantStr)
			}
			again, err := ParseDep(got.String())
			if err != nil || again != got {
				t.Errorf("ParseDep(%q) = %#v, %v; want %#v", got.String(), again, err, got)
			}
		})
	}
}

// depBadCases are strings ParseDep refuses; apkAccepts marks the ones where
// apk-tools 2.14 would take them anyway (the conformance test checks both
// lists against the real client).
var depBadCases = []struct {
	name       string
	in         string
	errHas     string
	apkAccepts bool
}{
	{"empty", "", "empty string", false},
	{"no version after operator", "foo>=", `no version after operator ">=" at byte 3`, false},
	{"operator only", "<1", "empty package name", true},
	{"invalid version", "foo>=1.2-", `invalid version "1.2-" at byte 5`, false},
	{"invalid suffix", "foo=1.0_foo", `invalid version "1.0_foo"`, false},
	{"uppercase version", "foo=1.0A", `invalid version "1.0A"`, false},
	{"two dependencies", "foo bar", `separator ' ' at byte 3`, false},
	{"newline", "foo\nbar", `separator '\n' at byte 3`, false},
	{"leading space", " foo", "at byte 0", false},
	{"empty name with version", "=1.0", "empty package name", true},
	{"bang only", "!", "empty package name", true},
	{"empty tag", "foo@", "empty repository tag", true},
	{"empty name with tag", "@edge", "empty package name", true},
	{"matches everything", "foo<=>1", `operator "<=>" at byte 3 matches every version`, true},
	{"matches everything fuzzy", "foo<>~1", `operator "<>~" at byte 3 matches every version`, true},
	{"long number version", "foo>1.123456789012345678", "invalid version", false},
}

func TestParseDepErrors(t *testing.T) {
	for _, tc := range depBadCases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDep(tc.in)
			if err == nil {
				t.Fatalf("ParseDep(%q) = %#v, want an error", tc.in, d)
			}
			if !strings.Contains(err.Error(), tc.errHas) {
				t.Errorf("ParseDep(%q) error %q does not contain %q", tc.in, err, tc.errHas)
			}
			if tc.in != "" && !strings.Contains(err.Error(), strconv.Quote(tc.in)) {
				t.Errorf("ParseDep(%q) error %q does not quote the input", tc.in, err)
			}
			if d != (Dep{}) {
				t.Errorf("ParseDep(%q) returned %#v with its error, want the zero Dep", tc.in, d)
			}
		})
	}
}

// depSatisfyCases are (dependency, version) pairs with apk 2.14's answer.
// The ones without Conflict or "><" are checked against the real client
// in the conformance test.
var depSatisfyCases = []struct {
	name    string
	dep     string
	version string
	want    bool
}{
	{"any", "foo", "1.0", true},
	{"equal", "foo=1.0", "1.0", true},
	{"equal revision differs", "foo=1.0", "1.0-r1", false},
	{"equal leading zero", "foo=1.0", "1.00", false},
	{"equal first component zero", "foo=1", "01", true},
	{"less", "foo<2", "1.9", true},
	{"less not equal", "foo<2", "2", false},
	{"less rc", "foo<2", "2_rc1", true},
	{"less or equal", "foo<=2", "2", true},
	{"greater", "foo>2", "2_p1", true},
	{"greater not rc", "foo>2", "2_rc1", false},
	{"greater or equal revision", "foo>=1.2-r3", "1.2-r3", true},
	{"greater or equal older revision", "foo>=1.2-r3", "1.2-r2", false},
	{"fuzzy same", "foo~1.2", "1.2", true},
	{"fuzzy longer", "foo~1.2", "1.2.5", true},
	{"fuzzy revision", "foo~1.2", "1.2-r4", true},
	{"fuzzy rc", "foo~1.2", "1.2_rc1", true},
	{"fuzzy letter", "foo~1.2", "1.2a", true},
	{"fuzzy shorter matches in apk 2.14", "foo~1.2", "1", true},
	{"fuzzy next minor", "foo~1.2", "1.3", false},
	{"fuzzy two digits", "foo~1.2", "1.20", false},
	{"fuzzy older", "foo~1.2", "1.1.9", false},
	{"fuzzy less equal part", "foo<~1.2", "1.2.7", true},
	{"fuzzy less lower", "foo<~1.2", "1.1", true},
	{"fuzzy less higher", "foo<~1.2", "1.3", false},
	{"fuzzy greater higher", "foo>~1.2", "1.3", true},
	{"fuzzy greater lower", "foo>~1.2", "1.1", false},
	{"invalid version equal", "foo=1", "1_foo", false},
	{"conflict any", "!foo", "1.0", false},
	{"conflict matching", "!foo<2", "1.0", false},
	{"conflict not matching", "!foo<2", "3.0", true},
	{"checksum equal", "foo><Q1abc=", "Q1abc=", true},
	{"checksum differs", "foo><Q1abc=", "Q1abd=", false},
	{"unversioned provider any", "foo", "", true},
	{"unversioned provider versioned", "foo>=1", "", false},
	{"unversioned provider conflict", "!foo>=1", "", true},
}

func TestDepSatisfies(t *testing.T) {
	for _, tc := range depSatisfyCases {
		t.Run(tc.name, func(t *testing.T) {
			d, err := ParseDep(tc.dep)
			if err != nil {
				t.Fatal(err)
			}
			if got := d.Satisfies(tc.version); got != tc.want {
				t.Errorf("ParseDep(%q).Satisfies(%q) = %v, want %v", tc.dep, tc.version, got, tc.want)
			}
		})
	}
}

func TestDepSatisfiesUnknownOp(t *testing.T) {
	for _, op := range []string{"!", "<=>x", "=="} {
		d := Dep{Name: "foo", Op: op, Version: "1"}
		want := op == "==" // apk reads "==" as "="
		if got := d.Satisfies("1"); got != want {
			t.Errorf("Dep{Op: %q}.Satisfies(\"1\") = %v, want %v", op, got, want)
		}
	}
}

func FuzzParseDep(f *testing.F) {
	for _, tc := range depParseCases {
		f.Add(tc.in, "1.0")
	}
	for _, tc := range depBadCases {
		f.Add(tc.in, "1.2_rc1")
	}
	f.Fuzz(func(t *testing.T, s, version string) {
		d, err := ParseDep(s)
		if err != nil {
			if d != (Dep{}) {
				t.Fatalf("ParseDep(%q) returned %#v with error %v", s, d, err)
			}
			return
		}
		out := d.String()
		again, err := ParseDep(out)
		if err != nil {
			t.Fatalf("ParseDep(%q) = %#v, but its String %q does not parse: %v", s, d, out, err)
		}
		if again != d {
			t.Fatalf("round trip of %q: %#v -> %q -> %#v", s, d, out, again)
		}
		if again.String() != out {
			t.Fatalf("String not stable: %q then %q", out, again.String())
		}
		if d.Name == "" {
			t.Fatalf("ParseDep(%q) gave an empty name", s)
		}
		// Conflict inverts the answer, whatever the version.
		flip := d
		flip.Conflict = !d.Conflict
		if d.Satisfies(version) == flip.Satisfies(version) {
			t.Fatalf("%q and %q agree on %q", d, flip, version)
		}
	})
}
