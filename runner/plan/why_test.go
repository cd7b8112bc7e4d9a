package plan

import (
	"strings"
	"testing"

	"github.com/apkfarm/apkfarm/runner/apk"
)

func TestWhy(t *testing.T) {
	archList := []string{"x86_64", "aarch64"}
	in := Input{Arches: archList, Aports: tree(archList,
		mk("lib", "2-r0", subs("lib-dev")), mk("app", "1-r0", makedeps("nothere")), mk("ok", "1-r0"),
		mk("x86", "1-r0", arches("x86_64")), mk("bad", "1-r0", broken("main/bad/APKBUILD:2: oops")),
		mk("data", "1-r0", arches("noarch")), mk("skip", "1-r0")),
		Published: map[string]*apk.Index{"x86_64": index(append(same(mk("ok", "1-r0"), mk("data", "1-r0")),
			rec("lib=1-r0", "lib"), rec("gone=1-r0", "gone"))...)},
		Now: testNow, Options: Options{Only: []string{"lib", "app", "ok", "x86", "bad", "data"}},
	}
	p, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ arch, name, want string }{
		{"x86_64", "lib-dev", "lib-dev (a subpackage of lib) is built in batch 1: outdated (published 1-r0, tree 2-r0)"},
		{"x86_64", "app", "app is not built: dep-wait: build dependencies found in no tree or index: nothere"},
		{"x86_64", "ok", "ok is up to date: 1-r0 is published"},
		{"aarch64", "x86", `x86 is not built: excluded, arch="x86_64" does not select aarch64`},
		{"x86_64", "bad", "its APKBUILD is invalid: main/bad/APKBUILD:2: oops"},
		{"aarch64", "data", "data is noarch: built on x86_64 and copied here (1-r0)"},
		{"x86_64", "skip", "--only left it out"},
		{"x86_64", "gone", "gone 1-r0 is published but to be removed (origin-gone: origin gone)"},
		{"x86_64", "nosuch", `no aport of the tree makes "nosuch"`},
		{"armv7", "lib", "not planned"},
	}
	for _, tt := range tests {
		t.Run(tt.arch+"/"+tt.name, func(t *testing.T) {
			if got := p.Why(tt.arch, tt.name); !strings.HasPrefix(got, tt.arch+": ") || !strings.Contains(got, tt.want) {
				t.Errorf("Why = %q, want it to contain %q", got, tt.want)
			}
		})
	}
}
