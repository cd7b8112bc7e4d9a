package plan

import "github.com/apkfarm/apkfarm/runner/apkbuild"

// BuildDepends returns the names the planner resolves as the aport's build
// dependencies, in order and without repeats: depends, makedepends,
// makedepends_build, makedepends_host, and checkdepends unless options has
// !check; versions and conflicts (!name) dropped. cmd/run installs them
// before a build.
func BuildDepends(a *apkbuild.Aport) ([]string, error) { return buildDepends(a) }

// Packages returns the packages the aport makes on arch: its pkgname, then
// the subpackages due there, in APKBUILD order.
func Packages(a *apkbuild.Aport, arch string) []string { return dueNames(a, arch) }
