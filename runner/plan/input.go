package plan

import (
	"time"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/apkbuild"
)

// Input is everything a plan is computed from.
type Input struct {
	// Arches to plan, in order.
	Arches []string
	// NativeArch is where noarch aports are built; when empty or not in
	// Arches, the first of Arches.
	NativeArch string
	// Aports are the tree evaluated for each arch (every aport, including
	// those that do not apply to the arch or could not be read).
	Aports map[string][]*apkbuild.Aport
	// Published is each arch's published index. A nil or absent index is
	// an empty repository.
	Published map[string]*apk.Index
	// Upstream are each arch's upstream indexes, searched in order for
	// dependencies the tree and the published index lack.
	Upstream map[string][]*apk.Index
	// Base, for a staging channel, is each arch's index of the repository
	// the channel sits on. An aport whose version the base publishes (with
	// every package due) is up to date in the channel, which then does not
	// hold it (its own copy is removed, reason in-base); dependencies are
	// looked up in the base right after the channel's own index.
	Base map[string]*apk.Index
	// ArchErrors are arches whose inputs could not be read (a published
	// index signed by an unknown key, say). Such an arch gets its error and
	// no decisions in the plan; the others are planned.
	ArchErrors map[string]string
	// Failures are the earlier failed builds, from the previous state.
	Failures map[FailureKey]Failure
	// Now is the time of the run: retry delays are measured against it and
	// it is the plan's Generated time.
	Now     time.Time
	Options Options
}

// Options narrow and tune the plan.
type Options struct {
	// Only limits the builds to these aports (pkgnames; a subpackage name
	// stands for its aport). Empty: every aport.
	Only []string
	// WithDeps adds to Only the out-of-date build dependencies of the
	// selected aports, transitively.
	WithDeps bool
	// Bootstrap are build orders that break dependency cycles: when every
	// member of a cycle is in one order, each member depends only on those
	// before it in the order.
	Bootstrap [][]string
	// RetryDelays are the waits before each retry of an aport that failed
	// at the same version and APKBUILD hash; after the last one it stays
	// failed until the APKBUILD changes.
	RetryDelays []time.Duration
	// AssumeUpstream says that no upstream index is configured: dependency
	// names found nowhere are assumed to come from upstream (and listed as
	// such) instead of blocking the aport.
	AssumeUpstream bool
}

// FailureKey names an aport's builds on one arch.
type FailureKey struct {
	Arch    string
	Pkgname string
}

// Failure is what the previous state recorded about an aport's failed
// builds.
type Failure struct {
	Version  string    // pkgver-rpkgrel that failed
	Hash     string    // APKBUILD hash that failed
	Attempts int       // failed attempts at this version and hash (1 after the first failure)
	Last     time.Time // when the last attempt failed
}
