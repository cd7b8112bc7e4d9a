package plan

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/apkbuild"
)

var testNow = time.Date(2026, 11, 22, 3, 0, 0, 0, time.UTC)

// mk returns an aport "main/<name>" at version "pkgver-rN", arch="all",
// changed by the options.
func mk(name, version string, opts ...func(*apkbuild.Aport)) *apkbuild.Aport {
	ver, rel, _ := strings.Cut(version, "-r")
	a := &apkbuild.Aport{Path: "main/" + name, Hash: "hash-" + name + "-" + version,
		Pkgname: name, Pkgver: ver, Pkgrel: rel, Arches: []string{"all"}}
	for _, o := range opts {
		o(a)
	}
	return a
}

func makedeps(d ...string) func(*apkbuild.Aport) {
	return func(a *apkbuild.Aport) { a.Makedepends = append(a.Makedepends, d...) }
}
func depends(d ...string) func(*apkbuild.Aport) {
	return func(a *apkbuild.Aport) { a.Depends = append(a.Depends, d...) }
}
func checkdeps(d ...string) func(*apkbuild.Aport) {
	return func(a *apkbuild.Aport) { a.Checkdepends = append(a.Checkdepends, d...) }
}
func options(o ...string) func(*apkbuild.Aport) {
	return func(a *apkbuild.Aport) { a.Options = append(a.Options, o...) }
}
func provides(p ...string) func(*apkbuild.Aport) {
	return func(a *apkbuild.Aport) { a.Provides = append(a.Provides, p...) }
}
func prio(p string) func(*apkbuild.Aport) {
	return func(a *apkbuild.Aport) { a.ProviderPriority = p }
}
func arches(x ...string) func(*apkbuild.Aport) {
	return func(a *apkbuild.Aport) { a.Arches = x }
}
func subs(names ...string) func(*apkbuild.Aport) {
	return func(a *apkbuild.Aport) {
		for _, n := range names {
			name, arch, _ := strings.Cut(n, ":")
			sp := apkbuild.Subpackage{Name: name}
			if arch != "" {
				sp.Arches = []string{arch}
			}
			a.Subpackages = append(a.Subpackages, sp)
		}
	}
}
func broken(msg string) func(*apkbuild.Aport) {
	return func(a *apkbuild.Aport) { a.Error = msg }
}

// tree evaluates the aports for each arch: a copy per arch with Arch and
// Applies set, as the reader would.
func tree(archList []string, aports ...*apkbuild.Aport) map[string][]*apkbuild.Aport {
	out := map[string][]*apkbuild.Aport{}
	for _, arch := range archList {
		for _, a := range aports {
			c := *a
			c.Arch = arch
			c.Applies = appliesTo(a.Arches, arch)
			out[arch] = append(out[arch], &c)
		}
	}
	return out
}

// rec is an index record "name=version", origin and provides.
func rec(nameVer, origin string, prov ...string) *apk.Package {
	name, ver, _ := strings.Cut(nameVer, "=")
	return &apk.Package{Name: name, Version: ver, Arch: "x86_64", Origin: origin, Provides: prov}
}

// same returns a record per due package of the aports, at their versions:
// a published repo that is up to date.
func same(aports ...*apkbuild.Aport) []*apk.Package {
	var out []*apk.Package
	for _, a := range aports {
		out = append(out, rec(a.Pkgname+"="+a.Version(), a.Pkgname))
		for _, sp := range a.Subpackages {
			out = append(out, rec(sp.Name+"="+a.Version(), a.Pkgname))
		}
	}
	return out
}

func index(recs ...*apk.Package) *apk.Index { return &apk.Index{Packages: recs} }

// one plans a single arch x86_64 tree against one published index.
func one(t *testing.T, pub *apk.Index, opt Options, aports ...*apkbuild.Aport) *ArchPlan {
	t.Helper()
	p, err := Compute(Input{Arches: []string{"x86_64"}, Aports: tree([]string{"x86_64"}, aports...),
		Published: map[string]*apk.Index{"x86_64": pub}, Now: testNow, Options: opt})
	if err != nil {
		t.Fatalf("Compute: %v", err)
	}
	return p.Arches[0]
}

func builds(ap *ArchPlan) map[string]*Build {
	m := map[string]*Build{}
	for _, b := range ap.Builds {
		m[b.Pkgname] = b
	}
	return m
}

func blocked(ap *ArchPlan) map[string]*Blocked {
	m := map[string]*Blocked{}
	for _, b := range ap.Blocked {
		m[b.Pkgname] = b
	}
	return m
}

// batches renders the builds as "name@batch" in plan order.
func batches(ap *ArchPlan) string {
	var s []string
	for _, b := range ap.Builds {
		s = append(s, b.Pkgname+"@"+itoa(b.Batch))
	}
	return strings.Join(s, " ")
}

func itoa(i int) string { b, _ := json.Marshal(i); return string(b) }

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n')
}
