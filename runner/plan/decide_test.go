package plan

import (
	"reflect"
	"strings"
	"testing"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/apkbuild"
)

func TestDecisions(t *testing.T) {
	a := mk("a", "1.2-r1", subs("a-dev", "a-doc"))
	tests := []struct {
		name      string
		aport     *apkbuild.Aport
		published []*apk.Package
		// want is "reason", "reason downgrade", "up-to-date", "excluded"
		// or "invalid".
		want        string
		wantPub     string
		wantMissing []string
		wantRemoved []string // name:reason
	}{
		{name: "new", aport: a, want: ReasonNew},
		{name: "up to date", aport: a, published: same(a), want: "up-to-date"},
		{name: "outdated pkgrel", aport: a, want: ReasonOutdated, wantPub: "1.2-r0",
			published: []*apk.Package{rec("a=1.2-r0", "a"), rec("a-dev=1.2-r0", "a"), rec("a-doc=1.2-r0", "a")}},
		{name: "outdated pkgver", aport: a, want: ReasonOutdated, wantPub: "1.1-r5",
			published: []*apk.Package{rec("a=1.1-r5", "a")}},
		{name: "downgrade", aport: a, want: ReasonOutdated + " downgrade", wantPub: "1.10-r0",
			published: []*apk.Package{rec("a=1.10-r0", "a")}},
		{name: "missing subpackage", aport: a, want: ReasonMissingSubpackage, wantPub: "1.2-r1",
			wantMissing: []string{"a-doc"},
			published:   []*apk.Package{rec("a=1.2-r1", "a"), rec("a-dev=1.2-r1", "a")}},
		{name: "subpackage of another arch not missing",
			aport: mk("b", "1-r0", subs("b-x86:x86", "b-all:all")), want: "up-to-date",
			published: []*apk.Package{rec("b=1-r0", "b"), rec("b-all=1-r0", "b")}},
		{name: "published origin only through a subpackage",
			aport: a, want: ReasonOutdated, wantPub: "1.1-r0",
			published: []*apk.Package{rec("a-dev=1.1-r0", "a"), rec("a-doc=1.0-r0", "a")}},
		{name: "excluded arch", aport: mk("c", "1-r0", arches("aarch64")), want: "excluded"},
		{name: "excluded by !arch", aport: mk("c", "1-r0", arches("all", "!x86_64")), want: "excluded",
			published: []*apk.Package{rec("c=1-r0", "c")}, wantRemoved: []string{"c:" + RemovedArchExcluded}},
		{name: "invalid keeps its packages", aport: mk("d", "1-r0", broken("APKBUILD:3: syntax error")),
			want: "invalid", published: []*apk.Package{rec("d=0.9-r0", "d")}},
		{name: "stale subpackage removed", aport: mk("e", "1-r0"), want: "up-to-date",
			published:   []*apk.Package{rec("e=1-r0", "e"), rec("e-old=1-r0", "e")},
			wantRemoved: []string{"e-old:" + RemovedSubpackageGone}},
		{name: "origin left the tree", aport: mk("f", "1-r0"), want: "up-to-date",
			published:   append(same(mk("f", "1-r0")), rec("gone=2-r0", "gone"), rec("gone-dev=2-r0", "gone")),
			wantRemoved: []string{"gone:" + RemovedOriginGone, "gone-dev:" + RemovedOriginGone}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ap := one(t, index(tt.published...), Options{AssumeUpstream: true}, tt.aport)
			got := ""
			c := ap.Counts
			switch {
			case len(ap.Builds) == 1:
				b := ap.Builds[0]
				got = b.Reason
				if b.Downgrade {
					got += " downgrade"
				}
				if b.PublishedVersion != tt.wantPub {
					t.Errorf("published_version = %q, want %q", b.PublishedVersion, tt.wantPub)
				}
				if !reflect.DeepEqual(b.MissingSubpackages, tt.wantMissing) {
					t.Errorf("missing_subpackages = %q, want %q", b.MissingSubpackages, tt.wantMissing)
				}
				if b.Version != tt.aport.Version() || b.Batch != 1 || b.CriticalPath != 1 {
					t.Errorf("build = %+v, want version %s batch 1 critical path 1", b, tt.aport.Version())
				}
			case c.UpToDate == 1:
				got = "up-to-date"
				if len(ap.UpToDate) != 1 || ap.UpToDate[0].Pkgname != tt.aport.Pkgname || ap.UpToDate[0].Version != tt.aport.Version() {
					t.Errorf("up_to_date = %+v, want the aport listed", ap.UpToDate)
				}
			case c.Excluded == 1:
				got = "excluded"
				if len(ap.Excluded) != 1 || ap.Excluded[0].Pkgname != tt.aport.Pkgname || !strings.Contains(ap.Excluded[0].Reason, "does not build for x86_64") {
					t.Errorf("excluded = %+v, want the aport listed with the reason", ap.Excluded)
				}
			case c.Invalid == 1:
				got = "invalid"
				if ap.Invalid[0].Error != tt.aport.Error || ap.Invalid[0].Pkgname != tt.aport.Pkgname {
					t.Errorf("invalid = %+v, want the APKBUILD's error", ap.Invalid[0])
				}
			}
			if got != tt.want {
				t.Errorf("decision = %q, want %q (plan %+v)", got, tt.want, ap)
			}
			if n := c.Builds + c.UpToDate + c.Excluded + c.Invalid; n != 1 {
				t.Errorf("aport counted %d times: %+v", n, c)
			}
			var removed []string
			for _, r := range ap.Removed {
				removed = append(removed, r.Name+":"+r.Reason)
			}
			if !reflect.DeepEqual(removed, tt.wantRemoved) {
				t.Errorf("removed = %q, want %q", removed, tt.wantRemoved)
			}
		})
	}
}

func TestDuplicatePkgnameIsInvalid(t *testing.T) {
	first := mk("x", "1-r0")
	second := mk("x", "2-r0")
	second.Path = "testing/x"
	ap := one(t, index(), Options{AssumeUpstream: true}, second, first)
	if len(ap.Builds) != 1 || ap.Builds[0].Path != "main/x" {
		t.Fatalf("builds = %+v, want only main/x", ap.Builds)
	}
	if len(ap.Invalid) != 1 || ap.Invalid[0].Path != "testing/x" || !strings.Contains(ap.Invalid[0].Error, "main/x") {
		t.Fatalf("invalid = %+v, want testing/x naming main/x", ap.Invalid)
	}
	if second.Error != "" {
		t.Errorf("the input aport was modified: %q", second.Error)
	}
}

func TestInputErrors(t *testing.T) {
	tests := []struct {
		name string
		in   Input
		want string
	}{
		{"no arches", Input{}, "no arches"},
		{"arch twice", Input{Arches: []string{"x86_64", "x86_64"}}, `"x86_64" listed twice`},
		{"unknown only", Input{Arches: []string{"x86_64"}, Aports: tree([]string{"x86_64"}, mk("a", "1-r0")),
			Options: Options{Only: []string{"a", "nope", "zap"}}}, `"nope", "zap": no aport or subpackage`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compute(tt.in)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tt.want)
			}
		})
	}
}

func TestArchErrorLeavesOtherArches(t *testing.T) {
	a := mk("a", "1-r0")
	p, err := Compute(Input{Arches: []string{"x86_64", "aarch64"}, Aports: tree([]string{"x86_64", "aarch64"}, a),
		ArchErrors: map[string]string{"aarch64": "verify index: unknown key"}, Now: testNow,
		Options: Options{AssumeUpstream: true}})
	if err != nil {
		t.Fatal(err)
	}
	if !p.HasErrors() || p.Arch("aarch64").Error == "" || len(p.Arch("aarch64").Builds) != 0 {
		t.Errorf("aarch64 = %+v, want its error and no builds", p.Arch("aarch64"))
	}
	if got := batches(p.Arch("x86_64")); got != "a@1" {
		t.Errorf("x86_64 builds = %q, want a@1", got)
	}
}

func TestInvalidWithoutPkgnameKeepsItsPackages(t *testing.T) {
	a := &apkbuild.Aport{Path: "main/broken", Error: "main/broken/APKBUILD:5: parse APKBUILD: unclosed quote"}
	ap := one(t, index(rec("broken=1-r0", "broken")), Options{}, a)
	if len(ap.Removed) != 0 {
		t.Errorf("removed = %+v, want the invalid aport's packages kept", ap.Removed)
	}
	if len(ap.Invalid) != 1 || ap.Invalid[0].Pkgname != "broken" || ap.Invalid[0].Error != a.Error {
		t.Errorf("invalid = %+v, want broken with its error", ap.Invalid)
	}
}

// TestSameNameOtherArches: aports of one pkgname for different arches
// (device packages, say) are no duplicates; each arch builds its own and
// the other's exclusion removes nothing.
func TestSameNameOtherArches(t *testing.T) {
	a := mk("fw", "1-r0", arches("x86_64"))
	a.Path = "device/a/fw"
	b := mk("fw", "2-r0", arches("aarch64"))
	b.Path = "device/b/fw"
	archList := []string{"x86_64", "aarch64"}
	p, err := Compute(Input{Arches: archList, Aports: tree(archList, b, a),
		Published: map[string]*apk.Index{"x86_64": index(rec("fw=0.9-r0", "fw")), "aarch64": index(rec("fw=1.9-r0", "fw"))},
		Now:       testNow})
	if err != nil {
		t.Fatal(err)
	}
	for arch, want := range map[string]string{"x86_64": "device/a/fw 1-r0", "aarch64": "device/b/fw 2-r0"} {
		ap := p.Arch(arch)
		if len(ap.Builds) != 1 || ap.Builds[0].Path+" "+ap.Builds[0].Version != want {
			t.Errorf("%s builds = %s, want %s", arch, batches(ap), want)
		}
		if len(ap.Invalid)+len(ap.Removed) != 0 || ap.Counts.Excluded != 1 {
			t.Errorf("%s: invalid %+v, removed %+v, counts %+v; want none, none, 1 excluded", arch, ap.Invalid, ap.Removed, ap.Counts)
		}
	}
}

func TestSameNameOtherArchesWhy(t *testing.T) {
	a := mk("fw", "1-r0", arches("x86_64"))
	a.Path = "device/b/fw"
	b := mk("fw", "2-r0", arches("aarch64"))
	b.Path = "device/a/fw"
	p, err := Compute(Input{Arches: []string{"x86_64"}, Aports: tree([]string{"x86_64"}, a, b), Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Why("x86_64", "fw"); !strings.Contains(got, "fw is built in batch 1") {
		t.Errorf("Why = %q, want the aport that applies", got)
	}
}

// TestChannelBase: in a staging channel, an aport the base repository
// publishes at its version is up to date and the channel's copy goes; one
// whose version differs is built; dependencies resolve through the base.
func TestChannelBase(t *testing.T) {
	same, newer := mk("same", "1-r0"), mk("changed", "2-r0", makedeps("libbase-dev"))
	base := index(rec("same=1-r0", "same"), rec("changed=1-r0", "changed"), rec("libbase-dev=3-r0", "libbase"))
	channel := index(rec("same=0.9-r0", "same"))
	p, err := Compute(Input{Arches: []string{"x86_64"}, Aports: tree([]string{"x86_64"}, same, newer),
		Published: map[string]*apk.Index{"x86_64": channel}, Base: map[string]*apk.Index{"x86_64": base},
		Upstream: map[string][]*apk.Index{"x86_64": {index()}}, Now: testNow})
	if err != nil {
		t.Fatal(err)
	}
	ap := p.Arches[0]
	if len(ap.Builds) != 1 || ap.Builds[0].Pkgname != "changed" || len(ap.Blocked) != 0 {
		t.Fatalf("builds %+v blocked %+v: want changed built, its dependency found in the base", ap.Builds, ap.Blocked)
	}
	if len(ap.UpToDate) != 1 || ap.UpToDate[0].Pkgname != "same" || ap.UpToDate[0].Reason == "" {
		t.Errorf("up to date %+v", ap.UpToDate)
	}
	if len(ap.Removed) != 1 || ap.Removed[0].Name != "same" || ap.Removed[0].Reason != RemovedInBase {
		t.Errorf("removed %+v, want the channel's same removed as in-base", ap.Removed)
	}
}
