package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/pelletier/go-toml/v2"
)

// DefaultPath is where `run` looks for its configuration when neither
// --config nor $APKFARM_CONFIG names one.
const DefaultPath = "/etc/apkfarm/apkfarm.toml"

// EnvPath names the environment variable that overrides DefaultPath.
const EnvPath = "APKFARM_CONFIG"

// Config is the whole configuration. Zero values of optional keys are
// replaced by Default's values before decoding, so a key left out of the
// file keeps its default.
type Config struct {
	// Arches are the apk arches to plan and build, in order.
	Arches []string `toml:"arches"`
	// NativeArch is where noarch aports are built; empty means the first
	// arch in Arches the host runs natively, else the first in Arches.
	NativeArch string `toml:"native_arch"`
	// Jobs bounds parallel work (APKBUILD evaluation, builds); 0 means the
	// number of CPUs.
	Jobs int `toml:"jobs"`
	// HTTPTimeout bounds each download of an index.
	HTTPTimeout Duration `toml:"http_timeout"`

	Source   Source   `toml:"source"`
	Publish  Publish  `toml:"publish"`
	Upstream Upstream `toml:"upstream"`
	State    State    `toml:"state"`
	Plan     Plan     `toml:"plan"`
	Build    Build    `toml:"build"`
	Signer   Signer   `toml:"signer"`
	Trigger  Trigger  `toml:"trigger"`
	// Channels are staging repositories built on top of the main one.
	Channels []Channel `toml:"channels"`

	// Mirrors are where the finished repository is pushed ([[mirrors]]).
	Mirrors []Mirror `toml:"mirrors"`
	Site    Site     `toml:"site"`
}

// Default returns the configuration used for every key a file leaves out.
func Default() Config {
	return Config{
		Arches:      []string{HostArch()},
		HTTPTimeout: Duration(60 * time.Second),
		Publish: Publish{Keys: "/etc/apkfarm/keys", Policy: PolicyPartial, Grace: Duration(24 * time.Hour),
			Description: "apkfarm"},
		State:  State{Dir: "/var/lib/apkfarm", KeepRuns: 500},
		Signer: Signer{Backend: SignerKey, Timeout: Duration(30 * time.Second)},
		Plan: Plan{RetryDelays: []Duration{
			Duration(time.Hour), Duration(6 * time.Hour), Duration(24 * time.Hour),
		}},
		Build: defaultBuild(),

		Trigger: defaultTrigger(),
		Site:    defaultSite(),
	}
}

// Load reads and decodes the file at path (see Decode).
func Load(path string) (*Config, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	c, err := Decode(b, path)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// Decode decodes a TOML document over Default(). Unknown keys are errors,
// all of them reported with their line. name is used in messages. Decode
// does not validate: call Validate.
func Decode(b []byte, name string) (*Config, error) {
	c := Default()
	dec := toml.NewDecoder(bytes.NewReader(b)).DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, decodeError(name, err)
	}
	return &c, nil
}

func decodeError(name string, err error) error {
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) {
		var lines []string
		for i := range strict.Errors {
			e := &strict.Errors[i]
			row, _ := e.Position()
			lines = append(lines, fmt.Sprintf("%s:%d: unknown key %q", name, row, strings.Join(e.Key(), ".")))
		}
		return fmt.Errorf("decode config: %s (see configs/apkfarm.toml for every key)", strings.Join(lines, "; "))
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		row, _ := de.Position()
		return fmt.Errorf("decode config: %s:%d: %w", name, row, err)
	}
	return fmt.Errorf("decode config: %s: %w", name, err)
}

// Problems collects validation problems, each naming its key.
type Problems []string

// Addf records one problem about key.
func (p *Problems) Addf(key, format string, args ...any) {
	*p = append(*p, key+": "+fmt.Sprintf(format, args...))
}

// ValidationError is every problem Validate found.
type ValidationError struct{ Problems []string }

func (e *ValidationError) Error() string {
	return "invalid config: " + strings.Join(e.Problems, "; ")
}

// Validate reports every problem of the configuration at once, or nil.
func (c *Config) Validate() error {
	var p Problems
	c.validateTop(&p)
	c.Source.validate(&p)
	c.Publish.validate(&p)
	c.Upstream.validate(&p)
	c.State.validate(&p)
	c.Plan.validate(&p)
	c.Build.validate(&p, c.Arches)
	c.Signer.validate(&p)
	c.Trigger.validate(&p)
	c.ValidateChannels(&p)
	validateMirrors(&p, c.Mirrors, c.Publish.Dir)
	c.Site.validate(&p)
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: p}
}

// KnownArches are the apk arch names Validate accepts.
var KnownArches = []string{
	"aarch64", "armhf", "armv7", "loongarch64", "ppc64le", "riscv64", "s390x", "x86", "x86_64",
}

func (c *Config) validateTop(p *Problems) {
	if len(c.Arches) == 0 {
		p.Addf("arches", "empty: name at least one arch, e.g. [%q]", HostArch())
	}
	seen := map[string]bool{}
	for _, a := range c.Arches {
		switch {
		case !contains(KnownArches, a):
			p.Addf("arches", "unknown arch %q (known: %s)", a, strings.Join(KnownArches, ", "))
		case seen[a]:
			p.Addf("arches", "%q listed twice", a)
		}
		seen[a] = true
	}
	if c.NativeArch != "" && !seen[c.NativeArch] {
		p.Addf("native_arch", "%q is not in arches", c.NativeArch)
	}
	if c.Jobs < 0 {
		p.Addf("jobs", "%d is negative (0 means one per CPU)", c.Jobs)
	}
	if c.HTTPTimeout <= 0 {
		p.Addf("http_timeout", "must be positive, e.g. \"60s\"")
	}
}

// Native returns the arch noarch aports are built on: NativeArch when set,
// else the first of Arches the host runs natively, else the first of Arches.
func (c *Config) Native() string {
	if c.NativeArch != "" {
		return c.NativeArch
	}
	host := HostArch()
	for _, a := range c.Arches {
		if a == host {
			return a
		}
	}
	if len(c.Arches) > 0 {
		return c.Arches[0]
	}
	return host
}

// HostArch returns the apk arch of this machine (see apk.HostArch).
func HostArch() string { return apk.HostArch() }

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Duration is a time.Duration written as a Go duration string ("90s",
// "6h") in TOML.
type Duration time.Duration

// UnmarshalText parses a Go duration string.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("parse duration %q: use a number with a unit such as \"90s\" or \"6h\"", b)
	}
	*d = Duration(v)
	return nil
}

// MarshalText writes the duration as a Go duration string.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Durations converts a list to time.Duration values.
func Durations(ds []Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = time.Duration(d)
	}
	return out
}

// String writes the duration as a Go duration string.
func (d Duration) String() string { return time.Duration(d).String() }
