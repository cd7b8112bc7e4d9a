package plan

import (
	"strconv"
	"strings"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/apkbuild"
)

// provider is one package that offers a name: by being called so or by a
// provides entry.
type provider struct {
	pkg      string // the providing package's name
	priority int    // provider_priority; 0 when unset
	aport    int    // tree: index into archState.aports
	rec      *apk.Package
}

// better reports whether p is preferred over q: higher provider_priority,
// then the shorter name, then the name that sorts first.
func (p provider) better(q provider) bool {
	if p.priority != q.priority {
		return p.priority > q.priority
	}
	if len(p.pkg) != len(q.pkg) {
		return len(p.pkg) < len(q.pkg)
	}
	return p.pkg < q.pkg
}

// names maps names to providers: exact package names first, provides
// second.
type names struct {
	exact    map[string]provider
	provides map[string]provider // the best provider of each name
}

func newNames(n int) *names {
	return &names{exact: make(map[string]provider, n), provides: make(map[string]provider, n)}
}

func (n *names) addExact(name string, p provider) {
	if _, dup := n.exact[name]; !dup {
		n.exact[name] = p
	}
}

func (n *names) addProvides(entry string, p provider) {
	name := depName(entry)
	if q, ok := n.provides[name]; !ok || p.better(q) {
		n.provides[name] = p
	}
}

func (n *names) lookup(name string) (provider, bool) {
	if p, ok := n.exact[name]; ok {
		return p, true
	}
	p, ok := n.provides[name]
	return p, ok
}

// indexNames indexes an APKINDEX's records by name and, separately, by
// provides, each map built on its first use: most dependency names are
// package names, and the provides of a large index are many.
type indexNames struct {
	idx      *apk.Index
	exact    map[string]provider
	provides map[string]provider
}

func newIndexNames(idx *apk.Index) *indexNames {
	if idx == nil {
		idx = &apk.Index{}
	}
	return &indexNames{idx: idx}
}

func (x *indexNames) lookup(name string) (provider, bool) {
	if x.exact == nil {
		x.exact = make(map[string]provider, len(x.idx.Packages))
		for _, rec := range x.idx.Packages {
			if _, dup := x.exact[rec.Name]; !dup {
				x.exact[rec.Name] = provider{pkg: rec.Name, priority: priority(rec.ProviderPriority), rec: rec}
			}
		}
	}
	if p, ok := x.exact[name]; ok {
		return p, true
	}
	if x.provides == nil {
		n := 0
		for _, rec := range x.idx.Packages {
			n += len(rec.Provides)
		}
		pn := &names{provides: make(map[string]provider, n)}
		for _, rec := range x.idx.Packages {
			if len(rec.Provides) == 0 {
				continue
			}
			p := provider{pkg: rec.Name, priority: priority(rec.ProviderPriority), rec: rec}
			for _, e := range rec.Provides {
				pn.addProvides(e, p)
			}
		}
		x.provides = pn.provides
	}
	p, ok := x.provides[name]
	return p, ok
}

func priority(s string) int {
	v, err := strconv.Atoi(s)
	if err != nil {
		return 0
	}
	return v
}

// depName strips a version constraint (and a repository tag) from a
// dependency or provides entry: "so:libz.so.1=1.3" is "so:libz.so.1".
func depName(s string) string {
	if i := strings.IndexAny(s, "=<>~@"); i >= 0 {
		return s[:i]
	}
	return s
}

// appliesTo reports whether an arch= list selects arch: "all", "noarch" or
// the arch, and no "!arch".
func appliesTo(arches []string, arch string) bool {
	ok := false
	for _, a := range arches {
		switch a {
		case "!" + arch:
			return false
		case "all", "noarch", arch:
			ok = true
		}
	}
	return ok
}

// dueNames returns the packages the aport makes on arch: pkgname and the
// subpackages whose own arch applies.
func dueNames(a *apkbuild.Aport, arch string) []string {
	out := make([]string, 0, 1+len(a.Subpackages))
	out = append(out, a.Pkgname)
	for _, sp := range a.Subpackages {
		if len(sp.Arches) == 0 || appliesTo(sp.Arches, arch) {
			out = append(out, sp.Name)
		}
	}
	return out
}

// buildDepends returns the aport's build dependency names, without
// versions and conflicts, in order and without repeats: depends,
// makedepends, makedepends_build, makedepends_host, and checkdepends
// unless options has !check.
func buildDepends(a *apkbuild.Aport) ([]string, error) {
	lists := [][]string{a.Depends, a.Makedepends, a.MakedependsBuild, a.MakedependsHost}
	if !a.HasOption("!check") {
		lists = append(lists, a.Checkdepends)
	}
	var out []string
	seen := map[string]bool{}
	for _, l := range lists {
		for _, s := range l {
			d, err := apk.ParseDep(s)
			if err != nil {
				return nil, err
			}
			if d.Conflict || seen[d.Name] {
				continue
			}
			seen[d.Name] = true
			out = append(out, d.Name)
		}
	}
	return out, nil
}
