package plan

import (
	"fmt"
	"sort"

	"github.com/apkfarm/apkfarm/runner/apkbuild"
)

// pendingCopy is a noarch aport that is not up to date on a non-native
// arch.
type pendingCopy struct {
	aport int
	b     *Build
}

// copies decides, for each noarch aport out of date on a non-native arch,
// whether its native build (or the native repo) supplies it.
func (p *planner) copies() {
	ns := p.states[p.native]
	for _, arch := range p.archOrder() {
		s := p.states[arch]
		for _, pc := range s.noarch {
			a := s.aports[pc.aport]
			c := &Copy{Pkgname: a.Pkgname, Version: pc.b.Version, PublishedVersion: pc.b.PublishedVersion, From: p.native}
			why, waits := "", []string(nil)
			j, ok := -1, false
			if ns != nil {
				j, ok = ns.byPath[a.Path]
			}
			switch {
			case ns == nil:
				why = fmt.Sprintf("noarch: built on %s, which could not be planned", p.native)
			case !ok || !ns.valid[j]:
				why = fmt.Sprintf("noarch: built on %s, where %s is missing, invalid or excluded", p.native, a.Path)
			case ns.node[j] < 0: // published on the native arch already
				if p.want != nil && !p.want[a.Pkgname] {
					s.plan.skip(a)
					continue
				}
			default:
				m := p.nodes[ns.node[j]]
				if !m.selected {
					s.plan.skip(a)
					continue
				}
				if m.blocked != nil {
					waits = []string{p.ref(arch, ns.node[j])}
					why = fmt.Sprintf("noarch: its build on %s is blocked (%s)", p.native, m.blocked.Reason)
				} else {
					c.Batch = m.b.Batch
				}
			}
			if why != "" {
				s.plan.Blocked = append(s.plan.Blocked, &Blocked{Pkgname: a.Pkgname, Path: a.Path,
					Version: a.Version(), Reason: BlockedNoarch, Detail: why, WaitsFor: waits})
				continue
			}
			s.plan.Copies = append(s.plan.Copies, c)
		}
	}
}

// skip records an aport --only left out.
func (ap *ArchPlan) skip(a *apkbuild.Aport) {
	if ap.notSelected == nil {
		ap.notSelected = map[string]bool{}
	}
	ap.notSelected[a.Pkgname] = true
	ap.NotSelected = append(ap.NotSelected, decided(a))
	ap.Counts.NotSelected++
}

// emit files every node into its arch's plan, sorts each list and counts.
func (p *planner) emit() {
	for _, n := range p.nodes {
		ap := n.s.plan
		switch {
		case !n.selected:
			ap.skip(n.a)
		case n.blocked != nil:
			ap.Blocked = append(ap.Blocked, n.blocked)
		default:
			for _, e := range n.deps {
				n.b.Depends = append(n.b.Depends, p.ref(n.s.arch, e.to))
			}
			n.b.Depends = sortUnique(n.b.Depends)
			ap.Builds = append(ap.Builds, n.b)
		}
	}
	for _, s := range p.states {
		ap := s.plan
		ap.aports = s.aports
		sort.Slice(ap.Builds, func(i, j int) bool {
			a, b := ap.Builds[i], ap.Builds[j]
			if a.Batch != b.Batch {
				return a.Batch < b.Batch
			}
			if a.CriticalPath != b.CriticalPath {
				return a.CriticalPath > b.CriticalPath
			}
			return a.Pkgname < b.Pkgname
		})
		sort.Slice(ap.Blocked, func(i, j int) bool { return ap.Blocked[i].Pkgname < ap.Blocked[j].Pkgname })
		sort.Slice(ap.Copies, func(i, j int) bool { return ap.Copies[i].Pkgname < ap.Copies[j].Pkgname })
		sort.Slice(ap.Removed, func(i, j int) bool {
			a, b := ap.Removed[i], ap.Removed[j]
			if a.Name != b.Name {
				return a.Name < b.Name
			}
			return a.Version < b.Version
		})
		sort.Slice(ap.Cycles, func(i, j int) bool { return ap.Cycles[i].Path < ap.Cycles[j].Path })
		for _, l := range [][]*Decided{ap.UpToDate, ap.Excluded, ap.NotSelected} {
			sort.Slice(l, func(i, j int) bool { return l[i].Pkgname < l[j].Pkgname })
		}
		ap.Counts.Builds = len(ap.Builds)
		ap.Counts.Copies = len(ap.Copies)
		ap.Counts.Blocked = len(ap.Blocked)
		ap.Counts.Removed = len(ap.Removed)
	}
}
