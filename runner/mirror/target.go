package mirror

import (
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/runner/config"
)

// Target is one mirror with every default resolved: what Push and Check
// take.
type Target struct {
	Name string
	URL  config.MirrorURL
	// IdentityFile and KnownHosts: ssh only. PasswordFile: rsync daemons.
	IdentityFile string
	KnownHosts   string
	PasswordFile string
	// Timeout bounds the whole push; Retries and Backoff as in
	// config.Mirror (Backoff doubles after each retry).
	Timeout time.Duration
	Retries int
	Backoff time.Duration
	// CheckURL, when set, is the http(s) base the mirror serves the
	// repository at.
	CheckURL string
}

// NewTarget resolves a configured mirror (validated by config.Validate).
func NewTarget(m config.Mirror) (Target, error) {
	u, err := config.ParseMirrorURL(m.URL)
	if err != nil {
		return Target{}, fmt.Errorf("mirror %q: url: %w", m.Name, err)
	}
	t := Target{
		Name: m.Name, URL: u,
		IdentityFile: m.IdentityFile, KnownHosts: m.KnownHosts, PasswordFile: m.PasswordFile,
		Timeout: time.Duration(m.Timeout), Retries: config.DefaultMirrorRetries, Backoff: time.Duration(m.Backoff),
		CheckURL: m.CheckURL,
	}
	if t.Timeout <= 0 {
		t.Timeout = time.Duration(config.DefaultMirrorTimeout)
	}
	if t.Backoff <= 0 {
		t.Backoff = time.Duration(config.DefaultMirrorBackoff)
	}
	if m.Retries != nil {
		t.Retries = *m.Retries
	}
	if u.Kind == config.MirrorSSH && (t.IdentityFile == "" || t.KnownHosts == "") {
		return Target{}, fmt.Errorf("mirror %q: an ssh mirror needs identity_file and known_hosts", m.Name)
	}
	return t, nil
}

// Targets resolves every configured mirror.
func Targets(ms []config.Mirror) ([]Target, error) {
	out := make([]Target, 0, len(ms))
	for _, m := range ms {
		t, err := NewTarget(m)
		if err != nil {
			return nil, err
		}
		out = append(out, t)
	}
	return out, nil
}

// dest is the rsync destination of sub (a slash path below the mirror's
// root, "" for the root), with the trailing slash that makes rsync copy a
// directory's contents.
func (t *Target) dest(sub string) string {
	base := ""
	switch u := t.URL; u.Kind {
	case config.MirrorSSH:
		host := u.Host
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		base = u.User + "@" + host + ":" + u.Path
	case config.MirrorRsync:
		base = u.String()
	default:
		base = u.Path
		if !filepath.IsAbs(base) {
			base = "./" + base // never an option, never host:path
		}
	}
	base = strings.TrimSuffix(base, "/")
	if sub != "" {
		base += "/" + sub
	}
	return base + "/"
}

// ioTimeout is rsync's own limit on a stalled transfer: a share of the
// mirror's timeout, so that a stalled attempt leaves time for another.
func (t *Target) ioTimeout() time.Duration {
	return max(5*time.Second, t.Timeout/time.Duration(t.Retries+1))
}

// transportArgs are the rsync options that reach the mirror: the ssh
// command, the daemon's password file, and the time limits.
func (t *Target) transportArgs(io time.Duration) []string {
	secs := strconv.Itoa(max(1, int((io+time.Second-1)/time.Second)))
	args := []string{"--timeout=" + secs}
	switch t.URL.Kind {
	case config.MirrorRsync:
		args = append(args, "--contimeout="+secs)
		if t.PasswordFile != "" {
			args = append(args, "--password-file="+t.PasswordFile)
		}
	case config.MirrorSSH:
		connect := min(io, 30*time.Second)
		ssh := []string{"ssh", "-F", "/dev/null",
			"-o", "BatchMode=yes",
			"-o", "StrictHostKeyChecking=yes",
			"-o", "UserKnownHostsFile=" + t.KnownHosts,
			"-o", "GlobalKnownHostsFile=/dev/null",
			"-o", "UpdateHostKeys=no",
			"-o", "IdentitiesOnly=yes",
			"-o", "IdentityAgent=none",
			"-o", "IdentityFile=" + t.IdentityFile,
			"-o", "ConnectTimeout=" + strconv.Itoa(max(1, int(connect/time.Second))),
			"-o", "ServerAliveInterval=15",
			"-o", "ServerAliveCountMax=3",
		}
		if t.URL.Port != 0 {
			ssh = append(ssh, "-p", strconv.Itoa(t.URL.Port))
		}
		for i, a := range ssh {
			ssh[i] = "'" + a + "'" // rsync splits -e on spaces and strips quotes
		}
		args = append(args, "--rsh="+strings.Join(ssh, " "))
	}
	return args
}

// preflight checks the files a mirror's transport needs, so that a missing
// key is an error naming it rather than whatever ssh makes of it.
func (t *Target) preflight() error {
	for _, f := range []struct{ key, path string }{
		{"identity_file", t.IdentityFile}, {"known_hosts", t.KnownHosts}, {"password_file", t.PasswordFile},
	} {
		if f.path == "" {
			continue
		}
		if strings.ContainsAny(f.path, "'\"\\\n") {
			return fmt.Errorf("%s %q: quotes, backslashes and newlines are not allowed in the path", f.key, f.path)
		}
		r, err := safefile.Open(f.path)
		if err != nil {
			return fmt.Errorf("%s: %w", f.key, err)
		}
		r.Close()
	}
	return nil
}
