package main

import (
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/apkfarm/apkfarm/runner/builder"
	"github.com/apkfarm/apkfarm/runner/plan"
)

// jobsFromPlan turns the plan's builds into build jobs: the plan carries
// each build's whole spec, so nothing is looked up again. root is the
// tree's root, timeouts the per-pkgname time limits. A build's
// dependencies are the plan's as they are: pkgnames on its arch,
// "arch/pkgname" for a noarch aport built on another arch, whose packages
// the builder offers it once built.
func jobsFromPlan(p *plan.Plan, root string, timeouts map[string]time.Duration) []builder.Job {
	var jobs []builder.Job
	for _, ap := range p.Arches {
		if ap.Error != "" {
			continue
		}
		builds := slices.Clone(ap.Builds)
		slices.SortStableFunc(builds, func(a, b *plan.Build) int { return a.Batch - b.Batch })
		for _, b := range builds {
			jobs = append(jobs, builder.Job{
				Arch: ap.Arch, Pkgname: b.Pkgname, Version: b.Version,
				Dir: filepath.Join(root, filepath.FromSlash(b.Path)), Repo: repoOf(b.Path), Hash: b.Hash,
				Batch: b.Batch, CriticalPath: b.CriticalPath,
				Deps:      slices.Clone(b.Depends),
				Packages:  slices.Clone(b.Packages),
				BuildDeps: slices.Clone(b.BuildDepends),
				Net:       b.Net,
				Timeout:   timeouts[b.Pkgname],
				Sources:   slices.Clone(b.Sources),
			})
		}
	}
	return jobs
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
