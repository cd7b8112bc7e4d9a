package mirror

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/config"
	"github.com/apkfarm/apkfarm/runner/mirror/mirrortest"
	"github.com/apkfarm/apkfarm/runner/published/publishedtest"
	"github.com/apkfarm/apkfarm/state"
)

// fixture is a repository with its keys.
type fixture struct {
	signer *apk.Signer
	keys   *apk.Keyring
	repo   string
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	alpinetest.RequireCommand(t, "rsync", "apt-get install rsync")
	s, dir := publishedtest.Signer(t)
	keys, err := apk.LoadKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{signer: s, keys: keys, repo: filepath.Join(t.TempDir(), "repo")}
}

// target makes a Target of url with quick retries for tests.
func target(t testing.TB, name, url string, edit func(*config.Mirror)) Target {
	t.Helper()
	zero := 0
	m := config.Mirror{Name: name, URL: url, Timeout: config.Duration(time.Minute), Retries: &zero,
		Backoff: config.Duration(10 * time.Millisecond)}
	if edit != nil {
		edit(&m)
	}
	tg, err := NewTarget(m)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func byName(rs []state.MirrorResult) map[string]state.MirrorResult {
	out := map[string]state.MirrorResult{}
	for _, r := range rs {
		out[r.Name] = r
	}
	return out
}

func wantOK(t *testing.T, r state.MirrorResult) {
	t.Helper()
	if !r.OK || r.Error != "" || r.Lagging || r.Attempts != 1 || r.End.Before(r.Start) {
		t.Errorf("mirror %q: %+v, want ok after one attempt", r.Name, r)
	}
}

func wantFailed(t *testing.T, r state.MirrorResult, attempts int, says ...string) {
	t.Helper()
	if r.OK || r.Attempts != attempts {
		t.Errorf("mirror %q: ok=%t after %d attempts, want failed after %d: %s", r.Name, r.OK, r.Attempts, attempts, r.Error)
	}
	for _, s := range append([]string{fmt.Sprintf("mirror %q: ", r.Name)}, says...) {
		if !strings.Contains(r.Error, s) {
			t.Errorf("mirror %q: error %q does not say %q", r.Name, r.Error, s)
		}
	}
}

// TestPushAllKinds pushes to two local directories, an rsync daemon with a
// password, an sshd, and three mirrors that fail in different ways, all at
// once: the good ones complete and read back the repository's indexes
// whatever the others do; then a new version of the repository replaces
// the old one everywhere, deletions included.
func TestPushAllKinds(t *testing.T) {
	f := newFixture(t)
	daemon := mirrortest.StartDaemon(t, mirrortest.DaemonOptions{Password: true})
	sshd := mirrortest.StartSSHD(t)
	tmp := t.TempDir()
	localA, localB, sshDir := filepath.Join(tmp, "a"), filepath.Join(tmp, "b"), filepath.Join(tmp, "ssh")
	notDir := filepath.Join(tmp, "file")
	if err := os.WriteFile(notDir, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	one := 1
	targets := []Target{
		target(t, "local-a", localA, nil),
		target(t, "local-b", localB, nil),
		target(t, "daemon", daemon.URL(), func(m *config.Mirror) { m.PasswordFile = daemon.PasswordFile }),
		target(t, "ssh", sshd.URL(sshDir), func(m *config.Mirror) {
			m.IdentityFile, m.KnownHosts = sshd.IdentityFile, sshd.KnownHosts
		}),
		// Below a regular file: cannot be written. Retried once.
		target(t, "broken", filepath.Join(notDir, "mirror"), func(m *config.Mirror) { m.Retries = &one }),
		// Nothing listens.
		target(t, "down", fmt.Sprintf("rsync://127.0.0.1:%d/repo", mirrortest.ClosedPort(t)), func(m *config.Mirror) { m.Retries = &one }),
		// Accepts and never answers.
		target(t, "hang", "rsync://"+mirrortest.Hang(t)+"/repo", func(m *config.Mirror) { m.Timeout = config.Duration(3 * time.Second) }),
	}
	good := map[string]string{"local-a": localA, "local-b": localB, "daemon": daemon.Dir, "ssh": sshDir}

	v1 := repoSpec{arches: []string{"x86_64", "aarch64", "armv7"}, names: names(20, "pkg"), version: "1.0-r0", pkgBytes: 3000}
	writeRepo(t, f.repo, f.signer, v1)
	res := Push(context.Background(), f.repo, targets, f.keys)
	if len(res) != len(targets) {
		t.Fatalf("%d results for %d mirrors", len(res), len(targets))
	}
	for i, r := range res {
		if r.Name != targets[i].Name || r.URL != targets[i].URL.String() {
			t.Errorf("result %d is %q at %q, want %q at %q (in order)", i, r.Name, r.URL, targets[i].Name, targets[i].URL)
		}
	}
	got := byName(res)
	for name, dir := range good {
		wantOK(t, got[name])
		if got[name].BytesSent < 3*20*3000 {
			t.Errorf("mirror %q sent %d bytes, less than the packages", name, got[name].BytesSent)
		}
		sameTree(t, name, dir, f.repo)
	}
	wantFailed(t, got["broken"], 2, "Not a directory")
	wantFailed(t, got["down"], 2, "Connection refused", "nothing listens there")
	wantFailed(t, got["hang"], 1, "timed out after 3s in pass packages")
	if d := got["hang"].End.Sub(got["hang"].Start); d > 3*time.Second+killGrace {
		t.Errorf("the hanging mirror took %s, its timeout is 3s", d)
	}
	for _, r := range res {
		if strings.Contains(r.URL, "s3cret") || strings.Contains(r.Error, "s3cret") {
			t.Errorf("mirror %q shows the daemon password: %+v", r.Name, r)
		}
	}

	// Version 2: half the packages go, others come, every index changes.
	v2 := v1
	v2.names = append(names(10, "pkg"), names(15, "new")...)
	v2.version = "2.0-r0"
	writeRepo(t, f.repo, f.signer, v2)
	goodTargets := targets[:4]
	for _, r := range Push(context.Background(), f.repo, goodTargets, f.keys) {
		wantOK(t, r)
		sameTree(t, r.Name, good[r.Name], f.repo)
	}
	// Unchanged: next to nothing is sent.
	for _, r := range Push(context.Background(), f.repo, goodTargets, f.keys) {
		wantOK(t, r)
		if r.BytesSent > 64<<10 {
			t.Errorf("mirror %q: an unchanged repository sent %d bytes", r.Name, r.BytesSent)
		}
	}
}

// TestUnknownHostKey: an sshd whose key is not in known_hosts is refused,
// at once (no retry can help), and nothing is written; with its key the
// same mirror works.
func TestUnknownHostKey(t *testing.T) {
	f := newFixture(t)
	sshd := mirrortest.StartSSHD(t)
	tmp := t.TempDir()
	dir := filepath.Join(tmp, "mirror")
	other := filepath.Join(tmp, "other_known_hosts")
	key := mirrortest.Keygen(t, filepath.Join(tmp, "stranger"))
	if err := os.WriteFile(other, []byte(fmt.Sprintf("[127.0.0.1]:%d %s", sshd.Port, key)), 0o644); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(tmp, "empty_known_hosts")
	if err := os.WriteFile(empty, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	writeRepo(t, f.repo, f.signer, repoSpec{arches: []string{"x86_64"}, names: names(3, "p"), version: "1-r0"})
	three := 3
	for kh, remedy := range map[string]string{other: "not the one in known_hosts", empty: "not in known_hosts"} {
		tg := target(t, "ssh", sshd.URL(dir), func(m *config.Mirror) {
			m.IdentityFile, m.KnownHosts, m.Retries = sshd.IdentityFile, kh, &three
		})
		r := Push(context.Background(), f.repo, []Target{tg}, f.keys)[0]
		wantFailed(t, r, 1, "Host key verification failed", remedy)
		if _, err := os.Stat(dir); !os.IsNotExist(err) {
			t.Errorf("known_hosts %s: the refused mirror was written: %v", filepath.Base(kh), err)
		}
		if err := Check(context.Background(), tg); err == nil || !strings.Contains(err.Error(), "Host key verification failed") {
			t.Errorf("Check with %s = %v, want the host key refused", filepath.Base(kh), err)
		}
	}
	missing := target(t, "ssh", sshd.URL(dir), func(m *config.Mirror) {
		m.IdentityFile, m.KnownHosts = sshd.IdentityFile, filepath.Join(tmp, "nope")
	})
	r := Push(context.Background(), f.repo, []Target{missing}, f.keys)[0]
	if r.OK || r.Attempts != 0 || !strings.Contains(r.Error, `known_hosts: open `+filepath.Join(tmp, "nope")) {
		t.Errorf("a missing known_hosts file: %+v, want an error naming it before any attempt", r)
	}
	tg := target(t, "ssh", sshd.URL(dir), func(m *config.Mirror) { m.IdentityFile, m.KnownHosts = sshd.IdentityFile, sshd.KnownHosts })
	wantOK(t, Push(context.Background(), f.repo, []Target{tg}, f.keys)[0])
	sameTree(t, "ssh mirror", dir, f.repo)
}

// TestTimeout: a mirror that accepts and never answers fails within its
// timeout, with an error naming it, and no rsync is left behind; so does
// one whose push is cancelled.
func TestTimeout(t *testing.T) {
	f := newFixture(t)
	writeRepo(t, f.repo, f.signer, repoSpec{arches: []string{"x86_64"}, names: names(3, "p"), version: "1-r0"})
	addr := mirrortest.Hang(t)
	three := 3
	tg := target(t, "slow", "rsync://"+addr+"/repo", func(m *config.Mirror) {
		m.Timeout, m.Retries = config.Duration(2*time.Second), &three
	})
	t0 := time.Now()
	r := Push(context.Background(), f.repo, []Target{tg}, f.keys)[0]
	took := time.Since(t0)
	wantFailed(t, r, 1, `mirror "slow": timed out after 2s in pass packages (1 attempt, killed)`)
	if took > 2*time.Second+killGrace {
		t.Errorf("Push took %s with a 2s timeout", took)
	}
	noRsyncLeft(t, addr)

	ctx, cancel := context.WithCancel(context.Background())
	tg.Timeout = time.Minute
	time.AfterFunc(300*time.Millisecond, cancel)
	r = Push(ctx, f.repo, []Target{tg}, f.keys)[0]
	wantFailed(t, r, 1, `mirror "slow": cancelled in pass packages (1 attempt): context canceled`)
	noRsyncLeft(t, addr)
}

// noRsyncLeft fails when a process still has addr on its command line.
func noRsyncLeft(t *testing.T, addr string) {
	t.Helper()
	procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, p := range procs {
		b, err := os.ReadFile(p)
		if err == nil && strings.Contains(string(b), addr) {
			t.Errorf("%s is still running: %q", filepath.Dir(p), strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
}

// TestLagging: a mirror that serves another index than the repository's
// after the push is reported lagging, whether read back through rsync or
// from its check_url, and whether its index is stale (signed, older),
// tampered with (fails verification) or gone.
func TestLagging(t *testing.T) {
	f := newFixture(t)
	old := filepath.Join(t.TempDir(), "old")
	spec := repoSpec{arches: []string{"x86_64", "aarch64"}, names: names(5, "p"), version: "1-r0"}
	writeRepo(t, old, f.signer, spec)
	spec.version = "2-r0"
	writeRepo(t, f.repo, f.signer, spec)
	stale := httptest.NewServer(http.FileServer(http.Dir(old)))
	t.Cleanup(stale.Close)

	tests := []struct {
		name     string
		checkURL func(mirror string) string
		after    func(t *testing.T, mirror string) // after the indexes pass, not on the test's goroutine: no Fatal
		says     string
	}{
		{name: "fresh over http", checkURL: func(m string) string { return serve(t, m) }},
		{name: "fresh through rsync"},
		{name: "stale over http", checkURL: func(string) string { return stale.URL + "/" },
			says: "is another index (", // both arches
		},
		{name: "tampered", after: func(t *testing.T, m string) {
			p := filepath.Join(m, "aarch64", indexName)
			b, err := os.ReadFile(p)
			if err == nil {
				b[len(b)-10] ^= 0xff
				err = os.WriteFile(p, b, 0o644)
			}
			if err != nil {
				t.Error(err)
			}
		}, says: "aarch64/APKINDEX.tar.gz fails verification"},
		{name: "stale", after: func(t *testing.T, m string) {
			b, err := os.ReadFile(filepath.Join(old, "x86_64", indexName))
			if err == nil {
				err = os.WriteFile(filepath.Join(m, "x86_64", indexName), b, 0o644)
			}
			if err != nil {
				t.Error(err)
			}
		}, says: "x86_64/APKINDEX.tar.gz is another index ("},
		{name: "gone", after: func(t *testing.T, m string) {
			if err := os.Remove(filepath.Join(m, "x86_64", indexName)); err != nil {
				t.Error(err)
			}
		}, says: "x86_64/APKINDEX.tar.gz is missing"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "mirror")
			tg := target(t, "m", dir, nil)
			if tc.checkURL != nil {
				tg.CheckURL = tc.checkURL(dir)
			}
			var opts []Option
			if tc.after != nil {
				opts = append(opts, WithAfterPass(func(_ string, p Pass) {
					if p == PassIndexes {
						tc.after(t, dir)
					}
				}))
			}
			r := Push(context.Background(), f.repo, []Target{tg}, f.keys, opts...)[0]
			if tc.says == "" {
				wantOK(t, r)
				return
			}
			if r.OK || !r.Lagging || !strings.Contains(r.Error, `mirror "m": lagging: read back`) || !strings.Contains(r.Error, tc.says) {
				t.Errorf("%+v, want lagging, saying %q", r, tc.says)
			}
		})
	}
}

// serve serves dir over HTTP until the test ends and returns its URL.
func serve(t *testing.T, dir string) string {
	s := httptest.NewServer(http.FileServer(http.Dir(dir)))
	t.Cleanup(s.Close)
	return s.URL
}

// TestPassOrder: between every two passes of a push that replaces version 1
// by version 2, on a local and a daemon mirror, no index names a package
// the mirror lacks; the old index stays until every new package is there,
// the status tree comes after the new index, and old packages go last.
func TestPassOrder(t *testing.T) {
	f := newFixture(t)
	daemon := mirrortest.StartDaemon(t, mirrortest.DaemonOptions{})
	local := filepath.Join(t.TempDir(), "local")
	targets := []Target{target(t, "local", local, nil), target(t, "daemon", daemon.URL(), nil)}
	dirs := map[string]string{"local": local, "daemon": daemon.Dir}
	v1 := repoSpec{arches: []string{"x86_64", "aarch64"}, names: names(8, "p"), version: "1-r0"}
	writeRepo(t, f.repo, f.signer, v1)
	site := filepath.Join(t.TempDir(), "site")
	writeSite(t, site, "v1")
	for _, r := range Push(context.Background(), f.repo, targets, f.keys, WithTree(site, "status")) {
		wantOK(t, r)
	}
	oldIndex, err := os.ReadFile(filepath.Join(f.repo, "x86_64", indexName))
	if err != nil {
		t.Fatal(err)
	}
	v2 := v1
	v2.names, v2.version = names(5, "q"), "2-r0"
	writeRepo(t, f.repo, f.signer, v2)
	writeSite(t, site, "v2")
	newIndex, err := os.ReadFile(filepath.Join(f.repo, "x86_64", indexName))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex // the hook runs on each mirror's goroutine
	seen := map[string][]Pass{}
	hook := func(name string, p Pass) {
		dir := dirs[name]
		mu.Lock()
		seen[name] = append(seen[name], p)
		mu.Unlock()
		when := fmt.Sprintf("%s after pass %s", name, p)
		servesOnlyWhatItHas(t, when, dir, f.keys)
		idx, _ := os.ReadFile(filepath.Join(dir, "x86_64", indexName))
		status, _ := os.ReadFile(filepath.Join(dir, "status", "index.html"))
		_, oldErr := os.Stat(filepath.Join(dir, "x86_64", "p0000-1-r0.apk"))
		_, newErr := os.Stat(filepath.Join(dir, "x86_64", "q0000-2-r0.apk"))
		check := func(ok bool, what string) {
			if !ok {
				t.Errorf("%s: %s", when, what)
			}
		}
		switch p {
		case PassPackages:
			check(string(idx) == string(oldIndex), "the index is not the old one")
			check(newErr == nil, "a new package is missing")
			check(string(status) == "v1", "the status is not the old one")
		case PassIndexes:
			check(string(idx) == string(newIndex), "the index is not the new one")
			check(oldErr == nil, "an old package is gone before the delete pass")
			check(string(status) == "v1", "the status changed before the trees pass")
		case PassTrees:
			check(string(status) == "v2", "the status is not the new one")
			check(oldErr == nil, "an old package is gone before the delete pass")
		case PassDelete, PassReadBack:
			check(os.IsNotExist(oldErr), "an old package is still there")
			check(string(status) == "v2", "the status is not the new one")
		}
	}
	for _, r := range Push(context.Background(), f.repo, targets, f.keys, WithTree(site, "status"), WithAfterPass(hook)) {
		wantOK(t, r)
	}
	want := []Pass{PassPackages, PassIndexes, PassTrees, PassDelete, PassReadBack}
	for name := range dirs {
		if fmt.Sprint(seen[name]) != fmt.Sprint(want) {
			t.Errorf("%s: passes %v, want %v", name, seen[name], want)
		}
		sameTree(t, name+" status", filepath.Join(dirs[name], "status"), site)
	}
}

// TestDeleteOnlyWhenNeeded: an unchanged repository is pushed without the
// delete pass; a file the repository does not have (a stray, or what a
// killed push left) brings it back, and goes.
func TestDeleteOnlyWhenNeeded(t *testing.T) {
	f := newFixture(t)
	writeRepo(t, f.repo, f.signer, repoSpec{arches: []string{"x86_64"}, names: names(3, "p"), version: "1-r0"})
	for _, kind := range []string{"local", "daemon", "ssh"} {
		t.Run(kind, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "mirror")
			var tg Target
			switch kind {
			case "local":
				tg = target(t, "m", dir, nil)
			case "daemon":
				d := mirrortest.StartDaemon(t, mirrortest.DaemonOptions{Dir: dir})
				tg = target(t, "m", d.URL(), nil)
			case "ssh":
				s := mirrortest.StartSSHD(t)
				tg = target(t, "m", s.URL(dir), func(m *config.Mirror) { m.IdentityFile, m.KnownHosts = s.IdentityFile, s.KnownHosts })
			}
			wantOK(t, Push(context.Background(), f.repo, []Target{tg}, f.keys)[0])
			push := func() []Pass {
				var passes []Pass
				wantOK(t, Push(context.Background(), f.repo, []Target{tg}, f.keys, WithAfterPass(func(_ string, p Pass) { passes = append(passes, p) }))[0])
				return passes
			}
			if got, want := fmt.Sprint(push()), fmt.Sprint([]Pass{PassPackages, PassIndexes, PassReadBack}); got != want {
				t.Errorf("unchanged: passes %s, want %s", got, want)
			}
			for _, stray := range []string{"x86_64/.p0000-1-r0.apk.Xy12ab", "x86_64/.~tmp~/APKINDEX.tar.gz", "gone/APKINDEX.tar.gz"} {
				p := filepath.Join(dir, stray)
				if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, []byte("stray"), 0o644); err != nil {
					t.Fatal(err)
				}
				if got, want := fmt.Sprint(push()), fmt.Sprint([]Pass{PassPackages, PassIndexes, PassDelete, PassReadBack}); got != want {
					t.Errorf("with %s: passes %s, want %s", stray, got, want)
				}
				sameTree(t, "mirror", dir, f.repo)
			}
		})
	}
}

func writeSite(t testing.TB, dir, content string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "index.html"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBadSource: a repository whose index does not verify, or a tree that
// would land on the repository's own files, is pushed nowhere.
func TestBadSource(t *testing.T) {
	f := newFixture(t)
	mirror := filepath.Join(t.TempDir(), "mirror")
	tg := target(t, "m", mirror, nil)
	writeRepo(t, f.repo, publishedtest.Stranger(t, "stranger-1234abcd.rsa.pub"), repoSpec{arches: []string{"x86_64"}, names: names(2, "p"), version: "1-r0"})
	r := Push(context.Background(), f.repo, []Target{tg}, f.keys)[0]
	if r.OK || r.Attempts != 0 || !strings.Contains(r.Error, `mirror "m": scan repository`) || !strings.Contains(r.Error, "x86_64/APKINDEX.tar.gz") ||
		!strings.Contains(r.Error, "nothing pushed") {
		t.Errorf("an index signed by an unknown key: %+v", r)
	}
	writeRepo(t, f.repo, f.signer, repoSpec{arches: []string{"x86_64"}, names: names(2, "p"), version: "1-r0"})
	for _, tc := range []struct{ dest, says string }{
		{"x86_64", `the repository has its own "x86_64"`},
		{"a/b", "one plain path component"},
		{"..", "one plain path component"},
	} {
		r := Push(context.Background(), f.repo, []Target{tg}, f.keys, WithTree(t.TempDir(), tc.dest))[0]
		if r.OK || !strings.Contains(r.Error, tc.says) {
			t.Errorf("tree to %q: %+v, want an error saying %q", tc.dest, r, tc.says)
		}
	}
	if _, err := os.Stat(mirror); !os.IsNotExist(err) {
		t.Errorf("the mirror was written: %v", err)
	}
	if r := Push(context.Background(), f.repo, []Target{tg}, nil)[0]; r.OK || !strings.Contains(r.Error, "no keys") {
		t.Errorf("no keys: %+v", r)
	}
}

// killGrace is how long after its timeout a push may still take: rsync is
// killed at once, its pipes may stay open up to cmd.WaitDelay, plus a
// margin for a busy machine.
const killGrace = waitDelay + 3*time.Second
