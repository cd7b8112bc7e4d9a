package apkbuild

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/golden")

// TestGolden evaluates every fixture aport for three arches and compares
// the full result, subpackages included, with testdata/golden.
func TestGolden(t *testing.T) {
	rels, err := fixtureRels(fixtureRoot)
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range rels {
		f := parseFixture(t, rel)
		for _, arch := range compareArches {
			name := strings.ReplaceAll(rel, "/", "_") + "." + arch
			t.Run(name, func(t *testing.T) {
				a := f.EvalWith(context.Background(), arch, EvalOptions{Rel: rel})
				got, err := json.MarshalIndent(a, "", "\t")
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, '\n')
				file := filepath.Join("testdata", "golden", name+".json")
				if *update {
					if err := os.MkdirAll(filepath.Dir(file), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(file, got, 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(file)
				if err != nil {
					t.Fatalf("%v (run go test -update)", err)
				}
				if !bytes.Equal(got, want) {
					t.Errorf("result differs from %s (go test -update rewrites it):\n%s", file, got)
				}
			})
		}
	}
}

func TestSplitSpec(t *testing.T) {
	tests := []struct {
		entry, name, fn, arch string
	}{
		{"foo-dev", "foo-dev", "dev", ""},
		{"foo-doc", "foo-doc", "doc", "noarch"},
		{"foo-openrc", "foo-openrc", "openrc", "noarch"},
		{"foo-bash-completion", "foo-bash-completion", "bashcomp", "noarch"},
		{"foo-zsh-completion", "foo-zsh-completion", "zshcomp", "noarch"},
		{"foo-fish-completion", "foo-fish-completion", "fishcomp", "noarch"},
		{"py3-foo-pyc", "py3-foo-pyc", "pyc", "noarch"},
		{"foo-nonfree-firmware:nonfree_firmware", "foo-nonfree-firmware", "nonfree_firmware", ""},
		{"foo-x11:x11:noarch", "foo-x11", "x11", "noarch"},
		{"foo-bin::aarch64", "foo-bin", "bin", "aarch64"},
		{"foo", "foo", "foo", ""},
	}
	for _, tt := range tests {
		t.Run(tt.entry, func(t *testing.T) {
			name, fn, arches := SplitSpec(tt.entry)
			if name != tt.name || fn != tt.fn || strings.Join(arches, " ") != tt.arch {
				t.Errorf("got %q %q %q, want %q %q %q", name, fn, arches, tt.name, tt.fn, tt.arch)
			}
		})
	}
}

func TestApplies(t *testing.T) {
	tests := []struct {
		name, arch, carch string
		want              bool
	}{
		{"all", "all", "armv7", true},
		{"noarch", "noarch", "s390x", true},
		{"listed", "x86_64 aarch64", "aarch64", true},
		{"not listed", "x86_64 aarch64", "armv7", false},
		{"excluded", "all !armv7", "armv7", false},
		{"excluded other", "all !armv7", "x86_64", true},
		{"exclusion only", "!armv7", "x86_64", false},
		{"empty", "", "x86_64", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Applies(List(tt.arch), tt.carch); got != tt.want {
				t.Errorf("Applies(%q, %q) = %v, want %v", tt.arch, tt.carch, got, tt.want)
			}
		})
	}
}

func TestList(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"blanks", " a\tb  c ", "a b c"},
		{"lines", "\n\ta\n\tb\n", "a b"},
		{"comment line", "a\n\t# needed for b\n\tc", "a c"},
		{"trailing comment", "a # why\nb", "a b"},
		{"hash inside word", "a#b c", "a#b c"},
		{"empty", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := strings.Join(List(tt.in), " "); got != tt.want {
				t.Errorf("List(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestUnknownArch(t *testing.T) {
	f := parseFixture(t, "main/libfoo")
	a := f.Eval(context.Background(), "vax")
	if !strings.Contains(a.Error, `unknown arch "vax"`) {
		t.Errorf("error %q, want unknown arch", a.Error)
	}
}
