package plan

import (
	"time"

	"github.com/apkfarm/apkfarm/runner/apkbuild"
)

// Decisions and reasons as they appear in the plan.
const (
	ReasonNew               = "new"                // not published
	ReasonOutdated          = "outdated"           // published at another version
	ReasonMissingSubpackage = "missing-subpackage" // a package due on this arch is not published

	BlockedFailed      = "failed"       // failed at this version and APKBUILD; held until a retry is due
	BlockedDepWait     = "dep-wait"     // a build dependency is found nowhere
	BlockedBadDepend   = "bad-depend"   // a dependency string could not be parsed
	BlockedCycle       = "cycle"        // member of a dependency cycle no bootstrap order breaks
	BlockedNotSelected = "not-selected" // needs an unpublished aport that --only left out
	BlockedDep         = "dep-blocked"  // a build dependency is blocked
	BlockedNoarch      = "noarch"       // a noarch aport whose build on the native arch does not happen

	RemovedOriginGone     = "origin-gone"     // the origin is not in the tree
	RemovedArchExcluded   = "arch-excluded"   // the origin no longer builds for this arch
	RemovedSubpackageGone = "subpackage-gone" // the origin no longer makes this package here
	RemovedInBase         = "in-base"         // a channel's copy of what its base repository publishes at the same version
)

// Schema is the version of the plan's JSON form. It changes when a field
// changes meaning or is removed; adding a field does not change it.
const Schema = 1

// Plan is the result of Compute; it marshals to the JSON documented in
// docs/plan.md.
type Plan struct {
	Schema     int       `json:"schema"`
	Generated  time.Time `json:"generated"`
	NativeArch string    `json:"native_arch"`
	// Batches is the number of batches; batch numbers run from 1 and are
	// shared by all arches: batch n of every arch may start when batch n-1
	// of every arch is done.
	Batches int         `json:"batches"`
	Only    []string    `json:"only,omitempty"`
	Arches  []*ArchPlan `json:"arches"`
}

// ArchPlan is the plan for one arch.
type ArchPlan struct {
	Arch string `json:"arch"`
	// Error is set when the arch's inputs could not be read; nothing else
	// is then planned for it.
	Error   string     `json:"error,omitempty"`
	Builds  []*Build   `json:"builds"`
	Copies  []*Copy    `json:"copies"`
	Blocked []*Blocked `json:"blocked"`
	Removed []*Removed `json:"removed"`
	Cycles  []*Cycle   `json:"cycles"`
	Invalid []*Invalid `json:"invalid"`
	// UpToDate, Excluded and NotSelected list the aports the plan leaves
	// alone, so that every aport of the tree has its decision here: the
	// published version is the tree's; arch= does not build it here (and
	// no other aport of its name does); --only left it out.
	UpToDate    []*Decided `json:"up_to_date"`
	Excluded    []*Decided `json:"excluded"`
	NotSelected []*Decided `json:"not_selected"`
	Counts      Counts     `json:"counts"`

	// For Why: the arch's tree and the aports --only left out.
	aports      []*apkbuild.Aport
	notSelected map[string]bool
}

// Build is one aport to build on the arch.
type Build struct {
	Pkgname string `json:"pkgname"`
	Path    string `json:"path"`
	Version string `json:"version"`
	// Hash is the APKBUILD's content hash: what a failed attempt is
	// recorded with, for the failure memory.
	Hash string `json:"apkbuild_hash"`
	// PublishedVersion is the version in the published index, empty when
	// new.
	PublishedVersion string `json:"published_version"`
	Reason           string `json:"reason"`
	// Downgrade is set when the published version is newer than the tree's.
	Downgrade bool `json:"downgrade,omitempty"`
	// MissingSubpackages are the packages due on the arch that the index
	// lacks (reason missing-subpackage).
	MissingSubpackages []string `json:"missing_subpackages,omitempty"`
	Noarch             bool     `json:"noarch,omitempty"`
	Batch              int      `json:"batch"`
	// CriticalPath is the number of builds in the longest chain that starts
	// here (this one and everything waiting on it, transitively).
	CriticalPath int `json:"critical_path"`
	// Depends are the builds of this plan this one waits for: pkgnames on
	// the same arch, "arch/pkgname" on another (a noarch aport built on the
	// native arch).
	Depends []string `json:"depends"`
	// AssumedUpstream are dependency names found nowhere that are assumed
	// to come from upstream, because no upstream index is configured.
	AssumedUpstream []string `json:"assumed_upstream,omitempty"`
	// Attempt is set on a retry after failures: the attempt this will be.
	Attempt int `json:"attempt,omitempty"`

	// What the builder needs, so that the plan is all a build is made
	// from. Packages are the package names the build must make on the
	// arch: pkgname, then the subpackages due there. BuildDepends are the
	// names installed before the build (depends, makedepends, and
	// checkdepends unless !check), without the aport's own packages. Net
	// is options="net": the build phase gets network.
	Packages     []string `json:"packages"`
	BuildDepends []string `json:"build_depends"`
	Net          bool     `json:"net,omitempty"`
	// Sources are the names the aport's remote sources are saved as in
	// $SRCDEST, which the builder marks used in its sources directory.
	Sources []string `json:"sources,omitempty"`
	// TreeDepends are the aports of the tree (pkgnames) whose packages
	// the build dependencies resolve to, built in this run or not: what
	// the site shows as build and reverse dependencies.
	TreeDepends []string `json:"tree_depends,omitempty"`
}

// Decided is an aport the plan leaves alone on an arch.
type Decided struct {
	Pkgname string `json:"pkgname"`
	Path    string `json:"path"`
	Version string `json:"version"`
	Hash    string `json:"apkbuild_hash,omitempty"`
	// Reason says why an aport is excluded: arch="…" does not select the arch.
	Reason string `json:"reason,omitempty"`
}

// Copy is a noarch aport built on the native arch whose packages go into
// this arch's index too.
type Copy struct {
	Pkgname          string `json:"pkgname"`
	Version          string `json:"version"`
	PublishedVersion string `json:"published_version"`
	From             string `json:"from"`
	// Batch is the batch that builds it on From; 0 when From already
	// publishes this version.
	Batch int `json:"batch"`
}

// Blocked is an aport due for a build that will not be built in this run.
type Blocked struct {
	Pkgname string `json:"pkgname"`
	Path    string `json:"path"`
	Version string `json:"version"`
	Reason  string `json:"reason"`
	// Detail says why in words, naming what to do where known.
	Detail string `json:"detail"`
	// Missing are dependency names found nowhere (dep-wait).
	Missing []string `json:"missing,omitempty"`
	// Cycle is the cycle written out, "a → b → a" (cycle).
	Cycle string `json:"cycle,omitempty"`
	// WaitsFor are the blocked or unselected builds this one needs.
	WaitsFor []string `json:"waits_for,omitempty"`
	// RetryAt is when a failed aport will next be retried; absent when it
	// stays failed until its APKBUILD changes.
	RetryAt *time.Time `json:"retry_at,omitempty"`
}

// Removed is a published package that the tree no longer makes for the arch.
type Removed struct {
	Name    string `json:"name"`
	Version string `json:"version"`
	Origin  string `json:"origin"`
	Reason  string `json:"reason"`
}

// Cycle is a dependency cycle among aports due for a build.
type Cycle struct {
	Members []string `json:"members"`
	Path    string   `json:"path"`
	// Bootstrap is set when a configured bootstrap order breaks the cycle;
	// its members are then built in that order instead of blocked.
	Bootstrap bool `json:"bootstrap,omitempty"`
}

// Invalid is an aport whose APKBUILD could not be read.
type Invalid struct {
	Pkgname string `json:"pkgname"`
	Path    string `json:"path"`
	Error   string `json:"error"`
}

// Counts summarise the arch's decisions: every aport of the tree is counted
// once in Builds, Copies, Blocked, NotSelected, UpToDate, Excluded or
// Invalid.
type Counts struct {
	Builds      int `json:"builds"`
	Copies      int `json:"copies"`
	Blocked     int `json:"blocked"`
	NotSelected int `json:"not_selected"`
	UpToDate    int `json:"up_to_date"`
	Excluded    int `json:"excluded"`
	Invalid     int `json:"invalid"`
	Removed     int `json:"removed"`
}

// Arch returns the plan of arch, or nil.
func (p *Plan) Arch(arch string) *ArchPlan {
	for _, a := range p.Arches {
		if a.Arch == arch {
			return a
		}
	}
	return nil
}

// HasErrors reports whether any arch could not be planned.
func (p *Plan) HasErrors() bool {
	for _, a := range p.Arches {
		if a.Error != "" {
			return true
		}
	}
	return false
}
