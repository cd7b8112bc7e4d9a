package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestParseMirrorURL(t *testing.T) {
	tests := []struct {
		name, in string
		want     MirrorURL
		str      string // String(), when it differs from in
		err      string
	}{
		{name: "absolute path", in: "/srv/mirror/", want: MirrorURL{Kind: MirrorLocal, Path: "/srv/mirror"}, str: "/srv/mirror"},
		{name: "relative path", in: "mirror", want: MirrorURL{Kind: MirrorLocal, Path: "mirror"}, str: "./mirror"},
		{name: "relative path with colon after slash", in: "a/b:c", want: MirrorURL{Kind: MirrorLocal, Path: "a/b:c"}, str: "./a/b:c"},
		{name: "relative path with colon", in: "./a:b", want: MirrorURL{Kind: MirrorLocal, Path: "a:b"}},
		{name: "daemon", in: "rsync://m.example.org/apkfarm/edge", want: MirrorURL{Kind: MirrorRsync, Host: "m.example.org", Path: "apkfarm/edge"}},
		{name: "daemon user port", in: "rsync://bob@127.0.0.1:8873/repo", want: MirrorURL{Kind: MirrorRsync, User: "bob", Host: "127.0.0.1", Port: 8873, Path: "repo"}},
		{name: "daemon ipv6", in: "rsync://[::1]:8873/repo", want: MirrorURL{Kind: MirrorRsync, Host: "::1", Port: 8873, Path: "repo"}},
		{name: "ssh scp form", in: "bob@m.example.org:/srv/edge", want: MirrorURL{Kind: MirrorSSH, User: "bob", Host: "m.example.org", Path: "/srv/edge"}},
		{name: "ssh home relative", in: "bob@m:edge", want: MirrorURL{Kind: MirrorSSH, User: "bob", Host: "m", Path: "edge"}},
		{name: "ssh ipv6", in: "bob@[::1]:/srv", want: MirrorURL{Kind: MirrorSSH, User: "bob", Host: "::1", Path: "/srv"}},
		{name: "ssh url port", in: "ssh://bob@127.0.0.1:2222/srv/edge", want: MirrorURL{Kind: MirrorSSH, User: "bob", Host: "127.0.0.1", Port: 2222, Path: "/srv/edge"}},
		{name: "ssh url no port", in: "ssh://bob@m/srv", want: MirrorURL{Kind: MirrorSSH, User: "bob", Host: "m", Path: "/srv"}, str: "bob@m:/srv"},
		{name: "empty", in: "", err: "missing"},
		{name: "http", in: "https://m/x", err: "unknown scheme"},
		{name: "no module", in: "rsync://m/", err: "no module"},
		{name: "password", in: "rsync://bob:hunter2@m/x", err: "use password_file"},
		{name: "bad port", in: "rsync://m:99999/x", err: "bad port"},
		{name: "dotdot", in: "rsync://m/x/../y", err: `".."`},
		{name: "ssh url no user", in: "ssh://m/srv", err: "no user"},
		{name: "ssh url no path", in: "ssh://bob@m", err: "no path"},
		{name: "ssh no path", in: "bob@m:", err: "no path after the colon"},
		{name: "host:path without user", in: "m.example.org:/srv", err: "without a user"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := ParseMirrorURL(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseMirrorURL(%q) = %+v, %v; want an error with %q", tc.in, got, err, tc.err)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error shows the password: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParseMirrorURL(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
			str := tc.str
			if str == "" {
				str = tc.in
			}
			if got.String() != str {
				t.Errorf("String() = %q, want %q", got.String(), str)
			}
		})
	}
}

func TestValidateMirrors(t *testing.T) {
	three := 3
	neg := -1
	tests := []struct {
		name string
		ms   []Mirror
		want []string // one substring per problem, in order
	}{
		{name: "good", ms: []Mirror{
			{Name: "a", URL: "/srv/a"},
			{Name: "b", URL: "rsync://u@h/m", PasswordFile: "/etc/p", Retries: &three, Timeout: Duration(time.Minute), CheckURL: "https://h/m/"},
			{Name: "c", URL: "u@h:/srv", IdentityFile: "/k", KnownHosts: "/kh"},
		}},
		{name: "names", ms: []Mirror{{URL: "/a"}, {Name: "x y", URL: "/b"}, {Name: "a", URL: "/c"}, {Name: "a", URL: "/d"}}, want: []string{
			`mirrors[0].name: missing`, `mirrors[1].name: "x y": use letters`, `mirrors.a.name: "a" is also the name of mirrors[2]`,
		}},
		{name: "same url", ms: []Mirror{{Name: "a", URL: "/srv/a/"}, {Name: "b", URL: "/srv/a"}}, want: []string{`mirrors.b.url: "/srv/a" is also the url of mirrors[0]`}},
		{name: "publish dir", ms: []Mirror{{Name: "a", URL: "/srv/repo/"}}, want: []string{`mirrors.a.url: "/srv/repo/" is publish.dir`}},
		{name: "inside publish dir", ms: []Mirror{{Name: "a", URL: "/srv/repo/mirror"}, {Name: "b", URL: "/srv"}, {Name: "c", URL: "/srv/repository"}}, want: []string{
			`mirrors.a.url: "/srv/repo/mirror" and publish.dir "/srv/repo" are inside one another`, `mirrors.b.url: "/srv" and publish.dir`,
		}},
		{name: "bad url", ms: []Mirror{{Name: "a", URL: "ftp://x/y"}}, want: []string{`mirrors.a.url: "ftp://x/y": unknown scheme`}},
		{name: "ssh needs keys", ms: []Mirror{{Name: "a", URL: "u@h:/srv"}}, want: []string{`mirrors.a.identity_file: missing`, `mirrors.a.known_hosts: missing`}},
		{name: "keys only for ssh", ms: []Mirror{{Name: "a", URL: "/srv/a", IdentityFile: "/k", KnownHosts: "/kh", PasswordFile: "/p"}}, want: []string{
			`mirrors.a.identity_file: only for ssh`, `mirrors.a.known_hosts: only for ssh`, `mirrors.a.password_file: only for rsync daemon`,
		}},
		{name: "password without user", ms: []Mirror{{Name: "a", URL: "rsync://h/m", PasswordFile: "/p"}}, want: []string{`mirrors.a.password_file: the url names no user: write rsync://USER@h/m`}},
		{name: "quote in path", ms: []Mirror{{Name: "a", URL: "u@h:/srv", IdentityFile: "/k'x", KnownHosts: "/kh"}}, want: []string{`mirrors.a.identity_file: "/k'x": quotes`}},
		{name: "numbers", ms: []Mirror{{Name: "a", URL: "/a", Timeout: Duration(-time.Second), Backoff: Duration(-time.Second), Retries: &neg}}, want: []string{
			`mirrors.a.timeout: -1s is negative`, `mirrors.a.backoff: -1s is negative`, `mirrors.a.retries: -1: use 0`,
		}},
		{name: "check_url", ms: []Mirror{{Name: "a", URL: "/a", CheckURL: "ftp://h/"}, {Name: "b", URL: "/b", CheckURL: "https://h/{arch}/APKINDEX.tar.gz"}}, want: []string{
			`mirrors.a.check_url: "ftp://h/" is not an http(s) URL`, `mirrors.b.check_url: "https://h/{arch}/APKINDEX.tar.gz": give the base URL`,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var p Problems
			validateMirrors(&p, tc.ms, "/srv/repo")
			if len(p) != len(tc.want) {
				t.Fatalf("problems = %q, want %d like %q", p, len(tc.want), tc.want)
			}
			for i, w := range tc.want {
				if !strings.HasPrefix(p[i], w) {
					t.Errorf("problem %d = %q, want it to start with %q", i, p[i], w)
				}
			}
		})
	}
}

// TestExampleMirrors: the commented [[mirrors]] examples of
// configs/apkfarm.toml, uncommented, decode strictly and validate, and set
// every key of Mirror.
func TestExampleMirrors(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "..", "configs", "apkfarm.toml"))
	if err != nil {
		t.Fatal(err)
	}
	_, block, ok := strings.Cut(string(b), "\n# [[mirrors]]\n")
	if !ok {
		t.Fatal("configs/apkfarm.toml has no commented [[mirrors]] example")
	}
	var doc strings.Builder
	doc.WriteString("[source]\npath = \"/srv/pmaports\"\n[publish]\ndir = \"/srv/repo\"\n[[mirrors]]\n")
	for _, l := range strings.Split(block, "\n") {
		if l != "" && !strings.HasPrefix(l, "#") {
			break // the examples end at the next key or table
		}
		l = strings.TrimPrefix(strings.TrimPrefix(l, "#"), " ")
		if !strings.HasPrefix(l, "#") {
			doc.WriteString(l + "\n")
		}
	}
	c, err := Decode([]byte(doc.String()), "apkfarm.toml mirrors")
	if err != nil {
		t.Fatalf("%v\n%s", err, doc.String())
	}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	if len(c.Mirrors) != 3 {
		t.Fatalf("%d mirrors, want the 3 examples", len(c.Mirrors))
	}
	kinds := map[MirrorKind]bool{}
	for _, m := range c.Mirrors {
		u, _ := ParseMirrorURL(m.URL)
		kinds[u.Kind] = true
	}
	if len(kinds) != 3 {
		t.Errorf("the examples show kinds %v, want local, rsync and ssh", kinds)
	}
	for _, key := range tomlKeys(reflect.TypeOf(Mirror{}), "") {
		if !strings.Contains(block, "\n# "+key+" =") {
			t.Errorf("the [[mirrors]] examples do not show key %q", key)
		}
	}
}

// FuzzParseMirrorURL: any string is a mirror URL or an error, never a
// panic, and a parsed URL written back parses to the same thing.
func FuzzParseMirrorURL(f *testing.F) {
	for _, s := range []string{"/srv/m", "rsync://u@h:873/m/p", "u@h:p", "ssh://u@[::1]:22/x", "a/b:c", "rsync://[::1/x", "u@[::1]:/p"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		u, err := ParseMirrorURL(s)
		if err != nil {
			return
		}
		back, err := ParseMirrorURL(u.String())
		if err != nil || back != u {
			t.Fatalf("%q parsed to %+v, written back as %q, which parses to %+v, %v", s, u, u.String(), back, err)
		}
	})
}
