package plan

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/apkbuild"
)

// assertBatchesOrdered checks the plan's own consistency: each build's
// dependencies are builds of earlier batches, batch numbers run from 1 to
// Batches without gaps, copies follow their native build.
func assertBatchesOrdered(t *testing.T, p *Plan) {
	t.Helper()
	batch := map[string]int{}
	used := map[int]bool{}
	for _, ap := range p.Arches {
		for _, b := range ap.Builds {
			batch[ap.Arch+"/"+b.Pkgname] = b.Batch
			used[b.Batch] = true
		}
	}
	for _, ap := range p.Arches {
		for _, b := range ap.Builds {
			for _, d := range b.Depends {
				key := d
				if !bytes.ContainsRune([]byte(d), '/') {
					key = ap.Arch + "/" + d
				}
				db, ok := batch[key]
				if !ok || db >= b.Batch {
					t.Errorf("%s/%s (batch %d) depends on %s (batch %d, built %v)", ap.Arch, b.Pkgname, b.Batch, d, db, ok)
				}
			}
		}
		for _, c := range ap.Copies {
			if nb, ok := batch[c.From+"/"+c.Pkgname]; c.Batch != 0 && (!ok || nb != c.Batch) {
				t.Errorf("%s copy %s batch %d, native build batch %d", ap.Arch, c.Pkgname, c.Batch, nb)
			}
		}
	}
	for i := 1; i <= p.Batches; i++ {
		if !used[i] {
			t.Errorf("batch %d of %d is empty", i, p.Batches)
		}
	}
	if len(used) != p.Batches {
		t.Errorf("%d batches used, plan says %d", len(used), p.Batches)
	}
}

// randomTree makes n aports with random dependencies on each other
// (cycles possible), random subpackages and provides, and a published
// index where each aport is up to date, outdated or absent.
func randomTree(r *rand.Rand, n int) ([]*apkbuild.Aport, *apk.Index) {
	var aports []*apkbuild.Aport
	var pub []*apk.Package
	for i := range n {
		name := fmt.Sprintf("p%03d", i)
		a := mk(name, "1-r0")
		if r.IntN(3) == 0 {
			subs(name + "-dev")(a)
		}
		if r.IntN(5) == 0 {
			provides(fmt.Sprintf("v%d", r.IntN(5)))(a)
		}
		for range r.IntN(4) {
			j := r.IntN(n)
			if r.IntN(4) != 0 { // mostly downward, like a real tree
				j = r.IntN(i + 1)
			}
			dep := fmt.Sprintf("p%03d", j)
			switch r.IntN(4) {
			case 0:
				dep += "-dev" // may not exist: dep-wait
			case 1:
				dep = fmt.Sprintf("v%d", r.IntN(5))
			}
			makedeps(dep)(a)
		}
		aports = append(aports, a)
		switch r.IntN(3) {
		case 0:
			pub = append(pub, same(a)...)
		case 1:
			pub = append(pub, same(mk(name, "0.9-r0"))...)
		}
	}
	return aports, index(pub...)
}

// TestPropertyBatches: in random trees, every build depends only on builds
// of earlier batches or on up-to-date packages (checked from the inputs,
// not from the plan's own Depends), nothing is lost, and planning again
// (with the input in another order) gives the same bytes.
func TestPropertyBatches(t *testing.T) {
	for seed := range uint64(200) {
		r := rand.New(rand.NewPCG(seed, 7))
		aports, pub := randomTree(r, 5+r.IntN(40))
		in := Input{Arches: []string{"x86_64"}, Aports: tree([]string{"x86_64"}, aports...),
			Published: map[string]*apk.Index{"x86_64": pub}, Now: testNow, Options: Options{AssumeUpstream: true}}
		p, err := Compute(in)
		if err != nil {
			t.Fatalf("seed %d: %v", seed, err)
		}
		assertBatchesOrdered(t, p)
		ap := p.Arches[0]
		bs := builds(ap)
		c := ap.Counts
		if c.Builds+c.Blocked+c.UpToDate != len(aports) {
			t.Errorf("seed %d: counts %+v do not add up to %d aports", seed, c, len(aports))
		}
		// Every aport has exactly one decision listed.
		listed := map[string]int{}
		for _, b := range ap.Builds {
			listed[b.Pkgname]++
		}
		for _, b := range ap.Blocked {
			listed[b.Pkgname]++
		}
		for _, l := range [][]*Decided{ap.UpToDate, ap.Excluded, ap.NotSelected} {
			for _, d := range l {
				listed[d.Pkgname]++
			}
		}
		for _, a := range aports {
			if listed[a.Pkgname] != 1 {
				t.Errorf("seed %d: aport %s listed %d times in the plan, want once", seed, a.Pkgname, listed[a.Pkgname])
			}
		}
		if len(ap.UpToDate) != c.UpToDate {
			t.Errorf("seed %d: %d up-to-date listed, counted %d", seed, len(ap.UpToDate), c.UpToDate)
		}
		// Independent check: resolve each build's makedepends by hand.
		byName := map[string]*apkbuild.Aport{}
		providers := map[string][]*apkbuild.Aport{}
		for _, a := range aports {
			byName[a.Pkgname] = a
			for _, sp := range a.Subpackages {
				byName[sp.Name] = a
			}
			for _, pv := range a.Provides {
				providers[pv] = append(providers[pv], a)
			}
		}
		for _, b := range ap.Builds {
			for _, dep := range byName[b.Pkgname].Makedepends {
				cands := providers[dep]
				if a, ok := byName[dep]; ok {
					cands = []*apkbuild.Aport{a}
				}
				for _, a := range cands {
					if a.Pkgname == b.Pkgname {
						continue
					}
					db, building := bs[a.Pkgname]
					if building && db.Batch >= b.Batch && len(cands) == 1 {
						t.Errorf("seed %d: %s@%d needs %s@%d", seed, b.Pkgname, b.Batch, a.Pkgname, db.Batch)
					}
					if !building && len(cands) == 1 && blocked(ap)[a.Pkgname] != nil {
						t.Errorf("seed %d: %s is built though its dependency %s is blocked", seed, b.Pkgname, a.Pkgname)
					}
				}
			}
		}
		// Same input in another order: same plan.
		shuffled := append([]*apkbuild.Aport(nil), aports...)
		r.Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
		in.Aports = tree([]string{"x86_64"}, shuffled...)
		p2, err := Compute(in)
		if err != nil {
			t.Fatal(err)
		}
		if a, b := mustJSON(t, p), mustJSON(t, p2); !bytes.Equal(a, b) {
			t.Fatalf("seed %d: plans differ with the input in another order:\n%s\n---\n%s", seed, a, b)
		}
	}
}

// TestSecondPlanIdentical: planning twice over an unchanged tree and repo
// gives the same bytes, and once the builds are published (the plan
// carried out) the next plan builds nothing.
func TestSecondPlanIdentical(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	aports, pub := randomTree(r, 60)
	in := Input{Arches: []string{"x86_64"}, Aports: tree([]string{"x86_64"}, aports...),
		Published: map[string]*apk.Index{"x86_64": pub}, Now: testNow, Options: Options{AssumeUpstream: true}}
	first, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	second, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := mustJSON(t, first), mustJSON(t, second); !bytes.Equal(a, b) {
		t.Fatalf("second plan differs:\n%s\n---\n%s", a, b)
	}
	if len(first.Arches[0].Builds) == 0 {
		t.Fatal("the random tree needs builds for this test to mean anything")
	}
	// Carry the plan out: publish every build at its version.
	byName := map[string]*apkbuild.Aport{}
	for _, a := range aports {
		byName[a.Pkgname] = a
	}
	built := map[string]bool{}
	var recs []*apk.Package
	for _, b := range first.Arches[0].Builds {
		built[b.Pkgname] = true
		recs = append(recs, same(byName[b.Pkgname])...)
	}
	for _, rc := range pub.Packages {
		if !built[rc.OriginOrName()] {
			recs = append(recs, rc)
		}
	}
	in.Published["x86_64"] = index(recs...)
	in.Now = in.Now.Add(time.Hour)
	third, err := Compute(in)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(third.Arches[0].Builds); n != 0 {
		t.Errorf("after publishing the plan, %d builds remain: %s", n, batches(third.Arches[0]))
	}
	if got, want := len(third.Arches[0].Blocked), len(first.Arches[0].Blocked); got != want {
		t.Errorf("blocked after publishing = %d, want the same %d", got, want)
	}
}
