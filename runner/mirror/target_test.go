package mirror

import (
	"strings"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/config"
)

func TestNewTargetDefaults(t *testing.T) {
	zero := 0
	tests := []struct {
		name    string
		m       config.Mirror
		timeout time.Duration
		retries int
		backoff time.Duration
		err     string
	}{
		{name: "defaults", m: config.Mirror{Name: "a", URL: "/m"}, timeout: 10 * time.Minute, retries: 3, backoff: 5 * time.Second},
		{name: "set", m: config.Mirror{Name: "a", URL: "/m", Timeout: config.Duration(time.Minute), Retries: &zero, Backoff: config.Duration(time.Second)},
			timeout: time.Minute, retries: 0, backoff: time.Second},
		{name: "bad url", m: config.Mirror{Name: "a", URL: "ftp://x"}, err: `mirror "a": url: "ftp://x": unknown scheme`},
		{name: "ssh without keys", m: config.Mirror{Name: "a", URL: "u@h:/m"}, err: "needs identity_file and known_hosts"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := NewTarget(tc.m)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("NewTarget = %v, want an error with %q", err, tc.err)
				}
				return
			}
			if err != nil || got.Timeout != tc.timeout || got.Retries != tc.retries || got.Backoff != tc.backoff {
				t.Errorf("NewTarget = %+v, %v", got, err)
			}
		})
	}
}

func TestDestAndTransport(t *testing.T) {
	tests := []struct {
		url, sub, dest string
		transport      []string // substrings of the joined transport options
	}{
		{url: "/srv/m/", dest: "/srv/m/"},
		{url: "rel/m", sub: "status", dest: "./rel/m/status/"},
		{url: "-m", dest: "./-m/"},
		{url: "rsync://u@h:8873/mod/p", sub: "status", dest: "rsync://u@h:8873/mod/p/status/", transport: []string{"--contimeout=", "--password-file=/pw"}},
		{url: "u@h:edge", dest: "u@h:edge/", transport: []string{"'StrictHostKeyChecking=yes'", "'UserKnownHostsFile=/kh'", "'IdentityFile=/id'", "'BatchMode=yes'", "'IdentitiesOnly=yes'"}},
		{url: "ssh://u@[::1]:2222/srv/m", dest: "u@[::1]:/srv/m/", transport: []string{"'-p' '2222'"}},
	}
	for _, tc := range tests {
		m := config.Mirror{Name: "x", URL: tc.url}
		u, _ := config.ParseMirrorURL(tc.url)
		switch u.Kind {
		case config.MirrorSSH:
			m.IdentityFile, m.KnownHosts = "/id", "/kh"
		case config.MirrorRsync:
			m.PasswordFile = "/pw"
		}
		tg, err := NewTarget(m)
		if err != nil {
			t.Fatal(err)
		}
		if got := tg.dest(tc.sub); got != tc.dest {
			t.Errorf("%s: dest(%q) = %q, want %q", tc.url, tc.sub, got, tc.dest)
		}
		args := strings.Join(tg.transportArgs(time.Minute), " ")
		for _, w := range append(tc.transport, "--timeout=60") {
			if !strings.Contains(args, w) {
				t.Errorf("%s: transport %q lacks %q", tc.url, args, w)
			}
		}
	}
}

func TestParseStats(t *testing.T) {
	out := "Number of files: 3 (reg: 1, dir: 2)\nTotal file size: 3 bytes\nTotal bytes sent: 1,234,567\nTotal bytes received: 27\n"
	if got := parseStats(out).BytesSent; got != 1234567 {
		t.Errorf("bytes sent = %d, want 1234567", got)
	}
	if got := parseStats("no stats").BytesSent; got != 0 {
		t.Errorf("bytes sent without stats = %d", got)
	}
}

func TestWhy(t *testing.T) {
	stderr := `@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@
@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @
IT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!
Add correct host key in /kh to get rid of this message.
Offending ED25519 key in /kh:1
Host key for [h]:22 has changed and you have requested strict checking.
Host key verification failed.
rsync: connection unexpectedly closed (0 bytes received so far) [sender]
rsync error: unexplained error (code 255) at io.c(232) [sender=3.2.7]
`
	want := "Offending ED25519 key in /kh:1; Host key for [h]:22 has changed and you have requested strict checking.; Host key verification failed."
	if got := why(stderr); got != want {
		t.Errorf("why = %q\nwant  %q", got, want)
	}
	if got := why("a\nb\nc\nd\ne\nrsync error: x (code 10)\n"); got != "b; c; d; e" {
		t.Errorf("why keeps %q, want the last four lines", got)
	}
}

func TestCapped(t *testing.T) {
	head, tail := &capped{max: 4}, &capped{max: 4, tail: true}
	for _, s := range []string{"abc", "def", "gh"} {
		head.Write([]byte(s))
		tail.Write([]byte(s))
	}
	if head.b.String() != "abcd" || tail.b.String() != "efgh" {
		t.Errorf("head %q, tail %q; want abcd and efgh", head.b.String(), tail.b.String())
	}
}

func TestEscapePattern(t *testing.T) {
	if got := escapePattern(`a*b?c[d\e/APKINDEX.tar.gz`); got != `a\*b\?c\[d\\e/APKINDEX.tar.gz` {
		t.Errorf("escapePattern = %q", got)
	}
}
