package plan

import (
	"errors"
	"fmt"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/apkbuild"
)

// archState is one arch's inputs, indexed.
type archState struct {
	arch     string
	plan     *ArchPlan
	aports   []*apkbuild.Aport // every aport, sorted by path; duplicates made invalid
	valid    []bool            // aports[i] was read and applies to the arch
	noarchAt []bool            // aports[i] is noarch
	// node holds the build node of each aport, or -1.
	node      []int
	byPkgname map[string]int // pkgname → aport index (every aport)
	byPath    map[string]int
	tree      *names // valid, applicable aports: pkgnames, due subpackages, provides; built on first use
	pub       *apk.Index
	published *indexNames
	byOrigin  map[string][]*apk.Package
	upNames   []*indexNames
	base      *apk.Index // a channel's base repository; nil otherwise
	baseBy    map[string][]*apk.Package
	resolved  map[string]target
	noarch    []pendingCopy // noarch aports due here, built on the native arch
	nodes     []*node       // this arch's nodes, before they are numbered for the plan
}

// target is what a dependency name resolved to.
type target struct {
	found bool
	aport int // index into aports of the tree aport that makes it, or -1
}

// node is one aport due for a build on one arch.
type node struct {
	s       *archState
	a       *apkbuild.Aport
	b       *Build
	deps    []edge
	rdeps   []int
	blocked *Blocked
	// selected: built in this run unless blocked (false when --only left
	// it out).
	selected bool
}

// edge is a dependency on another node, through the name that led to it.
type edge struct {
	to   int
	name string
}

type planner struct {
	in     Input
	native string
	states map[string]*archState
	nodes  []*node
	want   map[string]bool // pkgnames selected by --only; nil without it
}

// Compute works out the plan. Errors are for input that cannot be planned
// at all (no arches, an --only name that is in no arch's tree); problems of
// one aport or one arch are results in the plan.
func Compute(in Input) (*Plan, error) {
	if len(in.Arches) == 0 {
		return nil, errors.New("compute plan: no arches")
	}
	seen := map[string]bool{}
	for _, a := range in.Arches {
		if seen[a] {
			return nil, fmt.Errorf("compute plan: arch %q listed twice", a)
		}
		seen[a] = true
	}
	p := &planner{in: in, native: in.NativeArch, states: map[string]*archState{}}
	if !seen[p.native] {
		p.native = in.Arches[0]
	}
	out := &Plan{Schema: Schema, Generated: in.Now, NativeArch: p.native, Only: in.Options.Only}
	for _, arch := range in.Arches {
		ap := &ArchPlan{Arch: arch, Builds: []*Build{}, Copies: []*Copy{}, Blocked: []*Blocked{},
			Removed: []*Removed{}, Cycles: []*Cycle{}, Invalid: []*Invalid{},
			UpToDate: []*Decided{}, Excluded: []*Decided{}, NotSelected: []*Decided{}}
		out.Arches = append(out.Arches, ap)
		ap.Error = in.ArchErrors[arch]
	}
	var wg sync.WaitGroup
	states := make([]*archState, len(out.Arches))
	for i, ap := range out.Arches {
		if ap.Error != "" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			up := in.Upstream[ap.Arch]
			if base := in.Base[ap.Arch]; base != nil {
				up = append([]*apk.Index{base}, up...)
			}
			states[i] = newArchState(ap.Arch, ap, in.Aports[ap.Arch], in.Published[ap.Arch], up)
			states[i].base = in.Base[ap.Arch]
			states[i].decide(p.native)
		}()
	}
	wg.Wait()
	for i, ap := range out.Arches {
		if states[i] != nil {
			p.states[ap.Arch] = states[i]
		}
	}
	// Number the nodes: the native arch's first, then in arch order.
	for _, arch := range p.archOrder() {
		s := p.states[arch]
		offset := len(p.nodes)
		p.nodes = append(p.nodes, s.nodes...)
		for i, id := range s.node {
			if id >= 0 {
				s.node[i] = offset + id
			}
		}
	}
	p.resolveAll()
	if err := p.selectOnly(); err != nil {
		return nil, err
	}
	p.holdFailures()
	p.cycles()
	p.propagate()
	out.Batches = p.layer()
	p.copies()
	p.emit()
	return out, nil
}

// archOrder returns the arches that have inputs, the native arch first.
func (p *planner) archOrder() []string {
	var order []string
	if p.states[p.native] != nil {
		order = append(order, p.native)
	}
	for _, a := range p.in.Arches {
		if a != p.native && p.states[a] != nil {
			order = append(order, a)
		}
	}
	return order
}

func newArchState(arch string, ap *ArchPlan, aports []*apkbuild.Aport, pub *apk.Index, up []*apk.Index) *archState {
	s := &archState{arch: arch, plan: ap, resolved: map[string]target{}}
	s.aports = append([]*apkbuild.Aport(nil), aports...)
	sort.SliceStable(s.aports, func(i, j int) bool { return s.aports[i].Path < s.aports[j].Path })
	s.valid = make([]bool, len(s.aports))
	s.node = make([]int, len(s.aports))
	s.byPkgname = make(map[string]int, len(s.aports))
	s.byPath = make(map[string]int, len(s.aports))
	for i, a := range s.aports {
		s.node[i] = -1
		s.byPath[a.Path] = i
		if a.Pkgname == "" && a.Error != "" {
			// An APKBUILD that did not parse: its directory names it, as
			// in every aports tree, so its published packages stay.
			c := *a
			c.Pkgname = path.Base(a.Path)
			s.aports[i] = &c
		}
	}
	// Aports that build here own their pkgname; two of them with one name
	// is an error (the second by path is made invalid). Aports of other
	// arches may share a name with them.
	for i, a := range s.aports {
		if a.Error != "" || !a.Applies {
			continue
		}
		if j, dup := s.byPkgname[a.Pkgname]; dup {
			// Copy: the evaluator's result may be shared between arches.
			c := *a
			c.Error = fmt.Sprintf("pkgname %q is also declared by %s", a.Pkgname, s.aports[j].Path)
			s.aports[i] = &c
			continue
		}
		s.byPkgname[a.Pkgname] = i
	}
	for i, a := range s.aports {
		if _, taken := s.byPkgname[a.Pkgname]; !taken {
			s.byPkgname[a.Pkgname] = i
		}
	}
	s.noarchAt = make([]bool, len(s.aports))
	for i, a := range s.aports {
		s.valid[i] = a.Error == "" && a.Applies
		s.noarchAt[i] = a.Noarch()
	}
	s.pub = pub
	s.published = newIndexNames(pub)
	for _, idx := range up {
		s.upNames = append(s.upNames, newIndexNames(idx))
	}
	s.byOrigin = map[string][]*apk.Package{}
	if pub != nil {
		s.byOrigin = make(map[string][]*apk.Package, len(pub.Packages))
		for _, rec := range pub.Packages {
			o := rec.OriginOrName()
			s.byOrigin[o] = append(s.byOrigin[o], rec)
		}
	}
	return s
}

// treeNames indexes the names the arch's valid aports make and provide.
// It is built on first use: a plan with nothing to build never needs it.
func (s *archState) treeNames() *names {
	if s.tree != nil {
		return s.tree
	}
	s.tree = newNames(len(s.aports) * 2)
	arch := s.arch
	for i, a := range s.aports {
		if !s.valid[i] {
			continue
		}
		prio := priority(a.ProviderPriority)
		for _, n := range dueNames(a, arch) {
			s.tree.addExact(n, provider{pkg: n, priority: prio, aport: i})
		}
		for _, e := range a.Provides {
			s.tree.addProvides(e, provider{pkg: a.Pkgname, priority: prio, aport: i})
		}
		for _, sp := range a.Subpackages {
			if len(sp.Arches) == 0 || appliesTo(sp.Arches, arch) {
				for _, e := range sp.Provides {
					s.tree.addProvides(e, provider{pkg: sp.Name, priority: prio, aport: i})
				}
			}
		}
	}
	return s.tree
}

// decide classifies every aport of the arch, makes nodes for those due for
// a build (numbered within the arch), and lists removals.
func (s *archState) decide(native string) {
	for i, a := range s.aports {
		switch {
		case a.Error != "":
			s.plan.Invalid = append(s.plan.Invalid, &Invalid{Pkgname: a.Pkgname, Path: a.Path, Error: a.Error})
			s.plan.Counts.Invalid++
			continue
		case !a.Applies:
			s.plan.Counts.Excluded++
			if s.byPkgname[a.Pkgname] == i { // no aport of that name builds here
				s.removeAll(a.Pkgname, RemovedArchExcluded)
				d := decided(a)
				d.Reason = fmt.Sprintf("arch=%q does not build for %s", strings.Join(a.Arches, " "), s.arch)
				s.plan.Excluded = append(s.plan.Excluded, d)
			}
			continue
		}
		due := dueNames(a, s.arch)
		if s.inBase(a, due) {
			// The base repository serves this version: the channel does
			// not hold it.
			s.removeAll(a.Pkgname, RemovedInBase)
			d := decided(a)
			d.Reason = "published by the base repository"
			s.plan.Counts.UpToDate++
			s.plan.UpToDate = append(s.plan.UpToDate, d)
			continue
		}
		s.removeStale(a.Pkgname, due)
		b := s.status(a, due)
		if b == nil {
			s.plan.Counts.UpToDate++
			s.plan.UpToDate = append(s.plan.UpToDate, decided(a))
			continue
		}
		if s.noarchAt[i] && s.arch != native {
			// Built on the native arch; copies() decides what happens here.
			s.noarch = append(s.noarch, pendingCopy{aport: i, b: b})
			continue
		}
		s.node[i] = len(s.nodes)
		s.nodes = append(s.nodes, &node{s: s, a: a, b: b, selected: true})
	}
	if s.pub == nil {
		return
	}
	for _, rec := range s.pub.Packages {
		if _, ok := s.byPkgname[rec.OriginOrName()]; !ok {
			s.plan.Removed = append(s.plan.Removed, &Removed{Name: rec.Name, Version: rec.Version,
				Origin: rec.OriginOrName(), Reason: RemovedOriginGone})
		}
	}
}

// inBase reports whether a channel's base repository publishes the aport
// at its tree version, with every package due on the arch.
func (s *archState) inBase(a *apkbuild.Aport, due []string) bool {
	if s.base == nil {
		return false
	}
	if s.baseBy == nil {
		s.baseBy = map[string][]*apk.Package{}
		for _, rec := range s.base.Packages {
			o := rec.OriginOrName()
			s.baseBy[o] = append(s.baseBy[o], rec)
		}
	}
	recs := s.baseBy[a.Pkgname]
	if len(recs) == 0 || publishedVersion(a.Pkgname, recs) != a.Version() {
		return false
	}
	for _, n := range due {
		if !published(recs, n) {
			return false
		}
	}
	return true
}

// status compares the aport with the published index: nil when up to date,
// else the build it needs.
func (s *archState) status(a *apkbuild.Aport, due []string) *Build {
	b := &Build{Pkgname: a.Pkgname, Path: a.Path, Version: a.Version(), Hash: a.Hash, Noarch: a.Noarch(), Depends: []string{},
		Packages: due, BuildDepends: []string{}, Net: a.HasOption("net"), Sources: remoteSources(a.Source)}
	recs := s.byOrigin[a.Pkgname]
	if len(recs) == 0 {
		b.Reason = ReasonNew
		return b
	}
	b.PublishedVersion = publishedVersion(a.Pkgname, recs)
	if b.PublishedVersion != b.Version {
		b.Reason = ReasonOutdated
		b.Downgrade = apk.CompareVersions(b.PublishedVersion, b.Version) > 0
		return b
	}
	for _, n := range due {
		if !published(recs, n) {
			b.MissingSubpackages = append(b.MissingSubpackages, n)
		}
	}
	if len(b.MissingSubpackages) == 0 {
		return nil
	}
	b.Reason = ReasonMissingSubpackage
	return b
}

// published reports whether recs has a package called name.
func published(recs []*apk.Package, name string) bool {
	for _, r := range recs {
		if r.Name == name {
			return true
		}
	}
	return false
}

// publishedVersion is the version of the origin's main package, or the
// highest of its packages when the main one is not published.
func publishedVersion(pkgname string, recs []*apk.Package) string {
	best := ""
	for _, r := range recs {
		if r.Name == pkgname {
			return r.Version
		}
		if best == "" || apk.CompareVersions(r.Version, best) > 0 {
			best = r.Version
		}
	}
	return best
}

func (s *archState) removeAll(origin, reason string) {
	for _, r := range s.byOrigin[origin] {
		s.plan.Removed = append(s.plan.Removed, &Removed{Name: r.Name, Version: r.Version, Origin: origin, Reason: reason})
	}
}

func (s *archState) removeStale(origin string, due []string) {
	for _, r := range s.byOrigin[origin] {
		if !contains(due, r.Name) {
			s.plan.Removed = append(s.plan.Removed, &Removed{Name: r.Name, Version: r.Version, Origin: origin, Reason: RemovedSubpackageGone})
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// resolveAll resolves the dependencies of every node, one goroutine per
// arch: an arch's name indexes and memo are its own, and what is read
// across arches (the native arch's nodes) no longer changes.
func (p *planner) resolveAll() {
	byArch := map[*archState][]int{}
	for id, n := range p.nodes {
		byArch[n.s] = append(byArch[n.s], id)
	}
	var wg sync.WaitGroup
	for _, ids := range byArch {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, id := range ids {
				p.resolveNode(id)
			}
		}()
	}
	wg.Wait()
}

// resolveNode turns the aport's build dependencies into edges, missing
// names and names assumed to come from upstream.
func (p *planner) resolveNode(id int) {
	n := p.nodes[id]
	names, err := buildDepends(n.a)
	if err != nil {
		n.block(BlockedBadDepend, fmt.Sprintf("%s/APKBUILD: %v", n.a.Path, err))
		return
	}
	n.b.BuildDepends = withoutOwn(names, n.a)
	var missing []string
	for _, name := range names {
		t := n.s.resolve(name)
		switch {
		case !t.found && p.in.Options.AssumeUpstream:
			n.b.AssumedUpstream = append(n.b.AssumedUpstream, name)
		case !t.found:
			missing = append(missing, name)
		case t.aport >= 0:
			if dep := n.s.aports[t.aport].Pkgname; dep != n.a.Pkgname && !slices.Contains(n.b.TreeDepends, dep) {
				n.b.TreeDepends = append(n.b.TreeDepends, dep)
			}
			to := p.nodeOf(n.s, t.aport)
			if to < 0 && n.s.noarchAt[t.aport] && n.s.arch != p.native && p.states[p.native] == nil &&
				!n.s.resolveIndexes(name) {
				// A noarch dependency this arch lacks, whose native arch
				// could not be planned.
				missing = append(missing, name)
				continue
			}
			if to < 0 || (to == id && n.s.resolveIndexes(name)) {
				continue // up to date, or a self-dependency the published repo satisfies
			}
			n.deps = append(n.deps, edge{to: to, name: name})
		}
	}
	if len(missing) > 0 {
		n.block(BlockedDepWait, "build dependencies found in no tree or index: "+strings.Join(missing, ", "))
		n.blocked.Missing = missing
	}
}

// nodeOf returns the build node of aport i of s: for a noarch aport, its
// node on the native arch. -1 when it is not built.
func (p *planner) nodeOf(s *archState, i int) int {
	if s.noarchAt[i] && s.arch != p.native {
		a := s.aports[i]
		ns := p.states[p.native]
		if ns == nil {
			return -1
		}
		j, ok := ns.byPath[a.Path]
		if !ok {
			return -1
		}
		return ns.node[j]
	}
	return s.node[i]
}

// resolve finds what provides a dependency name: the tree, then the
// published index, then the upstream indexes. A name an index resolves
// maps to its origin, which may be a tree aport.
func (s *archState) resolve(name string) target {
	if t, ok := s.resolved[name]; ok {
		return t
	}
	t := target{aport: -1}
	if pr, ok := s.treeNames().lookup(name); ok {
		t = target{found: true, aport: pr.aport}
	} else if rec := s.indexLookup(name); rec != nil {
		t.found = true
		if i, ok := s.byPkgname[rec.OriginOrName()]; ok && s.valid[i] {
			t.aport = i
		}
	}
	s.resolved[name] = t
	return t
}

// resolveIndexes reports whether the published or an upstream index
// provides name.
func (s *archState) resolveIndexes(name string) bool { return s.indexLookup(name) != nil }

func (s *archState) indexLookup(name string) *apk.Package {
	if pr, ok := s.published.lookup(name); ok {
		return pr.rec
	}
	for _, x := range s.upNames {
		if pr, ok := x.lookup(name); ok {
			return pr.rec
		}
	}
	return nil
}

// decided is the plan's entry for an aport it leaves alone.
func decided(a *apkbuild.Aport) *Decided {
	return &Decided{Pkgname: a.Pkgname, Path: a.Path, Version: a.Version(), Hash: a.Hash}
}

// withoutOwn drops the aport's own pkgname and subpackages from its build
// dependency names, as abuild does: they are what the build makes.
func withoutOwn(names []string, a *apkbuild.Aport) []string {
	out := make([]string, 0, len(names))
	for _, d := range names {
		if d == a.Pkgname || slices.ContainsFunc(a.Subpackages, func(sp apkbuild.Subpackage) bool { return sp.Name == d }) {
			continue
		}
		out = append(out, d)
	}
	return out
}

// block marks the node blocked for a reason, unless it already is.
func (n *node) block(reason, detail string) {
	if n.blocked != nil {
		return
	}
	n.blocked = &Blocked{Pkgname: n.a.Pkgname, Path: n.a.Path, Version: n.a.Version(), Reason: reason, Detail: detail}
}

// ref names node to for a build on arch: its pkgname, with its arch when
// that differs.
func (p *planner) ref(arch string, to int) string {
	m := p.nodes[to]
	if m.s.arch != arch {
		return m.s.arch + "/" + m.a.Pkgname
	}
	return m.a.Pkgname
}

// remoteSources are the file names abuild saves an aport's remote sources
// as in $SRCDEST: "name::url" gives name, a URL its last component.
func remoteSources(source []string) []string {
	var out []string
	for _, s := range source {
		name, uri, ok := strings.Cut(s, "::")
		if !ok {
			uri, name = s, path.Base(s)
		}
		if strings.HasPrefix(uri, "http://") || strings.HasPrefix(uri, "https://") || strings.HasPrefix(uri, "ftp://") {
			out = append(out, name)
		}
	}
	return out
}
