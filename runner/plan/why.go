package plan

import (
	"fmt"
	"strings"

	"github.com/apkfarm/apkfarm/runner/apkbuild"
)

// Why explains in one line what the plan does about name (a pkgname or a
// subpackage name) on arch, and why: built, copied, blocked, not selected,
// invalid, excluded, up to date or removed. It works on a plan returned by
// Compute (not one read back from JSON, which lacks the tree).
func (p *Plan) Why(arch, name string) string {
	ap := p.Arch(arch)
	switch {
	case ap == nil:
		return fmt.Sprintf("%s: not planned (not in the arches of this run)", arch)
	case ap.Error != "":
		return fmt.Sprintf("%s: the arch could not be planned: %s", arch, ap.Error)
	}
	a := ap.find(name)
	if a == nil {
		for _, r := range ap.Removed {
			if r.Name == name {
				return fmt.Sprintf("%s: %s %s is published but to be removed (%s: origin %s)", arch, name, r.Version, r.Reason, r.Origin)
			}
		}
		return fmt.Sprintf("%s: no aport of the tree makes %q", arch, name)
	}
	what := a.Pkgname
	if name != a.Pkgname {
		what = fmt.Sprintf("%s (a subpackage of %s)", name, a.Pkgname)
	}
	for _, b := range ap.Builds {
		if b.Pkgname == a.Pkgname {
			old := b.PublishedVersion
			if old == "" {
				old = "nothing"
			}
			return fmt.Sprintf("%s: %s is built in batch %d: %s (published %s, tree %s)", arch, what, b.Batch, b.Reason, old, b.Version)
		}
	}
	for _, c := range ap.Copies {
		if c.Pkgname == a.Pkgname {
			return fmt.Sprintf("%s: %s is noarch: built on %s and copied here (%s)", arch, what, c.From, c.Version)
		}
	}
	for _, b := range ap.Blocked {
		if b.Pkgname == a.Pkgname {
			return fmt.Sprintf("%s: %s is not built: %s: %s", arch, what, b.Reason, b.Detail)
		}
	}
	for _, x := range ap.Invalid {
		if x.Path == a.Path {
			return fmt.Sprintf("%s: %s is not built: its APKBUILD is invalid: %s", arch, what, x.Error)
		}
	}
	switch {
	case !a.Applies:
		return fmt.Sprintf("%s: %s is not built: excluded, arch=%q does not select %s", arch, what, strings.Join(a.Arches, " "), arch)
	case ap.notSelected[a.Pkgname]:
		return fmt.Sprintf("%s: %s is out of date but not built: --only left it out", arch, what)
	}
	return fmt.Sprintf("%s: %s is up to date: %s is published", arch, what, a.Version())
}

// find returns the aport that makes name on the arch: by pkgname (one
// that applies to the arch first), else by a subpackage name.
func (ap *ArchPlan) find(name string) *apkbuild.Aport {
	var other *apkbuild.Aport
	for _, a := range ap.aports {
		if a.Pkgname == name {
			if a.Applies {
				return a
			}
			if other == nil {
				other = a
			}
		}
	}
	if other != nil {
		return other
	}
	for _, a := range ap.aports {
		for _, sp := range a.Subpackages {
			if sp.Name == name {
				return a
			}
		}
	}
	return nil
}
