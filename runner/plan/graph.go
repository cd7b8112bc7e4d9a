package plan

import (
	"fmt"
	"sort"
	"strings"
	"time"
)

// selectOnly applies Options.Only and WithDeps: nodes outside the
// selection are not built, and an edge to one is dropped when the
// published repo already provides the name, else it blocks.
func (p *planner) selectOnly() error {
	if len(p.in.Options.Only) == 0 {
		return nil
	}
	want, err := p.wanted()
	if err != nil {
		return err
	}
	var queue []int
	for id, n := range p.nodes {
		n.selected = want[n.a.Pkgname]
		if n.selected {
			queue = append(queue, id)
		}
	}
	if p.in.Options.WithDeps {
		for len(queue) > 0 {
			n := p.nodes[queue[0]]
			queue = queue[1:]
			for _, e := range n.deps {
				if m := p.nodes[e.to]; !m.selected {
					m.selected = true
					queue = append(queue, e.to)
				}
			}
		}
	}
	for _, n := range p.nodes {
		if !n.selected {
			continue
		}
		kept := n.deps[:0]
		var waits []string
		for _, e := range n.deps {
			switch {
			case p.nodes[e.to].selected:
				kept = append(kept, e)
			case !n.s.resolveIndexes(e.name):
				waits = append(waits, p.ref(n.s.arch, e.to))
			}
		}
		n.deps = kept
		if len(waits) > 0 && n.blocked == nil {
			waits = sortUnique(waits)
			n.block(BlockedNotSelected, "needs unpublished builds that --only left out: "+
				strings.Join(waits, ", ")+" (add them to --only, or use --with-deps)")
			n.blocked.WaitsFor = waits
		}
	}
	return nil
}

// wanted maps the --only names to the pkgnames of their aports, in any
// arch's tree.
func (p *planner) wanted() (map[string]bool, error) {
	origin := map[string]string{}
	for _, arch := range p.archOrder() {
		for _, a := range p.states[arch].aports {
			if _, ok := origin[a.Pkgname]; !ok {
				origin[a.Pkgname] = a.Pkgname
			}
		}
	}
	for _, arch := range p.archOrder() {
		for _, a := range p.states[arch].aports {
			for _, sp := range a.Subpackages {
				if _, ok := origin[sp.Name]; !ok {
					origin[sp.Name] = a.Pkgname
				}
			}
		}
	}
	want := map[string]bool{}
	var unknown []string
	for _, name := range p.in.Options.Only {
		o, ok := origin[name]
		if !ok {
			unknown = append(unknown, fmt.Sprintf("%q", name))
			continue
		}
		want[o] = true
	}
	if len(unknown) > 0 {
		return nil, fmt.Errorf("select aports: %s: no aport or subpackage of that name in the tree", strings.Join(unknown, ", "))
	}
	p.want = want
	return want, nil
}

// holdFailures blocks aports that failed at this version and APKBUILD hash
// until their next retry is due, and marks the retries.
func (p *planner) holdFailures() {
	delays := p.in.Options.RetryDelays
	for _, n := range p.nodes {
		if !n.selected || n.blocked != nil {
			continue
		}
		f, ok := p.in.Failures[FailureKey{Arch: n.s.arch, Pkgname: n.a.Pkgname}]
		if !ok || f.Attempts < 1 || f.Version != n.b.Version || f.Hash != n.a.Hash {
			continue
		}
		if f.Attempts <= len(delays) {
			due := f.Last.Add(delays[f.Attempts-1]).UTC()
			if !p.in.Now.Before(due) {
				n.b.Attempt = f.Attempts + 1
				continue
			}
			n.block(BlockedFailed, fmt.Sprintf("failed %d time(s) at %s; next retry at %s",
				f.Attempts, f.Version, due.Format(time.RFC3339)))
			n.blocked.RetryAt = &due
			continue
		}
		n.block(BlockedFailed, fmt.Sprintf("failed %d time(s) at %s; no retry left: held until the APKBUILD changes",
			f.Attempts, f.Version))
	}
}

// cycles finds the strongly connected components among selected nodes
// (Tarjan). A component with more than one member, or one that depends on
// itself, is a cycle: a bootstrap order covering all its members breaks it,
// else its members are blocked.
func (p *planner) cycles() {
	for _, scc := range p.sccs() {
		if len(scc) == 1 && !p.selfLoop(scc[0]) {
			continue
		}
		sort.Slice(scc, func(i, j int) bool { return p.less(scc[i], scc[j]) })
		first := p.nodes[scc[0]]
		c := &Cycle{Path: p.cyclePath(scc)}
		for _, id := range scc {
			c.Members = append(c.Members, p.ref(first.s.arch, id))
		}
		if order := p.bootstrapOrder(scc); order != nil {
			c.Bootstrap = true
			p.breakCycle(scc, order)
		} else {
			for _, id := range scc {
				n := p.nodes[id]
				n.block(BlockedCycle, "dependency cycle "+c.Path+
					": list a build order for it in plan.bootstrap to break it")
				if n.blocked.Reason == BlockedCycle {
					n.blocked.Cycle = c.Path
				}
			}
		}
		first.s.plan.Cycles = append(first.s.plan.Cycles, c)
	}
}

func (p *planner) selfLoop(id int) bool {
	for _, e := range p.nodes[id].deps {
		if e.to == id {
			return true
		}
	}
	return false
}

// less orders nodes by arch then pkgname.
func (p *planner) less(a, b int) bool {
	na, nb := p.nodes[a], p.nodes[b]
	if na.s.arch != nb.s.arch {
		return na.s.arch < nb.s.arch
	}
	return na.a.Pkgname < nb.a.Pkgname
}

// sccs returns the strongly connected components of the selected nodes.
func (p *planner) sccs() [][]int {
	index := make([]int, len(p.nodes))
	low := make([]int, len(p.nodes))
	on := make([]bool, len(p.nodes))
	for i := range index {
		index[i] = -1
	}
	var stack []int
	var out [][]int
	next := 0
	var visit func(v int)
	visit = func(v int) {
		index[v], low[v] = next, next
		next++
		stack = append(stack, v)
		on[v] = true
		for _, e := range p.nodes[v].deps {
			w := e.to
			if index[w] < 0 {
				visit(w)
				low[v] = min(low[v], low[w])
			} else if on[w] {
				low[v] = min(low[v], index[w])
			}
		}
		if low[v] == index[v] {
			var scc []int
			for {
				w := stack[len(stack)-1]
				stack = stack[:len(stack)-1]
				on[w] = false
				scc = append(scc, w)
				if w == v {
					break
				}
			}
			out = append(out, scc)
		}
	}
	for v, n := range p.nodes {
		if n.selected && index[v] < 0 {
			visit(v)
		}
	}
	return out
}

// cyclePath writes out the shortest cycle through the component's first
// member: "a → b → a".
func (p *planner) cyclePath(scc []int) string {
	in := map[int]bool{}
	for _, id := range scc {
		in[id] = true
	}
	start := scc[0]
	arch := p.nodes[start].s.arch
	prev := map[int]int{}
	queue := []int{start}
	end := -1
	for len(queue) > 0 && end < 0 {
		v := queue[0]
		queue = queue[1:]
		deps := append([]edge(nil), p.nodes[v].deps...)
		sort.Slice(deps, func(i, j int) bool { return p.less(deps[i].to, deps[j].to) })
		for _, e := range deps {
			if !in[e.to] {
				continue
			}
			if e.to == start {
				end = v
				break
			}
			if _, seen := prev[e.to]; !seen {
				prev[e.to] = v
				queue = append(queue, e.to)
			}
		}
	}
	path := []string{p.ref(arch, start)}
	for v := end; v != start; v = prev[v] {
		path = append(path, p.ref(arch, v))
	}
	// path is start, then the cycle backwards; reverse all but the start.
	for i, j := 1, len(path)-1; i < j; i, j = i+1, j-1 {
		path[i], path[j] = path[j], path[i]
	}
	return strings.Join(append(path, path[0]), " → ")
}

// bootstrapOrder returns the configured order that names every member of
// the component, as positions by node, or nil.
func (p *planner) bootstrapOrder(scc []int) map[int]int {
	for _, order := range p.in.Options.Bootstrap {
		pos := map[int]int{}
		for _, id := range scc {
			for k, name := range order {
				if name == p.nodes[id].a.Pkgname {
					pos[id] = k
				}
			}
		}
		if len(pos) == len(scc) {
			return pos
		}
	}
	return nil
}

// breakCycle keeps, inside the component, only the edges to members
// earlier in the bootstrap order.
func (p *planner) breakCycle(scc []int, pos map[int]int) {
	for _, id := range scc {
		n := p.nodes[id]
		kept := n.deps[:0]
		for _, e := range n.deps {
			if k, in := pos[e.to]; !in || k < pos[id] {
				kept = append(kept, e)
			}
		}
		n.deps = kept
	}
}

// propagate blocks every selected node that depends, directly or not, on a
// blocked one, and says which of its dependencies are blocked.
func (p *planner) propagate() {
	var queue []int
	for id, n := range p.nodes {
		if !n.selected {
			continue
		}
		for _, e := range n.deps {
			p.nodes[e.to].rdeps = append(p.nodes[e.to].rdeps, id)
		}
		if n.blocked != nil {
			queue = append(queue, id)
		}
	}
	for len(queue) > 0 {
		n := p.nodes[queue[0]]
		queue = queue[1:]
		for _, d := range n.rdeps {
			if m := p.nodes[d]; m.blocked == nil {
				m.block(BlockedDep, "")
				queue = append(queue, d)
			}
		}
	}
	for _, n := range p.nodes {
		if !n.selected || n.blocked == nil || n.blocked.Reason != BlockedDep {
			continue
		}
		for _, e := range n.deps {
			if p.nodes[e.to].blocked != nil {
				n.blocked.WaitsFor = append(n.blocked.WaitsFor, p.ref(n.s.arch, e.to))
			}
		}
		n.blocked.WaitsFor = sortUnique(n.blocked.WaitsFor)
		n.blocked.Detail = "waits for blocked builds: " + strings.Join(n.blocked.WaitsFor, ", ")
	}
}

func (n *node) active() bool { return n.selected && n.blocked == nil }

// layer gives each active node its batch (1 + the highest batch of its
// dependencies) and critical path (1 + the longest critical path among
// the nodes that depend on it). It returns the number of batches.
func (p *planner) layer() int {
	var batch func(id int) int
	batch = func(id int) int {
		n := p.nodes[id]
		if n.b.Batch > 0 {
			return n.b.Batch
		}
		b := 1
		for _, e := range n.deps {
			b = max(b, batch(e.to)+1)
		}
		n.b.Batch = b
		return b
	}
	var active []int
	batches := 0
	for id, n := range p.nodes {
		if n.active() {
			active = append(active, id)
			batches = max(batches, batch(id))
		}
	}
	sort.Slice(active, func(i, j int) bool { return p.nodes[active[i]].b.Batch > p.nodes[active[j]].b.Batch })
	for _, id := range active {
		n := p.nodes[id]
		c := 1
		for _, d := range n.rdeps {
			if m := p.nodes[d]; m.active() {
				c = max(c, m.b.CriticalPath+1)
			}
		}
		n.b.CriticalPath = c
	}
	return batches
}

func sortUnique(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}
