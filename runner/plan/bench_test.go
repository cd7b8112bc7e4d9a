package plan

import (
	"fmt"
	"math/rand/v2"
	"syscall"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/apkbuild"
)

// benchInput is a tree of n aports on three arches against published
// indexes of about 20,000 records each and an upstream index of 20,000:
// each aport has a -dev subpackage one time in three, five build
// dependencies on earlier aports (names, subpackages, so: and cmd: names
// the index maps to origins) and one upstream dependency. changed out of
// every 1000 aports are out of date.
func benchInput(n, changed int) Input {
	r := rand.New(rand.NewPCG(42, 42))
	archList := []string{"x86_64", "aarch64", "armv7"}
	aports := make([]*apkbuild.Aport, n)
	var pub, up []*apk.Package
	for i := range n {
		name := fmt.Sprintf("p%05d", i)
		a := &apkbuild.Aport{Path: "main/" + name, Hash: name, Pkgname: name, Pkgver: "1.0", Pkgrel: "0",
			Arches: []string{"all"}, Applies: true}
		if i%3 == 0 {
			a.Subpackages = []apkbuild.Subpackage{{Name: name + "-dev"}}
		}
		if i%50 == 1 {
			a.Arches = []string{"noarch"}
		}
		for k := range 5 {
			if i == 0 {
				break
			}
			j := r.IntN(i)
			switch k {
			case 0:
				a.Makedepends = append(a.Makedepends, fmt.Sprintf("so:libp%05d.so.1", j))
			case 1:
				a.Makedepends = append(a.Makedepends, fmt.Sprintf("cmd:p%05d", j))
			case 2:
				a.Depends = append(a.Depends, fmt.Sprintf("p%05d>=1.0", j))
			default:
				a.Makedepends = append(a.Makedepends, fmt.Sprintf("p%05d", j/3*3)+"-dev")
			}
		}
		a.Makedepends = append(a.Makedepends, fmt.Sprintf("u%05d", r.IntN(20000)))
		aports[i] = a
		ver := a.Version()
		if r.IntN(1000) < changed {
			ver = "0.9-r0"
		}
		pub = append(pub, &apk.Package{Name: name, Version: ver, Origin: name,
			Provides: []string{fmt.Sprintf("so:libp%05d.so.1=1", i), fmt.Sprintf("cmd:p%05d=1", i)}})
		for _, sp := range a.Subpackages {
			pub = append(pub, &apk.Package{Name: sp.Name, Version: ver, Origin: name,
				Provides: []string{fmt.Sprintf("pc:p%05d=1", i)}})
		}
	}
	for i := range 20000 {
		up = append(up, &apk.Package{Name: fmt.Sprintf("u%05d", i), Version: "1-r0",
			Provides: []string{fmt.Sprintf("so:libu%05d.so.1=1", i), fmt.Sprintf("cmd:u%05d=1", i)}})
	}
	in := Input{Arches: archList, Aports: map[string][]*apkbuild.Aport{}, Published: map[string]*apk.Index{},
		Upstream: map[string][]*apk.Index{}, Now: testNow}
	for _, arch := range archList {
		in.Aports[arch] = aports
		in.Published[arch] = &apk.Index{Packages: pub}
		in.Upstream[arch] = []*apk.Index{{Packages: up}}
	}
	return in
}

// BenchmarkCompute plans 15,000 aports × 3 arches (the tree already read).
func BenchmarkCompute(b *testing.B) {
	for _, bc := range []struct {
		name    string
		changed int
	}{{"unchanged", 0}, {"1%-outdated", 10}, {"all-outdated", 1000}} {
		in := benchInput(15000, bc.changed)
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			var p *Plan
			start := cpuTime(b)
			for b.Loop() {
				var err error
				if p, err = Compute(in); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64((cpuTime(b)-start).Milliseconds())/float64(b.N), "cpu-ms/op")
			b.ReportMetric(float64(p.Arches[0].Counts.Builds), "builds/arch")
			b.ReportMetric(float64(p.Batches), "batches")
		})
	}
}

// cpuTime is the process's CPU time (user + system): per operation it is
// disturbed less than wall time by other load on a shared machine.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
