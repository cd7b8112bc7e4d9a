package config

import (
	"fmt"
	"regexp"
	"slices"
)

// Channel is a staging repository: a second source built into its own
// repository, <publish.dir>/<name>/<arch>, on top of the main one (its
// base). It holds only the packages whose version differs from the base;
// its builds see the base's packages and its own; it has its own state in
// <state.dir>/channels/<name>/.
type Channel struct {
	// Name names the channel: its directory under publish.dir and
	// state.dir/channels.
	Name string `toml:"name"`
	// Source is the channel's tree (an aports-style directory), or, with
	// Branch, a git checkout whose branch is the tree.
	Source string `toml:"source"`
	// Branch, when set, is a branch (or any commit-ish) of the git
	// repository at Source (default source.path) that is the channel's
	// tree: each run exports it with `git archive` (the checkout is not
	// touched).
	Branch string `toml:"branch"`
	// Include and Exclude narrow the tree as source.include/exclude do.
	Include []string `toml:"include"`
	Exclude []string `toml:"exclude"`
	// Policy overrides publish.policy for the channel.
	Policy string `toml:"policy"`
}

var channelName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// ValidateChannels adds the problems of the [[channels]] entries to p.
func (c *Config) ValidateChannels(p *Problems) {
	seen := map[string]bool{}
	for i, ch := range c.Channels {
		key := fmt.Sprintf("channels[%d]", i)
		switch {
		case !channelName.MatchString(ch.Name):
			p.Addf(key+".name", "%q: want lowercase letters, digits, '.', '_' or '-', e.g. \"systemd\"", ch.Name)
		case slices.Contains(KnownArches, ch.Name) || ch.Name == "keys":
			p.Addf(key+".name", "%q is taken by the main repository's directories (an arch or keys/)", ch.Name)
		case seen[ch.Name]:
			p.Addf(key+".name", "%q given twice", ch.Name)
		}
		seen[ch.Name] = true
		if ch.Source == "" && ch.Branch == "" {
			p.Addf(key, "set source (the channel's tree) or branch (a branch of source.path's git checkout)")
		}
		validateGlobs(p, key+".include", ch.Include)
		validateGlobs(p, key+".exclude", ch.Exclude)
		if v := ch.Policy; v != "" && v != PolicyPartial && v != PolicyAllOrNothing {
			p.Addf(key+".policy", "%q: want %q or %q", v, PolicyPartial, PolicyAllOrNothing)
		}
	}
}

// Channel returns the channel called name, or nil.
func (c *Config) Channel(name string) *Channel {
	for i := range c.Channels {
		if c.Channels[i].Name == name {
			return &c.Channels[i]
		}
	}
	return nil
}
