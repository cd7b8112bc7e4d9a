package config

import (
	"net/url"
	"path"
	"strings"
)

// Source is the APKBUILD tree.
type Source struct {
	// Path is the tree's root (a pmaports or aports checkout).
	Path string `toml:"path"`
	// Include, when set, limits the tree to aport directories matching one
	// of these globs (relative to Path, path.Match syntax, a pattern also
	// matches everything below a matching directory).
	Include []string `toml:"include"`
	// Exclude drops aport directories matching one of these globs.
	Exclude []string `toml:"exclude"`
	// CacheDir keeps evaluated APKBUILDs between runs; empty means
	// <state.dir>/cache/apkbuild.
	CacheDir string `toml:"cache_dir"`
}

func (s *Source) validate(p *Problems) {
	if s.Path == "" {
		p.Addf("source.path", "missing: the root of the APKBUILD tree, e.g. \"/srv/pmaports\"")
	}
	validateGlobs(p, "source.include", s.Include)
	validateGlobs(p, "source.exclude", s.Exclude)
}

func validateGlobs(p *Problems, key string, globs []string) {
	for _, g := range globs {
		if _, err := path.Match(g, ""); err != nil || g == "" || strings.HasPrefix(g, "/") {
			p.Addf(key, "bad glob %q: use a pattern relative to source.path, e.g. \"device/archived\"", g)
		}
	}
}

// Publish is the published repository: where its index is read from and
// which keys it must be signed with.
type Publish struct {
	// Dir holds <dir>/<arch>/APKINDEX.tar.gz and the packages.
	Dir string `toml:"dir"`
	// URL, when set, is where the published index is read from instead of
	// Dir ("{arch}" is replaced by the arch), for a runner that keeps no
	// copy of the repository.
	URL string `toml:"url"`
	// Keys is a directory of public keys (*.rsa.pub); the published index
	// must be signed by one of them.
	Keys string `toml:"keys"`
	// Policy says what is published on an arch where a build failed:
	// "partial" publishes what built (failures keep their old version),
	// "all-or-nothing" publishes nothing on that arch. Policies overrides
	// it per arch.
	Policy   string            `toml:"policy"`
	Policies map[string]string `toml:"policies"`
	// Grace is how long a file that left the index stays, so that clients
	// in the middle of an update still find it.
	Grace Duration `toml:"grace"`
	// Description is the DESCRIPTION of every index.
	Description string `toml:"description"`
}

// Publish policies.
const (
	PolicyPartial      = "partial"
	PolicyAllOrNothing = "all-or-nothing"
)

// PolicyFor returns the publish policy of arch.
func (s *Publish) PolicyFor(arch string) string {
	if p := s.Policies[arch]; p != "" {
		return p
	}
	if s.Policy == "" {
		return PolicyPartial
	}
	return s.Policy
}

func (s *Publish) validate(p *Problems) {
	if s.Dir == "" && s.URL == "" {
		p.Addf("publish", "set dir (the repository on disk) or url (where its index is served)")
	}
	if s.URL != "" {
		validateArchURL(p, "publish.url", s.URL)
	}
	if s.Keys == "" {
		p.Addf("publish.keys", "missing: a directory of the public keys the index is signed with")
	}
	if v := s.Policy; v != "" && v != PolicyPartial && v != PolicyAllOrNothing {
		p.Addf("publish.policy", "%q: want %q or %q", v, PolicyPartial, PolicyAllOrNothing)
	}
	for _, arch := range sortedKeys(s.Policies) {
		if v := s.Policies[arch]; v != PolicyPartial && v != PolicyAllOrNothing {
			p.Addf("publish.policies."+arch, "%q: want %q or %q", v, PolicyPartial, PolicyAllOrNothing)
		}
	}
	if s.Grace < 0 {
		p.Addf("publish.grace", "negative: say \"0s\" to delete old files at once")
	}
}

// validateArchURL checks an index location that must name the arch.
func validateArchURL(p *Problems, key, u string) {
	if !strings.Contains(u, "{arch}") {
		p.Addf(key, "%q does not contain {arch}: each arch has its own index", u)
	}
	if strings.Contains(u, "://") {
		pu, err := url.Parse(strings.ReplaceAll(u, "{arch}", "x"))
		if err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "" {
			p.Addf(key, "%q is not an http(s) URL", u)
		}
	}
}

// Upstream lists indexes that provide dependencies the tree lacks, such as
// Alpine's repositories under pmaports.
type Upstream struct {
	// Indexes are URLs or local paths of APKINDEX.tar.gz files, each with
	// "{arch}". When empty, dependencies found nowhere are assumed to come
	// from upstream and listed as such in the plan.
	Indexes []string `toml:"indexes"`
	// Keys, when set, is a directory of public keys the upstream indexes
	// must be signed with; when empty their signatures are not checked.
	Keys string `toml:"keys"`
}

func (s *Upstream) validate(p *Problems) {
	for _, u := range s.Indexes {
		validateArchURL(p, "upstream.indexes", u)
	}
}

// State is where the runner keeps what it wrote last time, and caches.
type State struct {
	Dir string `toml:"dir"`
	// KeepRuns is how many run records (<dir>/runs/) are kept; 0 keeps
	// all.
	KeepRuns int `toml:"keep_runs"`
}

func (s *State) validate(p *Problems) {
	if s.Dir == "" {
		p.Addf("state.dir", "missing: a directory the runner may write, e.g. \"/var/lib/apkfarm\"")
	}
	if s.KeepRuns < 0 {
		p.Addf("state.keep_runs", "%d is negative (0 keeps every run record)", s.KeepRuns)
	}
}

// Plan tunes the planner.
type Plan struct {
	// RetryDelays are the waits before retrying an aport that failed at the
	// same version and APKBUILD: after the first failure the first delay,
	// and so on; after the last, it stays failed until its APKBUILD
	// changes. Empty: never retried automatically.
	RetryDelays []Duration `toml:"retry_delays"`
	// Bootstrap lists build orders that break known dependency cycles: each
	// is a list of pkgnames, built in that order.
	Bootstrap [][]string `toml:"bootstrap"`
}

func (s *Plan) validate(p *Problems) {
	for i, d := range s.RetryDelays {
		if d <= 0 {
			p.Addf("plan.retry_delays", "delay %d is %s: must be positive", i+1, d)
		}
	}
	seen := map[string]int{}
	for i, order := range s.Bootstrap {
		if len(order) < 2 {
			p.Addf("plan.bootstrap", "order %d has %d pkgnames: a cycle needs at least 2", i+1, len(order))
		}
		for _, name := range order {
			if j, dup := seen[name]; dup {
				p.Addf("plan.bootstrap", "%q is in orders %d and %d: name each aport once", name, j, i+1)
			}
			seen[name] = i + 1
		}
	}
}
