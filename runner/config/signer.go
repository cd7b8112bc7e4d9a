package config

import (
	"maps"
	"slices"

	"github.com/apkfarm/apkfarm/runner/apk"
)

// Signer backends.
const (
	SignerKey     = "key"     // private key files the runner reads
	SignerCommand = "command" // an external program: `run signer` on the signing host
)

// Signer says how new packages and indexes are signed (package signer).
// Secrets stay out of the file: it names the key files, never a key.
type Signer struct {
	// Backend is "key" or "command".
	Backend string `toml:"backend"`
	// Keys are private key files (backend key), read by the runner only;
	// several sign together during a key rotation.
	Keys []string `toml:"keys"`
	// Command is the program and its arguments (backend command), e.g.
	// ["ssh", "-i", "/etc/apkfarm/signer-ssh", "signer@sign.example.org",
	// "run", "signer", "--key", "/etc/apkfarm/farm.rsa"].
	Command []string `toml:"command"`
	// Type is the signature type: "RSA256" (default), "RSA" (SHA-1, for
	// old clients) or "RSA512". Backend key only: a command signs as it
	// is told on its own host.
	Type string `toml:"type"`
	// Timeout bounds each request to the command (and its start).
	Timeout Duration `toml:"timeout"`
	// Processes bounds the command processes at once; 0: one per CPU.
	Processes int `toml:"processes"`
}

func (s *Signer) validate(p *Problems) {
	switch s.Backend {
	case SignerKey:
		if slices.Contains(s.Keys, "") {
			p.Addf("signer.keys", "an empty path")
		}
		if len(s.Command) > 0 {
			p.Addf("signer.command", "set, but signer.backend is %q: say backend = %q", SignerKey, SignerCommand)
		}
	case SignerCommand:
		if len(s.Command) == 0 || s.Command[0] == "" {
			p.Addf("signer.command", "missing: the program and its arguments, e.g. [\"ssh\", \"signer@host\", \"run\", \"signer\", \"--key\", \"/etc/apkfarm/farm.rsa\"]")
		}
		if len(s.Keys) > 0 {
			p.Addf("signer.keys", "set, but signer.backend is %q: the command holds the keys", SignerCommand)
		}
	default:
		p.Addf("signer.backend", "%q: want %q or %q", s.Backend, SignerKey, SignerCommand)
	}
	if s.Type != "" && !slices.Contains([]string{string(apk.RSA), string(apk.RSA256), string(apk.RSA512)}, s.Type) {
		p.Addf("signer.type", "%q: want RSA256, RSA or RSA512", s.Type)
	}
	if s.Timeout <= 0 {
		p.Addf("signer.timeout", "must be positive, e.g. \"30s\"")
	}
	if s.Processes < 0 {
		p.Addf("signer.processes", "%d is negative (0 means one per CPU)", s.Processes)
	}
}

// CheckPublish reports what publishing needs that the configuration
// lacks: a repository directory and a signer with keys.
func (c *Config) CheckPublish() error {
	var p Problems
	if c.Publish.Dir == "" {
		p.Addf("publish.dir", "missing: publishing writes the repository there (publish.url is only for reading)")
	}
	if c.Signer.Backend == SignerKey && len(c.Signer.Keys) == 0 {
		p.Addf("signer.keys", "missing: the private key files that sign packages and indexes (`run keygen --dir DIR` makes a pair), or use signer.backend = \"command\"")
	}
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: p}
}

func sortedKeys[V any](m map[string]V) []string {
	return slices.Sorted(maps.Keys(m))
}
