package main

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/apkbuild"
	"github.com/apkfarm/apkfarm/runner/builder"
	"github.com/apkfarm/apkfarm/runner/plan"
)

func TestJobsFromPlan(t *testing.T) {
	hello := &apkbuild.Aport{Path: "main/hello", Pkgname: "hello", Pkgver: "2.12", Pkgrel: "1",
		Depends:      []string{"so:libc.musl-x86_64.so.1"},
		Makedepends:  []string{"libgreet-dev>=1.1", "!conflicting", "hello-dev"},
		Checkdepends: []string{"bats"},
		Options:      []string{"net", "!check"},
		Subpackages:  []apkbuild.Subpackage{{Name: "hello-dev"}, {Name: "hello-x86", Arches: []string{"x86"}}},
	}
	device := &apkbuild.Aport{Path: "device/testing/device-x", Pkgname: "device-x", Pkgver: "1", Pkgrel: "0",
		Checkdepends: []string{"bats"}}
	data := &apkbuild.Aport{Path: "main/greet-data", Pkgname: "greet-data", Pkgver: "3", Pkgrel: "0", Arches: []string{"noarch"}}
	user := &apkbuild.Aport{Path: "main/uses-data", Pkgname: "uses-data", Pkgver: "1", Pkgrel: "0", Makedepends: []string{"greet-data"}}
	after := &apkbuild.Aport{Path: "main/after", Pkgname: "after", Pkgver: "1", Pkgrel: "0", Makedepends: []string{"uses-data"}}
	aports := map[string][]*apkbuild.Aport{"x86_64": {hello, device, data}, "aarch64": {hello, user, after}}
	bld := func(a *apkbuild.Aport, batch int, deps ...string) *plan.Build {
		return &plan.Build{Pkgname: a.Pkgname, Path: a.Path, Version: a.Version(), Hash: "h-" + a.Pkgname, Batch: batch, CriticalPath: 3 - batch, Depends: deps}
	}
	tests := []struct {
		name string
		plan *plan.Plan
		want []builder.Job
		err  string
	}{
		{
			name: "packages due on the arch, dependencies as the planner resolves them less the aport's own, net, timeout, repo",
			plan: &plan.Plan{Arches: []*plan.ArchPlan{{Arch: "x86_64", Builds: []*plan.Build{bld(hello, 2, "device-x"), bld(device, 1)}}}},
			want: []builder.Job{
				{Arch: "x86_64", Pkgname: "device-x", Version: "1-r0", Dir: "/tree/device/testing/device-x", Repo: "testing", Hash: "h-device-x",
					Batch: 1, CriticalPath: 2, Packages: []string{"device-x"}, BuildDeps: []string{"bats"}},
				{Arch: "x86_64", Pkgname: "hello", Version: "2.12-r1", Dir: "/tree/main/hello", Repo: "main", Hash: "h-hello",
					Batch: 2, CriticalPath: 1, Deps: []string{"device-x"}, Packages: []string{"hello", "hello-dev"},
					BuildDeps: []string{"so:libc.musl-x86_64.so.1", "libgreet-dev"}, Net: true, Timeout: 6 * time.Hour},
			},
		},
		{
			name: "a build needing a noarch package built on another arch depends on that arch's job",
			plan: &plan.Plan{Arches: []*plan.ArchPlan{
				{Arch: "x86_64", Builds: []*plan.Build{bld(data, 1)}},
				{Arch: "aarch64", Builds: []*plan.Build{bld(after, 3, "uses-data"), bld(user, 2, "x86_64/greet-data"), bld(hello, 1)}},
			}},
			want: []builder.Job{
				{Arch: "x86_64", Pkgname: "greet-data", Version: "3-r0", Dir: "/tree/main/greet-data", Repo: "main", Hash: "h-greet-data",
					Batch: 1, CriticalPath: 2, Packages: []string{"greet-data"}, BuildDeps: []string{}},
				{Arch: "aarch64", Pkgname: "hello", Version: "2.12-r1", Dir: "/tree/main/hello", Repo: "main", Hash: "h-hello",
					Batch: 1, CriticalPath: 2, Packages: []string{"hello", "hello-dev"},
					BuildDeps: []string{"so:libc.musl-x86_64.so.1", "libgreet-dev"}, Net: true, Timeout: 6 * time.Hour},
				{Arch: "aarch64", Pkgname: "uses-data", Version: "1-r0", Dir: "/tree/main/uses-data", Repo: "main", Hash: "h-uses-data",
					Batch: 2, CriticalPath: 1, Deps: []string{"x86_64/greet-data"}, Packages: []string{"uses-data"}, BuildDeps: []string{"greet-data"}},
				{Arch: "aarch64", Pkgname: "after", Version: "1-r0", Dir: "/tree/main/after", Repo: "main", Hash: "h-after",
					Batch: 3, CriticalPath: 0, Deps: []string{"uses-data"}, Packages: []string{"after"}, BuildDeps: []string{"uses-data"}},
			},
		},
		{
			name: "an arch whose inputs failed has no jobs",
			plan: &plan.Plan{Arches: []*plan.ArchPlan{{Arch: "x86_64", Error: "load published index: 500", Builds: []*plan.Build{bld(hello, 1)}}}},
		},
		{
			name: "a build the scan does not know",
			plan: &plan.Plan{Arches: []*plan.ArchPlan{{Arch: "aarch64", Builds: []*plan.Build{bld(device, 1)}}}},
			err:  `aarch64 device-x: aport "device/testing/device-x" not in the scanned tree`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			jobs, err := jobsFromPlan(tt.plan, "/tree", aports, map[string]time.Duration{"hello": 6 * time.Hour})
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err = %v, want %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(jobs, tt.want) {
				t.Errorf("jobs:\n got %+v\nwant %+v", jobs, tt.want)
			}
		})
	}
}

func TestRepoOf(t *testing.T) {
	for in, want := range map[string]string{"main/hello": "main", "device/testing/device-x": "testing", "hello": ""} {
		if got := repoOf(in); got != want {
			t.Errorf("repoOf(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRemoteSources(t *testing.T) {
	got := remoteSources([]string{"hello-2.12.tar.gz::https://ftp.gnu.org/gnu/hello/hello-2.12.tar.gz",
		"https://example.org/dl/x-1.0.tar.xz", "0001-fix.patch", "ftp://ftp.example.org/y.tgz", "local/file.initd"})
	if want := []string{"hello-2.12.tar.gz", "x-1.0.tar.xz", "y.tgz"}; !slices.Equal(got, want) {
		t.Errorf("remoteSources = %q; want %q", got, want)
	}
}
