package main

import (
	"fmt"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apkfarm/apkfarm/runner/apkbuild"
	"github.com/apkfarm/apkfarm/runner/builder"
	"github.com/apkfarm/apkfarm/runner/plan"
)

// jobsFromPlan turns the plan's builds into build jobs. root is the
// tree's root, aports the scanned aports per arch, timeouts the per-pkgname
// time limits. A build's dependencies are the plan's as they are: pkgnames
// on its arch, "arch/pkgname" for a noarch aport built on another arch,
// whose packages the builder offers it once built. A build whose aport is
// not among the scanned ones is an error (the plan and the scan disagree).
func jobsFromPlan(p *plan.Plan, root string, aports map[string][]*apkbuild.Aport, timeouts map[string]time.Duration) ([]builder.Job, error) {
	var jobs []builder.Job
	for _, ap := range p.Arches {
		if ap.Error != "" {
			continue
		}
		byPath := map[string]*apkbuild.Aport{}
		for _, a := range aports[ap.Arch] {
			byPath[a.Path] = a
		}
		builds := slices.Clone(ap.Builds)
		slices.SortStableFunc(builds, func(a, b *plan.Build) int { return a.Batch - b.Batch })
		for _, b := range builds {
			a := byPath[b.Path]
			if a == nil {
				return nil, fmt.Errorf("make build jobs: %s %s: aport %q not in the scanned tree", ap.Arch, b.Pkgname, b.Path)
			}
			deps, err := plan.BuildDepends(a)
			if err != nil {
				return nil, fmt.Errorf("make build jobs: %s %s: %w", ap.Arch, b.Pkgname, err)
			}
			var jdeps []string
			if len(b.Depends) > 0 {
				jdeps = slices.Clone(b.Depends)
			}
			jobs = append(jobs, builder.Job{
				Arch: ap.Arch, Pkgname: b.Pkgname, Version: b.Version,
				Dir: filepath.Join(root, filepath.FromSlash(b.Path)), Repo: repoOf(b.Path), Hash: b.Hash,
				Batch: b.Batch, CriticalPath: b.CriticalPath,
				Deps:      jdeps,
				Packages:  plan.Packages(a, ap.Arch),
				BuildDeps: withoutOwn(deps, a),
				Net:       a.HasOption("net"),
				Timeout:   timeouts[b.Pkgname],
				Sources:   remoteSources(a.Source),
			})
		}
	}
	return jobs, nil
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

// remoteSources are the names abuild saves an aport's remote sources as in
// $SRCDEST: "name::url" gives name, a URL its last component.
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
