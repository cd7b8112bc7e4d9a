package config

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Mirror is one [[mirrors]] entry: a place the finished repository is
// pushed to with rsync after each run (runner/mirror does the pushing).
type Mirror struct {
	// Name identifies the mirror in logs, the state and the site; unique.
	Name string `toml:"name"`
	// URL is where the mirror is, one of:
	//   - a local path ("/srv/mirror-a");
	//   - an rsync daemon: "rsync://[user@]host[:port]/module[/path]";
	//   - ssh: "user@host:path", or "ssh://user@host[:port]/path" for
	//     another port than 22.
	URL string `toml:"url"`
	// IdentityFile is the ssh private key to log in with and KnownHosts
	// the known_hosts file that must hold the host's key (an unknown host
	// key is refused). Both required for ssh, refused for other kinds.
	IdentityFile string `toml:"identity_file"`
	KnownHosts   string `toml:"known_hosts"`
	// PasswordFile holds the rsync daemon password of the URL's user
	// (rsync --password-file; readable by the runner only). Only for
	// rsync:// mirrors.
	PasswordFile string `toml:"password_file"`
	// Timeout bounds the whole push of this mirror, retries and read-back
	// included. Unset (or "0s"): DefaultMirrorTimeout.
	Timeout Duration `toml:"timeout"`
	// Retries is how many times a failed push is tried again, after
	// Backoff, then twice Backoff, and so on. Unset: DefaultMirrorRetries;
	// 0: no retry.
	Retries *int `toml:"retries"`
	// Backoff is the wait before the first retry. Unset (or "0s"):
	// DefaultMirrorBackoff.
	Backoff Duration `toml:"backoff"`
	// CheckURL, when set, is the http(s) URL the mirror serves the
	// repository at; after a push each index is read back from CheckURL +
	// its path ("<arch>/APKINDEX.tar.gz") instead of through rsync.
	CheckURL string `toml:"check_url"`
}

// Defaults of the [[mirrors]] keys.
const (
	DefaultMirrorTimeout = Duration(10 * time.Minute)
	DefaultMirrorRetries = 3
	DefaultMirrorBackoff = Duration(5 * time.Second)
)

// MirrorKind is how a mirror is reached.
type MirrorKind string

// The kinds of mirror URL.
const (
	MirrorLocal MirrorKind = "local"
	MirrorRsync MirrorKind = "rsync"
	MirrorSSH   MirrorKind = "ssh"
)

// MirrorURL is a mirror's URL taken apart.
type MirrorURL struct {
	Kind MirrorKind
	// User and Host are empty for a local path; Port is 0 for the
	// default (873 for rsync, 22 for ssh).
	User string
	Host string
	Port int
	// Path is the local path; for rsync "module/path"; for ssh the remote
	// path (relative to the user's home unless it starts with /).
	Path string
}

var (
	mirrorNameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)
	// user@host:path, host being a name, an IPv4 address or [IPv6].
	scpLikeRE = regexp.MustCompile(`^([^@/:\s]+)@(\[[0-9A-Fa-f:.]+\]|[^@/:\[\]\s]+):(.*)$`)
)

// ParseMirrorURL takes a mirror URL apart; the error says which form was
// expected.
func ParseMirrorURL(s string) (MirrorURL, error) {
	switch {
	case s == "":
		return MirrorURL{}, fmt.Errorf("missing: a local path, rsync://host/module/path or user@host:path")
	case strings.IndexFunc(s, isControl) >= 0:
		return MirrorURL{}, fmt.Errorf("%q: control characters are not allowed", s)
	case strings.HasPrefix(s, "rsync://"), strings.HasPrefix(s, "ssh://"):
		return parseMirrorNetURL(s)
	}
	m := scpLikeRE.FindStringSubmatch(s)
	if m == nil && strings.Contains(s, "://") {
		return MirrorURL{}, fmt.Errorf("%q: unknown scheme: use a local path, rsync://host/module/path or user@host:path", s)
	}
	if m != nil {
		host := strings.Trim(m[2], "[]")
		if !validHost(host) {
			return MirrorURL{}, fmt.Errorf("%q: bad host %q", s, m[2])
		}
		if !userRE.MatchString(m[1]) {
			return MirrorURL{}, fmt.Errorf("%q: bad user name %q", s, m[1])
		}
		if m[3] == "" {
			return MirrorURL{}, fmt.Errorf("%q: no path after the colon: name the directory, e.g. %s:/srv/mirror", s, m[1]+"@"+m[2])
		}
		return MirrorURL{Kind: MirrorSSH, User: m[1], Host: host, Path: m[3]}, nil
	}
	if i := strings.IndexByte(s, ':'); i >= 0 && !strings.Contains(s[:i], "/") {
		return MirrorURL{}, fmt.Errorf("%q: looks like host:path without a user: write user@host:path (or ./%s for a local path)", s, s)
	}
	return MirrorURL{Kind: MirrorLocal, Path: filepath.Clean(s)}, nil
}

func parseMirrorNetURL(s string) (MirrorURL, error) {
	u, err := url.Parse(s)
	if err != nil {
		return MirrorURL{}, fmt.Errorf("%q: %v", s, urlErr(err))
	}
	m := MirrorURL{Kind: MirrorRsync, Host: u.Hostname()}
	if u.Scheme == "ssh" {
		m.Kind = MirrorSSH
	}
	if u.User != nil {
		if _, has := u.User.Password(); has {
			return MirrorURL{}, fmt.Errorf("%q has a password: secrets never go in the configuration, use password_file", redact(u))
		}
		m.User = u.User.Username()
		if !userRE.MatchString(m.User) {
			return MirrorURL{}, fmt.Errorf("%q: bad user name %q", s, m.User)
		}
	}
	if !validHost(m.Host) {
		return MirrorURL{}, fmt.Errorf("%q: bad or missing host", s)
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil || n < 1 || n > 65535 {
			return MirrorURL{}, fmt.Errorf("%q: bad port %q", s, p)
		}
		m.Port = n
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return MirrorURL{}, fmt.Errorf("%q: a query or fragment has no meaning here", s)
	}
	p := strings.Trim(u.Path, "/")
	if strings.IndexFunc(p, isControl) >= 0 {
		return MirrorURL{}, fmt.Errorf("%q: control characters are not allowed", s)
	}
	switch {
	case m.Kind == MirrorRsync && p == "":
		return MirrorURL{}, fmt.Errorf("%q: no module: write rsync://%s/MODULE[/path]", s, u.Host)
	case m.Kind == MirrorSSH && m.User == "":
		return MirrorURL{}, fmt.Errorf("%q: no user: write ssh://USER@%s/path", s, u.Host)
	case m.Kind == MirrorSSH && p == "":
		return MirrorURL{}, fmt.Errorf("%q: no path: write ssh://%s@%s/srv/mirror", s, m.User, u.Host)
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == ".." {
			return MirrorURL{}, fmt.Errorf("%q: \"..\" in the path", s)
		}
	}
	m.Path = p
	if m.Kind == MirrorSSH {
		m.Path = "/" + p
	}
	return m, nil
}

// urlErr drops url.Error's "parse URL:" prefix.
func urlErr(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}

func redact(u *url.URL) string {
	c := *u
	if c.User != nil {
		c.User = url.User(c.User.Username())
	}
	return c.String()
}

// String writes the URL back in its canonical form, without credentials.
func (m MirrorURL) String() string {
	hostport := m.Host
	if strings.Contains(hostport, ":") {
		hostport = "[" + hostport + "]"
	}
	if m.Port != 0 {
		hostport = net.JoinHostPort(m.Host, strconv.Itoa(m.Port))
	}
	user := ""
	if m.User != "" {
		user = m.User + "@"
	}
	switch m.Kind {
	case MirrorRsync:
		return "rsync://" + user + hostport + "/" + m.Path
	case MirrorSSH:
		if m.Port != 0 {
			return "ssh://" + user + hostport + m.Path
		}
		return user + hostport + ":" + m.Path
	}
	if !filepath.IsAbs(m.Path) {
		return "./" + m.Path // never read as host:path
	}
	return m.Path
}

// validateMirrors checks the [[mirrors]] entries; repo is publish.dir, which
// no local mirror may be.
func validateMirrors(p *Problems, ms []Mirror, repo string) {
	names := map[string]int{}
	urls := map[string]int{}
	for i := range ms {
		m := &ms[i]
		key := func(field string) string {
			if mirrorNameRE.MatchString(m.Name) {
				return fmt.Sprintf("mirrors.%s.%s", m.Name, field)
			}
			return fmt.Sprintf("mirrors[%d].%s", i, field)
		}
		switch j, dup := names[m.Name]; {
		case m.Name == "":
			p.Addf(key("name"), "missing: a short name for logs and the status, e.g. \"eu1\"")
		case !mirrorNameRE.MatchString(m.Name):
			p.Addf(key("name"), "%q: use letters, digits, '.', '_' and '-'", m.Name)
		case dup:
			p.Addf(key("name"), "%q is also the name of mirrors[%d]: names must be unique", m.Name, j)
		default:
			names[m.Name] = i
		}
		u, err := ParseMirrorURL(m.URL)
		if err != nil {
			p.Addf(key("url"), "%v", err)
			continue
		}
		if j, dup := urls[u.String()]; dup {
			p.Addf(key("url"), "%q is also the url of mirrors[%d]", m.URL, j)
		}
		urls[u.String()] = i
		if u.Kind == MirrorLocal && repo != "" {
			switch r := filepath.Clean(repo); {
			case r == u.Path:
				p.Addf(key("url"), "%q is publish.dir itself: a mirror is another copy", m.URL)
			case within(u.Path, r), within(r, u.Path):
				p.Addf(key("url"), "%q and publish.dir %q are inside one another: a push would copy the repository into itself or delete it", m.URL, repo)
			}
		}
		if u.Kind == MirrorSSH {
			if m.IdentityFile == "" {
				p.Addf(key("identity_file"), "missing: an ssh mirror needs the private key to log in with")
			}
			if m.KnownHosts == "" {
				p.Addf(key("known_hosts"), "missing: an ssh mirror needs a known_hosts file with its host key (unknown host keys are refused)")
			}
		} else {
			if m.IdentityFile != "" {
				p.Addf(key("identity_file"), "only for ssh mirrors (url user@host:path)")
			}
			if m.KnownHosts != "" {
				p.Addf(key("known_hosts"), "only for ssh mirrors (url user@host:path)")
			}
		}
		for _, f := range []struct{ key, path string }{
			{"identity_file", m.IdentityFile}, {"known_hosts", m.KnownHosts}, {"password_file", m.PasswordFile},
		} {
			if strings.ContainsAny(f.path, "'\"\\\n") {
				p.Addf(key(f.key), "%q: quotes, backslashes and newlines are not allowed in the path", f.path)
			}
		}
		if m.PasswordFile != "" {
			switch {
			case u.Kind != MirrorRsync:
				p.Addf(key("password_file"), "only for rsync daemon mirrors (url rsync://user@host/module)")
			case u.User == "":
				p.Addf(key("password_file"), "the url names no user: write rsync://USER@%s/%s", u.Host, u.Path)
			}
		}
		if m.Timeout < 0 {
			p.Addf(key("timeout"), "%s is negative: the time one push may take, e.g. \"10m\"", m.Timeout)
		}
		if m.Backoff < 0 {
			p.Addf(key("backoff"), "%s is negative: the wait before the first retry, e.g. \"5s\"", m.Backoff)
		}
		if m.Retries != nil && (*m.Retries < 0 || *m.Retries > 100) {
			p.Addf(key("retries"), "%d: use 0 (no retry) to 100", *m.Retries)
		}
		if m.CheckURL != "" {
			cu, err := url.Parse(m.CheckURL)
			switch {
			case err != nil || (cu.Scheme != "http" && cu.Scheme != "https") || cu.Host == "":
				p.Addf(key("check_url"), "%q is not an http(s) URL", m.CheckURL)
			case strings.Contains(m.CheckURL, "{arch}"):
				p.Addf(key("check_url"), "%q: give the base URL the repository is served at (the index is read from <check_url>/<arch>/APKINDEX.tar.gz), without {arch}", m.CheckURL)
			case cu.User != nil:
				p.Addf(key("check_url"), "%q has credentials: not supported", redact(cu))
			}
		}
	}
}

// within says whether path a is below directory b (both cleaned, and
// both absolute or both relative).
func within(a, b string) bool {
	rel, err := filepath.Rel(b, a)
	return err == nil && rel != "." && rel != ".." && !strings.HasPrefix(rel, "../") && filepath.IsAbs(a) == filepath.IsAbs(b)
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }

var userRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

var hostnameRE = regexp.MustCompile(`^[A-Za-z0-9_]([A-Za-z0-9_.-]*[A-Za-z0-9_])?$`)

// validHost accepts a host name, an IPv4 address or an IPv6 address
// (without brackets).
func validHost(h string) bool {
	if strings.Contains(h, ":") {
		return net.ParseIP(h) != nil
	}
	return hostnameRE.MatchString(h)
}
