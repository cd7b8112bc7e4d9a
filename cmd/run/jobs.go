package main

import (
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apkfarm/apkfarm/runner/apkbuild"
	"github.com/apkfarm/apkfarm/runner/build"
	"github.com/apkfarm/apkfarm/runner/plan"
)

// held is a planned build that is not handed to the builder in this run:
// it needs a package built in this run on another arch (a noarch aport
// built on the native arch), which the builder of an arch cannot install,
// or it needs another held build.
type held struct {
	arch, pkgname, version, path, hash string
	reason                             string
}

// jobsFromPlan turns the plan's builds into build jobs. root is the
// tree's root, aports the scanned aports per arch, timeouts the per-pkgname
// time limits. A build whose aport is not among the scanned ones is an
// error (the plan and the scan disagree).
func jobsFromPlan(p *plan.Plan, root string, aports map[string][]*apkbuild.Aport, timeouts map[string]time.Duration) ([]build.Job, []held, error) {
	var jobs []build.Job
	var holds []held
	for _, ap := range p.Arches {
		if ap.Error != "" {
			continue
		}
		byPath := map[string]*apkbuild.Aport{}
		for _, a := range aports[ap.Arch] {
			byPath[a.Path] = a
		}
		heldHere := map[string]string{} // pkgname → why
		builds := slices.Clone(ap.Builds)
		slices.SortStableFunc(builds, func(a, b *plan.Build) int { return a.Batch - b.Batch })
		for _, b := range builds {
			a := byPath[b.Path]
			if a == nil {
				return nil, nil, fmt.Errorf("make build jobs: %s %s: aport %q not in the scanned tree", ap.Arch, b.Pkgname, b.Path)
			}
			deps, err := plan.BuildDepends(a)
			if err != nil {
				return nil, nil, fmt.Errorf("make build jobs: %s %s: %w", ap.Arch, b.Pkgname, err)
			}
			j := build.Job{
				Arch: ap.Arch, Pkgname: b.Pkgname, Version: b.Version,
				Dir: filepath.Join(root, filepath.FromSlash(b.Path)), Repo: repoOf(b.Path), Hash: b.Hash,
				Batch: b.Batch, CriticalPath: b.CriticalPath,
				Packages:  plan.Packages(a, ap.Arch),
				BuildDeps: withoutOwn(deps, a),
				Net:       a.HasOption("net"),
				Timeout:   timeouts[b.Pkgname],
			}
			why := ""
			for _, d := range b.Depends {
				if strings.Contains(d, "/") {
					why = fmt.Sprintf("needs %s, built in this run on another arch; it is built here once that is published", d)
					break
				}
				if heldHere[d] != "" {
					why = fmt.Sprintf("needs %s, which waits: %s", d, heldHere[d])
					break
				}
				j.Deps = append(j.Deps, d)
			}
			if why != "" {
				heldHere[b.Pkgname] = why
				holds = append(holds, held{arch: ap.Arch, pkgname: b.Pkgname, version: b.Version, path: b.Path, hash: b.Hash, reason: why})
				continue
			}
			jobs = append(jobs, j)
		}
	}
	return jobs, holds, nil
}

// repoOf is the repository an aport path is in, as abuild sees it: the
// name of the aport directory's parent ("main/hello" → "main",
// "device/testing/device-x" → "testing"); "" (build's default, main) for
// an aport at the tree's root.
func repoOf(p string) string {
	d := path.Dir(p)
	if d == "." || d == "/" {
		return ""
	}
	return path.Base(d)
}

// withoutOwn drops the aport's own pkgname and subpackages from its build
// dependencies, as abuild does: they are what the build makes.
func withoutOwn(deps []string, a *apkbuild.Aport) []string {
	own := map[string]bool{a.Pkgname: true}
	for _, sp := range a.Subpackages {
		own[sp.Name] = true
	}
	out := []string{}
	for _, d := range deps {
		if !own[d] {
			out = append(out, d)
		}
	}
	return out
}
