package config

import (
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/apkfarm/apkfarm/runner/trigger"
)

// Trigger configures when `run` runs by itself: the built-in schedule
// (`run --every`) and the HTTP listener for GitLab push hooks, POST
// /hook/run and /healthz (`run --listen`). cmd/run turns it into
// trigger.Options; the flags override every and listen.
type Trigger struct {
	// Every is a cron expression ("*/15 * * * *", "@hourly"); empty: no
	// schedule unless --every gives one.
	Every string `toml:"every"`
	// Listen is the listener's address ("127.0.0.1:8080"); empty: no
	// listener unless --listen gives one.
	Listen string `toml:"listen"`
	// TokenFile holds the secret GitLab sends in X-Gitlab-Token (and POST
	// /hook/run must send); mode 0600, read at start.
	TokenFile string `toml:"token_file"`
	// Branches are the branches whose pushes start a run; pushes to others
	// are answered "ignored". Empty: every push is ignored.
	Branches []string `toml:"branches"`
	// MaxBody caps a hook request's body; larger ones are refused (413).
	MaxBody ByteSize `toml:"max_body"`
	// OnStop is what SIGTERM does to the run under way: "cancel" (stop its
	// builds, record it interrupted) or "finish" (let it end).
	OnStop string `toml:"on_stop"`
	// HealthzMaxAge: /healthz answers 503 when no run has ended or started
	// for longer; "0s": no age limit.
	HealthzMaxAge Duration `toml:"healthz_max_age"`
}

// Defaults of the [trigger] keys.
const (
	DefaultTokenFile     = "/etc/apkfarm/hook-token"
	DefaultMaxBody       = ByteSize(4 << 20)
	DefaultOnStop        = trigger.OnStopCancel
	DefaultHealthzMaxAge = Duration(24 * time.Hour)
	// maxMaxBody bounds max_body: a push event is kilobytes, GitLab lists
	// at most 20 commits in it.
	maxMaxBody = ByteSize(64 << 20)
)

func defaultTrigger() Trigger {
	return Trigger{
		TokenFile: DefaultTokenFile, Branches: []string{"master"}, MaxBody: DefaultMaxBody,
		OnStop: DefaultOnStop, HealthzMaxAge: DefaultHealthzMaxAge,
	}
}

func (s *Trigger) validate(p *Problems) {
	if s.Every != "" {
		if _, err := trigger.ParseSchedule(s.Every); err != nil {
			p.Addf("trigger.every", "%v", err)
		}
	}
	if s.Listen != "" {
		_, port, err := net.SplitHostPort(s.Listen)
		if n, perr := strconv.ParseUint(port, 10, 16); err != nil || perr != nil || (n == 0 && port != "0") {
			p.Addf("trigger.listen", "%q: want host:port, e.g. \"127.0.0.1:8080\" or \":8080\"", s.Listen)
		}
		if s.TokenFile == "" {
			p.Addf("trigger.token_file", "missing: a listener needs the file of the hook token, e.g. %q", DefaultTokenFile)
		}
	}
	for _, b := range s.Branches {
		switch {
		case strings.HasPrefix(b, "refs/"):
			p.Addf("trigger.branches", "%q: give the branch name (%q), not the ref", b, strings.TrimPrefix(b, "refs/heads/"))
		case b == "" || strings.HasPrefix(b, "-") || strings.Contains(b, "..") ||
			strings.ContainsFunc(b, func(r rune) bool { return r <= ' ' || r == 0x7f || strings.ContainsRune(`~^:?*[\`, r) }):
			p.Addf("trigger.branches", "%q is not a git branch name", b)
		}
	}
	if s.MaxBody <= 0 || s.MaxBody > maxMaxBody {
		p.Addf("trigger.max_body", "%d bytes: want a size from 1 byte to 64MiB, e.g. \"4MiB\"", s.MaxBody)
	}
	if s.OnStop != trigger.OnStopFinish && s.OnStop != trigger.OnStopCancel {
		p.Addf("trigger.on_stop", "%q: want %q or %q", s.OnStop, trigger.OnStopCancel, trigger.OnStopFinish)
	}
	if s.HealthzMaxAge < 0 {
		p.Addf("trigger.healthz_max_age", "%s is negative (\"0s\" turns the age limit off)", s.HealthzMaxAge)
	}
}
