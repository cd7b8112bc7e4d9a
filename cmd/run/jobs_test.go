package main

import (
	"reflect"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/builder"
	"github.com/apkfarm/apkfarm/runner/plan"
)

func TestJobsFromPlan(t *testing.T) {
	hello := &plan.Build{Pkgname: "hello", Path: "main/hello", Version: "2.12-r1", Hash: "h-hello", Batch: 2, CriticalPath: 1,
		Depends: []string{"device-x"}, Packages: []string{"hello", "hello-dev"},
		BuildDepends: []string{"so:libc.musl-x86_64.so.1", "libgreet-dev"}, Net: true}
	device := &plan.Build{Pkgname: "device-x", Path: "device/testing/device-x", Version: "1-r0", Hash: "h-device-x", Batch: 1,
		CriticalPath: 2, Packages: []string{"device-x"}, BuildDepends: []string{"bats"}}
	data := &plan.Build{Pkgname: "greet-data", Path: "main/greet-data", Version: "3-r0", Batch: 1, Packages: []string{"greet-data"}}
	user := &plan.Build{Pkgname: "uses-data", Path: "main/uses-data", Version: "1-r0", Batch: 2, Depends: []string{"x86_64/greet-data"},
		Packages: []string{"uses-data"}, BuildDepends: []string{"greet-data"}}
	p := &plan.Plan{Arches: []*plan.ArchPlan{
		{Arch: "x86_64", Builds: []*plan.Build{hello, device, data}},
		{Arch: "aarch64", Builds: []*plan.Build{user}},
		{Arch: "armv7", Error: "index unreadable", Builds: []*plan.Build{hello}},
	}}
	got := jobsFromPlan(p, "/tree", map[string]time.Duration{"hello": 6 * time.Hour})
	want := []builder.Job{
		{Arch: "x86_64", Pkgname: "device-x", Version: "1-r0", Dir: "/tree/device/testing/device-x", Repo: "testing", Hash: "h-device-x",
			Batch: 1, CriticalPath: 2, Packages: []string{"device-x"}, BuildDeps: []string{"bats"}},
		{Arch: "x86_64", Pkgname: "greet-data", Version: "3-r0", Dir: "/tree/main/greet-data", Repo: "main", Batch: 1,
			Packages: []string{"greet-data"}},
		{Arch: "x86_64", Pkgname: "hello", Version: "2.12-r1", Dir: "/tree/main/hello", Repo: "main", Hash: "h-hello",
			Batch: 2, CriticalPath: 1, Deps: []string{"device-x"}, Packages: []string{"hello", "hello-dev"},
			BuildDeps: []string{"so:libc.musl-x86_64.so.1", "libgreet-dev"}, Net: true, Timeout: 6 * time.Hour},
		{Arch: "aarch64", Pkgname: "uses-data", Version: "1-r0", Dir: "/tree/main/uses-data", Repo: "main", Batch: 2,
			Deps: []string{"x86_64/greet-data"}, Packages: []string{"uses-data"}, BuildDeps: []string{"greet-data"}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("jobs:\n got %+v\nwant %+v", got, want)
	}
}

func TestRepoOf(t *testing.T) {
	for in, want := range map[string]string{"main/hello": "main", "device/testing/device-x": "testing", "hello": ""} {
		if got := repoOf(in); got != want {
			t.Errorf("repoOf(%q) = %q, want %q", in, got, want)
		}
	}
}
