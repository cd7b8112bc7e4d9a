package plan

import (
	"reflect"
	"strings"
	"testing"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/apkbuild"
)

func TestGraphs(t *testing.T) {
	libfoo := mk("libfoo", "2-r0", subs("libfoo-dev"))
	tests := []struct {
		name     string
		aports   []*apkbuild.Aport
		pub      []*apk.Package
		upstream []*apk.Package
		opt      Options
		// want lists the builds as "name@batch" in plan order.
		want        string
		wantDepends map[string][]string
		wantCrit    map[string]int
		wantBlocked map[string]string // pkgname → reason
		wantCycles  []string
	}{
		{
			name: "chain",
			aports: []*apkbuild.Aport{mk("c", "1-r0", makedeps("b")), mk("b", "1-r0", makedeps("a>=1")),
				mk("a", "1-r0")},
			want:        "a@1 b@2 c@3",
			wantDepends: map[string][]string{"a": {}, "b": {"a"}, "c": {"b"}},
			wantCrit:    map[string]int{"a": 3, "b": 2, "c": 1},
		},
		{
			name: "diamond",
			aports: []*apkbuild.Aport{mk("top", "1-r0", makedeps("left", "right")), mk("left", "1-r0", depends("base")),
				mk("right", "1-r0", makedeps("base")), mk("base", "1-r0")},
			want:        "base@1 left@2 right@2 top@3",
			wantDepends: map[string][]string{"top": {"left", "right"}, "left": {"base"}},
			wantCrit:    map[string]int{"base": 3, "left": 2, "right": 2, "top": 1},
		},
		{
			name:   "up-to-date dependencies do not count",
			aports: []*apkbuild.Aport{mk("c", "1-r0", makedeps("b")), mk("b", "1-r0", makedeps("a")), mk("a", "1-r0")},
			pub:    same(mk("b", "1-r0"), mk("a", "0-r0")),
			want:   "a@1 c@1",
		},
		{
			name:        "provides in the tree",
			aports:      []*apkbuild.Aport{mk("app", "1-r0", makedeps("cmd:foo")), mk("foo-tools", "1-r0", provides("cmd:foo=1"))},
			want:        "foo-tools@1 app@2",
			wantDepends: map[string][]string{"app": {"foo-tools"}},
		},
		{
			name: "provider priority, then the shorter name",
			aports: []*apkbuild.Aport{mk("app", "1-r0", makedeps("virtual-x", "virtual-y")),
				mk("x-low", "1-r0", provides("virtual-x"), prio("10")), mk("x-high", "1-r0", provides("virtual-x"), prio("100")),
				mk("y-longname", "1-r0", provides("virtual-y")), mk("y-short", "1-r0", provides("virtual-y"))},
			want:        "x-high@1 y-short@1 x-low@1 y-longname@1 app@2", // longer chains first in a batch
			wantDepends: map[string][]string{"app": {"x-high", "y-short"}},
		},
		{
			name:        "so: via the published index maps to its origin",
			aports:      []*apkbuild.Aport{mk("app", "1-r0", makedeps("so:libfoo.so.2")), libfoo},
			pub:         []*apk.Package{rec("libfoo=1-r0", "libfoo", "so:libfoo.so.2=2.0.0"), rec("libfoo-dev=1-r0", "libfoo", "pc:foo=1")},
			want:        "libfoo@1 app@2",
			wantDepends: map[string][]string{"app": {"libfoo"}},
		},
		{
			name:        "subpackage dependency",
			aports:      []*apkbuild.Aport{mk("app", "1-r0", makedeps("libfoo-dev")), libfoo},
			want:        "libfoo@1 app@2",
			wantDepends: map[string][]string{"app": {"libfoo"}},
		},
		{
			name:   "checkdepends unless !check",
			aports: []*apkbuild.Aport{mk("app", "1-r0", checkdeps("t"), options("!check")), mk("lib", "1-r0", checkdeps("t")), mk("t", "1-r0")},
			want:   "t@1 app@1 lib@2",
		},
		{
			name:   "conflicts are no dependencies",
			aports: []*apkbuild.Aport{mk("app", "1-r0", depends("!old")), mk("old", "1-r0")},
			want:   "app@1 old@1",
		},
		{
			name:        "cycle blocks its members and what needs them",
			aports:      []*apkbuild.Aport{mk("a", "1-r0", makedeps("b")), mk("b", "1-r0", makedeps("c")), mk("c", "1-r0", makedeps("a")), mk("d", "1-r0", makedeps("c")), mk("e", "1-r0")},
			want:        "e@1",
			wantBlocked: map[string]string{"a": BlockedCycle, "b": BlockedCycle, "c": BlockedCycle, "d": BlockedDep},
			wantCycles:  []string{"a → b → c → a"},
		},
		{
			name:        "bootstrap order breaks a cycle",
			aports:      []*apkbuild.Aport{mk("gcc", "1-r0", makedeps("musl-dev")), mk("musl", "1-r0", subs("musl-dev"), makedeps("gcc"))},
			opt:         Options{Bootstrap: [][]string{{"other", "musl", "gcc"}}},
			want:        "musl@1 gcc@2",
			wantDepends: map[string][]string{"gcc": {"musl"}, "musl": {}},
			wantCycles:  []string{"gcc → musl → gcc"},
		},
		{
			name:        "bootstrap order that misses a member does not apply",
			aports:      []*apkbuild.Aport{mk("a", "1-r0", makedeps("b")), mk("b", "1-r0", makedeps("c")), mk("c", "1-r0", makedeps("a"))},
			opt:         Options{Bootstrap: [][]string{{"a", "b"}}},
			wantBlocked: map[string]string{"a": BlockedCycle, "b": BlockedCycle, "c": BlockedCycle},
			wantCycles:  []string{"a → b → c → a"},
		},
		{
			name:   "self-dependency satisfied by the published repo",
			aports: []*apkbuild.Aport{mk("go", "1.2-r0", subs("go-doc"), makedeps("go"))},
			pub:    []*apk.Package{rec("go=1.1-r0", "go")},
			want:   "go@1",
		},
		{
			name:        "self-dependency of a new aport is a cycle",
			aports:      []*apkbuild.Aport{mk("go", "1.2-r0", makedeps("go"))},
			wantBlocked: map[string]string{"go": BlockedCycle},
			wantCycles:  []string{"go → go"},
		},
		{
			name:        "dependency found nowhere waits",
			aports:      []*apkbuild.Aport{mk("app", "1-r0", makedeps("nothere", "lib")), mk("lib", "1-r0"), mk("top", "1-r0", makedeps("app"))},
			upstream:    []*apk.Package{rec("other=1-r0", "other")},
			want:        "lib@1",
			wantBlocked: map[string]string{"app": BlockedDepWait, "top": BlockedDep},
		},
		{
			name:        "upstream index provides cmd: names",
			aports:      []*apkbuild.Aport{mk("app", "1-r0", makedeps("cmd:make", "python3"))},
			upstream:    []*apk.Package{rec("make=4-r0", "make", "cmd:make=4"), rec("python3=3.12-r0", "python3")},
			want:        "app@1",
			wantDepends: map[string][]string{"app": {}},
		},
		{
			name:        "upstream so: whose origin is in the tree",
			aports:      []*apkbuild.Aport{mk("app", "1-r0", makedeps("so:libfoo.so.2")), libfoo},
			pub:         same(mk("libfoo", "1-r0")),
			upstream:    []*apk.Package{rec("libfoo=1-r0", "libfoo", "so:libfoo.so.2=2")},
			want:        "libfoo@1 app@2",
			wantDepends: map[string][]string{"app": {"libfoo"}},
		},
		{
			name:        "failure of a dependency blocks its dependents",
			aports:      []*apkbuild.Aport{mk("app", "1-r0", makedeps("bad")), mk("bad", "1-r0", depends("a b"))},
			wantBlocked: map[string]string{"bad": BlockedBadDepend, "app": BlockedDep},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := Input{Arches: []string{"x86_64"}, Aports: tree([]string{"x86_64"}, tt.aports...),
				Published: map[string]*apk.Index{"x86_64": index(tt.pub...)}, Now: testNow, Options: tt.opt}
			if tt.upstream != nil {
				in.Upstream = map[string][]*apk.Index{"x86_64": {index(tt.upstream...)}}
			} else {
				in.Options.AssumeUpstream = true
			}
			p, err := Compute(in)
			if err != nil {
				t.Fatal(err)
			}
			ap := p.Arches[0]
			if got := batches(ap); got != tt.want {
				t.Errorf("builds = %q, want %q", got, tt.want)
			}
			bs := builds(ap)
			for name, want := range tt.wantDepends {
				if b := bs[name]; b == nil || !reflect.DeepEqual(b.Depends, want) {
					t.Errorf("%s depends = %v, want %q", name, b, want)
				}
			}
			for name, want := range tt.wantCrit {
				if b := bs[name]; b == nil || b.CriticalPath != want {
					t.Errorf("%s critical path = %+v, want %d", name, b, want)
				}
			}
			got := map[string]string{}
			for _, b := range ap.Blocked {
				got[b.Pkgname] = b.Reason
				if b.Detail == "" {
					t.Errorf("%s blocked without a detail", b.Pkgname)
				}
			}
			if len(got) != len(tt.wantBlocked) || (len(got) > 0 && !reflect.DeepEqual(got, tt.wantBlocked)) {
				t.Errorf("blocked = %v, want %v", got, tt.wantBlocked)
			}
			var cycles []string
			for _, c := range ap.Cycles {
				cycles = append(cycles, c.Path)
			}
			if !reflect.DeepEqual(cycles, tt.wantCycles) {
				t.Errorf("cycles = %q, want %q", cycles, tt.wantCycles)
			}
			assertBatchesOrdered(t, p)
		})
	}
}

func TestBlockedDetails(t *testing.T) {
	ap := one(t, index(), Options{},
		mk("app", "1-r0", makedeps("zlib-dev", "nothere", "lib")), mk("lib", "1-r0", makedeps("c")), mk("c", "1-r0", makedeps("lib")),
		mk("top", "1-r0", makedeps("app", "lib")))
	bl := blocked(ap)
	if b := bl["app"]; b == nil || !reflect.DeepEqual(b.Missing, []string{"zlib-dev", "nothere"}) ||
		!strings.Contains(b.Detail, "zlib-dev, nothere") {
		t.Errorf("app = %+v, want dep-wait on zlib-dev, nothere", b)
	}
	if b := bl["lib"]; b == nil || b.Cycle != "c → lib → c" || !strings.Contains(b.Detail, "plan.bootstrap") {
		t.Errorf("lib = %+v, want the cycle and the remedy", b)
	}
	if b := bl["top"]; b == nil || !reflect.DeepEqual(b.WaitsFor, []string{"app", "lib"}) {
		t.Errorf("top = %+v, want it waiting for app and lib", b)
	}
}

func TestAssumedUpstream(t *testing.T) {
	ap := one(t, index(), Options{AssumeUpstream: true}, mk("app", "1-r0", makedeps("gcc", "so:libc.musl-x86_64.so.1")))
	if b := builds(ap)["app"]; b == nil || !reflect.DeepEqual(b.AssumedUpstream, []string{"gcc", "so:libc.musl-x86_64.so.1"}) {
		t.Fatalf("app = %+v, want gcc and so:libc assumed from upstream", b)
	}
}

func TestNoarch(t *testing.T) {
	archList := []string{"x86_64", "aarch64", "armv7"}
	data := mk("data", "2-r0", arches("noarch"), makedeps("lib"))
	lib := mk("lib", "1-r0")
	app := mk("app", "1-r0", makedeps("data"))
	in := Input{Arches: archList, NativeArch: "aarch64", Aports: tree(archList, data, lib, app),
		Published: map[string]*apk.Index{
			"x86_64":  index(same(lib)...),
			"aarch64": index(same(lib, app)...),
			"armv7":   index(append(same(lib, app), same(mk("data", "1-r0"))...)...),
		}, Now: testNow, Options: Options{AssumeUpstream: true}}
	p, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	if got := batches(p.Arch("aarch64")); got != "data@1" {
		t.Errorf("aarch64 builds = %q, want data@1 (noarch builds on the native arch only)", got)
	}
	if b := builds(p.Arch("aarch64"))["data"]; b == nil || !b.Noarch {
		t.Errorf("aarch64 data = %+v, want noarch", b)
	}
	x86 := p.Arch("x86_64")
	if got := batches(x86); got != "app@2" {
		t.Errorf("x86_64 builds = %q, want app@2 after the native noarch build", got)
	}
	if b := builds(x86)["app"]; b == nil || !reflect.DeepEqual(b.Depends, []string{"aarch64/data"}) {
		t.Errorf("x86_64 app = %+v, want it to depend on aarch64/data", b)
	}
	for _, arch := range []string{"x86_64", "armv7"} {
		cs := p.Arch(arch).Copies
		if len(cs) != 1 || cs[0].Pkgname != "data" || cs[0].From != "aarch64" || cs[0].Batch != 1 {
			t.Errorf("%s copies = %+v, want data from aarch64 after batch 1", arch, cs)
		}
	}
	if got := p.Arch("armv7").Copies[0].PublishedVersion; got != "1-r0" {
		t.Errorf("armv7 copy published_version = %q, want 1-r0", got)
	}
	if c := p.Arch("aarch64").Counts; c.Copies != 0 || c.Builds != 1 || c.UpToDate != 2 {
		t.Errorf("aarch64 counts = %+v", c)
	}
	assertBatchesOrdered(t, p)

	// When the native build is blocked, so are the copies and what needs them.
	data.Makedepends = []string{"nothere"}
	in.Aports = tree(archList, data, lib, app)
	in.Options.AssumeUpstream = false
	p, err = Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	if b := blocked(p.Arch("armv7"))["data"]; b == nil || b.Reason != BlockedNoarch || !reflect.DeepEqual(b.WaitsFor, []string{"aarch64/data"}) {
		t.Errorf("armv7 data = %+v, want blocked waiting for aarch64/data", b)
	}
	if b := blocked(p.Arch("x86_64"))["app"]; b == nil || b.Reason != BlockedDep {
		t.Errorf("x86_64 app = %+v, want dep-blocked", b)
	}
}

func TestOnly(t *testing.T) {
	aports := []*apkbuild.Aport{
		mk("app", "1-r0", makedeps("lib-dev", "tool")), mk("lib", "2-r0", subs("lib-dev"), makedeps("base")),
		mk("tool", "1-r0"), mk("base", "1-r0"), mk("other", "1-r0"),
	}
	pub := index(rec("lib=1-r0", "lib"), rec("lib-dev=1-r0", "lib"), rec("base=0-r0", "base"))
	tests := []struct {
		name        string
		opt         Options
		want        string
		wantBlocked map[string]string
		notSelected int
	}{
		{name: "subpackage name selects its aport", opt: Options{Only: []string{"lib-dev"}},
			want: "lib@1", notSelected: 4},
		{name: "unpublished dependency left out blocks", opt: Options{Only: []string{"app"}},
			wantBlocked: map[string]string{"app": BlockedNotSelected}, notSelected: 4},
		{name: "with deps", opt: Options{Only: []string{"app"}, WithDeps: true},
			want: "base@1 tool@1 lib@2 app@3", notSelected: 1},
		{name: "published dependency left out is used as published", opt: Options{Only: []string{"app", "tool"}},
			want: "tool@1 app@2", notSelected: 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.opt.AssumeUpstream = true
			ap := one(t, pub, tt.opt, aports...)
			if got := batches(ap); got != tt.want {
				t.Errorf("builds = %q, want %q", got, tt.want)
			}
			got := map[string]string{}
			for _, b := range ap.Blocked {
				got[b.Pkgname] = b.Reason
			}
			if len(got)+len(tt.wantBlocked) > 0 && !reflect.DeepEqual(got, tt.wantBlocked) {
				t.Errorf("blocked = %v, want %v", got, tt.wantBlocked)
			}
			if ap.Counts.NotSelected != tt.notSelected || len(ap.NotSelected) != tt.notSelected {
				t.Errorf("not_selected = %d counted, %d listed, want %d", ap.Counts.NotSelected, len(ap.NotSelected), tt.notSelected)
			}
		})
	}
	ap := one(t, pub, Options{Only: []string{"app"}, AssumeUpstream: true}, aports...)
	if b := blocked(ap)["app"]; b == nil || !reflect.DeepEqual(b.WaitsFor, []string{"tool"}) || !strings.Contains(b.Detail, "--with-deps") {
		t.Errorf("app = %+v, want it waiting for tool with the remedy", b)
	}
}

// TestNoarchNativeArchError: when the native arch cannot be planned, a
// noarch dependency another arch lacks is missing there (dep-wait), not
// assumed to appear.
func TestNoarchNativeArchError(t *testing.T) {
	archList := []string{"x86_64", "aarch64"}
	in := Input{Arches: archList, Aports: tree(archList, mk("data", "1-r0", arches("noarch")), mk("app", "1-r0", makedeps("data")),
		mk("tool", "1-r0", makedeps("data"))),
		Published:  map[string]*apk.Index{"aarch64": index(rec("tool=0-r0", "tool"))},
		ArchErrors: map[string]string{"x86_64": "verify index: unknown key"}, Now: testNow,
	}
	p, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	ap := p.Arch("aarch64")
	if b := blocked(ap)["app"]; b == nil || b.Reason != BlockedDepWait || !reflect.DeepEqual(b.Missing, []string{"data"}) {
		t.Errorf("app = %+v, want dep-wait on data", b)
	}
	if b := blocked(ap)["data"]; b == nil || b.Reason != BlockedNoarch {
		t.Errorf("data = %+v, want blocked: its native arch could not be planned", b)
	}
}
