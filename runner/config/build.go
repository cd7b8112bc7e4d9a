package config

import (
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Build configures the build stage: the image builds run in, the commands
// run inside it, and the limits of each build. Converted to builder.Options
// by cmd/run.
type Build struct {
	// Image is the build image of every arch without an entry in Images:
	// a registry reference, "oci-layout:/dir" or "rootfs:/x.tar.gz". It
	// must have abuild for the default commands. No default: a run that
	// builds refuses to start without one (see CheckBuild).
	Image string `toml:"image"`
	// Images overrides Image per arch; every key must be in arches.
	Images map[string]string `toml:"images"`
	// CacheDir holds pulled and unpacked images; empty means
	// <state.dir>/cache/images.
	CacheDir string `toml:"cache_dir"`
	// Runtime is the OCI runtime builds run under: "runc" (default) or
	// "crun", found on PATH, or an absolute path to either.
	Runtime string `toml:"runtime"`
	// WorkDir holds the sessions' directories (container bundles, overlay
	// upper layers); it must not be on overlayfs. Empty means
	// /var/tmp/apkfarm/sessions.
	WorkDir string `toml:"work_dir"`
	// Timeout bounds one attempt (wall clock).
	Timeout Duration `toml:"timeout"`
	// IdleTimeout kills a build that printed nothing for that long; "0s"
	// turns it off.
	IdleTimeout Duration `toml:"idle_timeout"`
	// LogMaxBytes caps each attempt's log.
	LogMaxBytes int64 `toml:"log_max_bytes"`
	// PrepareCommand and BuildCommand replace the default abuild commands
	// (docs/build.md) when set.
	PrepareCommand string `toml:"prepare_command"`
	BuildCommand   string `toml:"build_command"`
	// Env are extra NAME=value variables for both commands.
	Env []string `toml:"env"`
	// User runs the commands as "uid:gid"; empty means root.
	User string `toml:"user"`
	// Memory limits each build ("8GiB"); zero means no limit.
	Memory ByteSize `toml:"memory"`
	// Pids limits each build's processes; 0 means no limit.
	Pids int64 `toml:"pids"`
	// PackageTimeouts override Timeout per pkgname.
	PackageTimeouts map[string]Duration `toml:"package_timeouts"`
	// Packages, when set, make the build root: the image with these
	// installed by its apk from Repositories (the image's own when
	// empty), with publish.keys in /etc/apk/keys; prepared once per image
	// digest, package list, repository state and keys, then reused.
	Packages []string `toml:"packages"`
	// Repositories are the prepared root's /etc/apk/repositories lines:
	// URLs or absolute paths, each optionally after an "@tag".
	Repositories []string `toml:"repositories"`
	// SourcesDir keeps $SRCDEST across builds and runs; empty means
	// <state.dir>/cache/sources. SourcesMaxAge prunes what no build used
	// for that long.
	SourcesDir    string   `toml:"sources_dir"`
	SourcesMaxAge Duration `toml:"sources_max_age"`
	// CcacheDir, when set, keeps a ccache directory per arch
	// (<ccache_dir>/<arch>) mounted into builds; CcacheSize caps each.
	CcacheDir  string   `toml:"ccache_dir"`
	CcacheSize ByteSize `toml:"ccache_size"`
}

// Defaults of the [build] keys.
const (
	DefaultBuildTimeout     = Duration(3 * time.Hour)
	DefaultBuildIdleTimeout = Duration(30 * time.Minute)
	DefaultLogMaxBytes      = 64 << 20
	DefaultSourcesMaxAge    = Duration(30 * 24 * time.Hour)
)

// DefaultRuntime is the OCI runtime of builds unless build.runtime says
// otherwise.
const DefaultRuntime = "runc"

func defaultBuild() Build {
	return Build{Runtime: DefaultRuntime, Timeout: DefaultBuildTimeout, IdleTimeout: DefaultBuildIdleTimeout, LogMaxBytes: DefaultLogMaxBytes,
		SourcesMaxAge: DefaultSourcesMaxAge}
}

var (
	envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
	userRe  = regexp.MustCompile(`^[0-9]+:[0-9]+$`)
)

func (s *Build) validate(p *Problems, arches []string) {
	if strings.TrimSpace(s.Image) != s.Image {
		p.Addf("build.image", "%q has surrounding spaces", s.Image)
	}
	for _, arch := range slices.Sorted(maps.Keys(s.Images)) {
		ref := s.Images[arch]
		if !contains(arches, arch) {
			p.Addf("build.images", "arch %q is not in arches %q", arch, arches)
		}
		if strings.TrimSpace(ref) == "" {
			p.Addf("build.images", "%s: empty image reference", arch)
		}
	}
	switch {
	case s.Runtime == "runc", s.Runtime == "crun":
	case s.Runtime == "":
		p.Addf("build.runtime", "empty: use \"runc\" (the default), \"crun\" or an absolute path to one of them")
	case !filepath.IsAbs(s.Runtime) || filepath.Clean(s.Runtime) != s.Runtime:
		p.Addf("build.runtime", "%q: use \"runc\", \"crun\" or a clean absolute path such as \"/usr/local/bin/crun\"", s.Runtime)
	}
	if s.Timeout <= 0 {
		p.Addf("build.timeout", "must be positive, e.g. \"3h\"")
	}
	if s.IdleTimeout < 0 {
		p.Addf("build.idle_timeout", "%s is negative (\"0s\" turns the idle limit off)", s.IdleTimeout)
	}
	if s.LogMaxBytes <= 0 {
		p.Addf("build.log_max_bytes", "%d: must be positive, e.g. 67108864", s.LogMaxBytes)
	}
	for _, e := range s.Env {
		if !envName.MatchString(e) {
			p.Addf("build.env", "%q is not NAME=value", e)
		}
	}
	if s.User != "" && !userRe.MatchString(s.User) {
		p.Addf("build.user", "%q: use numeric \"uid:gid\", e.g. \"1000:1000\" (empty: root)", s.User)
	}
	if s.Memory < 0 {
		p.Addf("build.memory", "negative")
	}
	if s.Pids < 0 {
		p.Addf("build.pids", "%d is negative (0: no limit)", s.Pids)
	}
	for _, pkg := range s.Packages {
		if pkg == "" || strings.ContainsAny(pkg, " \t\n") || strings.HasPrefix(pkg, "-") {
			p.Addf("build.packages", "%q is not a package name (apk add argument such as \"build-base\" or \"abuild>=3.12\")", pkg)
		}
	}
	for _, r := range s.Repositories {
		f := strings.Fields(r)
		loc := ""
		if len(f) > 0 {
			loc = f[len(f)-1]
		}
		switch {
		case len(f) == 0 || len(f) > 2 || len(f) == 2 && !strings.HasPrefix(f[0], "@"):
			p.Addf("build.repositories", "%q: want a URL or an absolute path, optionally after an @tag", r)
		case !filepath.IsAbs(loc) && !strings.HasPrefix(loc, "http://") && !strings.HasPrefix(loc, "https://"):
			p.Addf("build.repositories", "%q: want an http(s) URL or an absolute path", r)
		}
	}
	if len(s.Repositories) > 0 && len(s.Packages) == 0 {
		p.Addf("build.repositories", "set, but build.packages is empty: the repositories are those of the prepared build root")
	}
	for key, d := range map[string]string{"build.sources_dir": s.SourcesDir, "build.ccache_dir": s.CcacheDir} {
		if d != "" && !filepath.IsAbs(d) {
			p.Addf(key, "%q: must be an absolute path", d)
		}
	}
	if s.SourcesMaxAge <= 0 {
		p.Addf("build.sources_max_age", "must be positive, e.g. \"720h\"")
	}
	if s.CcacheSize < 0 {
		p.Addf("build.ccache_size", "negative")
	}
	for _, name := range slices.Sorted(maps.Keys(s.PackageTimeouts)) {
		if s.PackageTimeouts[name] <= 0 {
			p.Addf("build.package_timeouts", "%s: %s: must be positive", name, s.PackageTimeouts[name])
		}
	}
}

// ImageFor returns the build image for arch: Images[arch], else Image.
func (s *Build) ImageFor(arch string) string {
	if img := s.Images[arch]; img != "" {
		return img
	}
	return s.Image
}

// CheckBuild reports what a run that builds needs beyond Validate: a
// build image for each of arches.
func (c *Config) CheckBuild(arches []string) error {
	var p Problems
	for _, a := range arches {
		if c.Build.ImageFor(a) == "" {
			p.Addf("build.image", "not set, and no build.images.%s: name an image with abuild, e.g. \"registry.example.org/alpine-abuild:edge\"", a)
			break
		}
	}
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: p}
}

// ByteSize is a size in bytes, written in TOML as a number or a string
// with a unit: "512MiB", "8GiB", "1G" (powers of 1024 with or without the
// "i"), "4096".
type ByteSize int64

var sizeUnits = map[string]int64{
	"": 1, "b": 1,
	"k": 1 << 10, "kb": 1 << 10, "kib": 1 << 10,
	"m": 1 << 20, "mb": 1 << 20, "mib": 1 << 20,
	"g": 1 << 30, "gb": 1 << 30, "gib": 1 << 30,
	"t": 1 << 40, "tb": 1 << 40, "tib": 1 << 40,
}

// UnmarshalText parses a size.
func (b *ByteSize) UnmarshalText(t []byte) error {
	s := strings.TrimSpace(string(t))
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.ToLower(strings.TrimSpace(s[i:]))
	}
	mult, ok := sizeUnits[unit]
	v, err := strconv.ParseFloat(num, 64)
	if !ok || err != nil || v < 0 || v*float64(mult) > float64(1<<62) {
		return fmt.Errorf("parse size %q: use a number of bytes or a number with a unit such as \"512MiB\" or \"8GiB\"", t)
	}
	*b = ByteSize(v * float64(mult))
	return nil
}

// MarshalText writes the size in bytes.
func (b ByteSize) MarshalText() ([]byte, error) { return []byte(strconv.FormatInt(int64(b), 10)), nil }
