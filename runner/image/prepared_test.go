package image_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/image"
	"github.com/apkfarm/apkfarm/runner/image/imagetest"
)

// fakeInstaller "installs" packages by adding their records to the root's
// installed database, and counts its calls.
type fakeInstaller struct {
	mu    sync.Mutex
	calls [][]string
	binds [][]string
	fail  error
	skip  string // a package it leaves out
}

func (f *fakeInstaller) install(ctx context.Context, root, arch string, argv, binds []string, log io.Writer) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, argv)
	f.binds = append(f.binds, binds)
	if f.fail != nil {
		fmt.Fprintln(log, "ERROR: unable to select packages")
		return f.fail
	}
	db := filepath.Join(root, "lib/apk/db/installed")
	b, err := os.ReadFile(db)
	if err != nil {
		return err
	}
	for _, p := range argv[3:] {
		p, _, _ = strings.Cut(p, ">=")
		if p != f.skip {
			b = append(b, fmt.Sprintf("P:%s\nV:1.0-r0\np:cmd:%s=1.0-r0\n\n", p, p)...)
		}
	}
	return os.WriteFile(db, b, 0o644)
}

func (f *fakeInstaller) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.calls)
}

func writeIndex(t *testing.T, repo, arch, content string) {
	t.Helper()
	p := filepath.Join(repo, arch, "APKINDEX.tar.gz")
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readIn(t *testing.T, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestPrepared: a prepared root has the keys, the repositories file and
// the packages; it is made once and reused until an input changes (the
// package list, a repository's index, the keys); a failed preparation
// leaves nothing.
func TestPrepared(t *testing.T) {
	ctx := context.Background()
	cache := t.TempDir()
	st, err := image.NewStore(cache)
	if err != nil {
		t.Fatal(err)
	}
	ref := imagetest.AlpineRef(t, "x86_64")
	repo, keys := t.TempDir(), t.TempDir()
	writeIndex(t, repo, "x86_64", "index 1")
	if err := os.WriteFile(filepath.Join(keys, "farm-1.rsa.pub"), []byte("-----BEGIN PUBLIC KEY-----\nfarm\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(keys, "README"), []byte("not a key"), 0o644)
	inst := &fakeInstaller{}
	r := image.Recipe{Packages: []string{"abuild", "build-base>=0.5"}, Repositories: []string{repo, "@testing " + repo + "/testing"}, KeysDir: keys}

	dir, key, err := st.Prepared(ctx, ref, "x86_64", r, inst.install)
	if err != nil {
		t.Fatal(err)
	}
	if inst.count() != 1 || !slices.Equal(inst.calls[0], []string{"apk", "add", "--no-progress", "abuild", "build-base>=0.5"}) {
		t.Errorf("installer calls = %q", inst.calls)
	}
	if want := []string{repo, repo + "/testing"}; !slices.Equal(inst.binds[0], want) {
		t.Errorf("binds = %q; want %q", inst.binds[0], want)
	}
	if got := readIn(t, dir, "etc/apk/repositories"); got != repo+"\n@testing "+repo+"/testing\n" {
		t.Errorf("repositories = %q", got)
	}
	if got := readIn(t, dir, "etc/apk/keys/farm-1.rsa.pub"); !strings.Contains(got, "farm") {
		t.Errorf("key = %q", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "etc/apk/keys/README")); err == nil {
		t.Error("a file that is not a key was copied")
	}
	if !strings.Contains(readIn(t, dir, "lib/apk/db/installed"), "P:abuild\n") {
		t.Error("the installed database lacks abuild")
	}
	base, _, err := st.Rootfs(ctx, ref, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(readIn(t, base, "lib/apk/db/installed"), "P:abuild\n") {
		t.Error("the image's own rootfs was written")
	}

	// The same inputs: the same root, no apk add.
	again, key2, err := st.Prepared(ctx, ref, "x86_64", r, inst.install)
	if err != nil || again != dir || key2 != key || inst.count() != 1 {
		t.Errorf("second Prepared = %s %s %v, %d installs; want the same root without installing", again, key2, err, inst.count())
	}
	// The package order does not matter.
	r2 := r
	r2.Packages = []string{"build-base>=0.5", "abuild"}
	if again, _, _ := st.Prepared(ctx, ref, "x86_64", r2, inst.install); again != dir || inst.count() != 1 {
		t.Errorf("reordered packages: %s, %d installs", again, inst.count())
	}

	// Each input that changes makes a new root.
	for _, tc := range []struct {
		name   string
		change func()
	}{
		{"a repository's index", func() { time.Sleep(10 * time.Millisecond); writeIndex(t, repo, "x86_64", "index 2") }},
		{"an index appears", func() { writeIndex(t, repo+"/testing", "x86_64", "index t") }},
		{"a package", func() { r.Packages = append(r.Packages, "ccache") }},
		{"a key", func() { os.WriteFile(filepath.Join(keys, "farm-2.rsa.pub"), []byte("key 2"), 0o644) }},
	} {
		n := inst.count()
		tc.change()
		d, k, err := st.Prepared(ctx, ref, "x86_64", r, inst.install)
		if err != nil || d == dir || k == key || inst.count() != n+1 {
			t.Errorf("after %s changed: %s %s %v, %d installs (was %d); want a new root", tc.name, d, k, err, inst.count(), n)
		}
		dir, key = d, k
	}

	// Failures name what went wrong and leave no half-made root.
	bad := &fakeInstaller{fail: errors.New("exit 1")}
	r.Packages = []string{"no-such-package"}
	if _, _, err := st.Prepared(ctx, ref, "x86_64", r, bad.install); err == nil ||
		!strings.Contains(err.Error(), "apk add --no-progress no-such-package: exit 1") || !strings.Contains(err.Error(), "unable to select") {
		t.Errorf("failing apk add: %v", err)
	}
	r.Packages = []string{"abuild", "gone"}
	if _, _, err := st.Prepared(ctx, ref, "x86_64", r, (&fakeInstaller{skip: "gone"}).install); err == nil ||
		!strings.Contains(err.Error(), `apk add left ["gone"] uninstalled`) {
		t.Errorf("a package apk did not install: %v", err)
	}
	if left, _ := filepath.Glob(filepath.Join(cache, "prepared", ".prepare-*")); len(left) > 0 {
		t.Errorf("left behind: %v", left)
	}
	for _, tc := range []struct {
		r    image.Recipe
		want string
	}{
		{image.Recipe{Packages: []string{"x"}, Repositories: []string{"relative/repo"}}, `repository "relative/repo": want an http(s) URL or an absolute path`},
		{image.Recipe{Packages: []string{"x"}, Repositories: []string{"@tag"}}, `a tag without a location`},
		{image.Recipe{Packages: []string{"x"}, KeysDir: t.TempDir()}, "no *.pub file in"},
		{image.Recipe{Packages: []string{"x"}, KeysDir: "/nonexistent"}, "read keys"},
	} {
		if _, _, err := st.Prepared(ctx, ref, "x86_64", tc.r, inst.install); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Prepared(%+v) = %v; want %q", tc.r, err, tc.want)
		}
	}
}

// TestPreparedRemoteRepository: a remote repository's state is its
// index's hash (or "absent" on 404), fetched once per resolve TTL; when it
// cannot be read, the last root of the same recipe is reused with a
// warning, and without one the error names the repository.
func TestPreparedRemoteRepository(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	index, gets := "index 1", 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		gets++
		switch r.URL.Path {
		case "/main/x86_64/APKINDEX.tar.gz":
			io.WriteString(w, index)
		default:
			http.NotFound(w, r)
		}
	}))
	var logs bytes.Buffer
	st, err := image.NewStore(t.TempDir(), image.WithResolveTTL(0),
		image.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))))
	if err != nil {
		t.Fatal(err)
	}
	ref := imagetest.AlpineRef(t, "x86_64")
	inst := &fakeInstaller{}
	r := image.Recipe{Packages: []string{"abuild"}, Repositories: []string{srv.URL + "/main", srv.URL + "/community/"}}
	dir, _, err := st.Prepared(ctx, ref, "x86_64", r, inst.install)
	if err != nil {
		t.Fatal(err)
	}
	if d, _, _ := st.Prepared(ctx, ref, "x86_64", r, inst.install); d != dir || inst.count() != 1 {
		t.Errorf("unchanged remote index: %s, %d installs", d, inst.count())
	}
	mu.Lock()
	index = "index 2"
	mu.Unlock()
	d2, _, err := st.Prepared(ctx, ref, "x86_64", r, inst.install)
	if err != nil || d2 == dir || inst.count() != 2 {
		t.Errorf("changed remote index: %s %v, %d installs; want a new root", d2, err, inst.count())
	}
	srv.Close()
	if d, _, err := st.Prepared(ctx, ref, "x86_64", r, inst.install); err != nil || d != d2 || inst.count() != 2 {
		t.Errorf("repository down: %s %v, %d installs; want the last root", d, err, inst.count())
	}
	if !strings.Contains(logs.String(), "reusing the last build root") {
		t.Errorf("no warning when reusing the last root:\n%s", logs.String())
	}
	r.Packages = []string{"other"}
	if _, _, err := st.Prepared(ctx, ref, "x86_64", r, inst.install); err == nil || !strings.Contains(err.Error(), `repository "`+srv.URL+`/main"`) {
		t.Errorf("repository down, no earlier root: %v", err)
	}
}

// TestPrunePrepared: prepared roots not handed out for long go, with
// their records; recent ones stay.
func TestPrunePrepared(t *testing.T) {
	ctx := context.Background()
	cache := t.TempDir()
	st, err := image.NewStore(cache)
	if err != nil {
		t.Fatal(err)
	}
	ref := imagetest.AlpineRef(t, "x86_64")
	inst := &fakeInstaller{}
	repo := []string{t.TempDir()}
	old, _, err := st.Prepared(ctx, ref, "x86_64", image.Recipe{Packages: []string{"a"}, Repositories: repo}, inst.install)
	if err != nil {
		t.Fatal(err)
	}
	recent, _, err := st.Prepared(ctx, ref, "x86_64", image.Recipe{Packages: []string{"b"}, Repositories: repo}, inst.install)
	if err != nil {
		t.Fatal(err)
	}
	// A root superseded by a newer one of its recipe goes after an hour.
	writeIndex(t, repo[0], "x86_64", "changed")
	superseded := recent
	recent, _, err = st.Prepared(ctx, ref, "x86_64", image.Recipe{Packages: []string{"b"}, Repositories: repo}, inst.install)
	if err != nil || recent == superseded {
		t.Fatalf("after the index changed: %s %v", recent, err)
	}
	age(t, superseded, 2*time.Hour)
	age(t, old, 48*time.Hour)
	removed, err := st.Prune(ctx, 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); err == nil {
		t.Error("an old prepared root stayed")
	}
	if _, err := os.Stat(superseded); err == nil {
		t.Error("a superseded prepared root stayed")
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("a recent prepared root went: %v", err)
	}
	if n := slices.IndexFunc(removed, func(s string) bool { return strings.HasPrefix(s, "prepared:") }); n < 0 {
		t.Errorf("removed = %q; want the prepared root", removed)
	}
	if links, _ := filepath.Glob(filepath.Join(cache, "prepared", "*.latest")); len(links) != 1 {
		t.Errorf("records left: %v; want the recent root's", links)
	}
	// Aged two hours but still its recipe's last: it stays.
	age(t, recent, 2*time.Hour)
	if _, err := st.Prune(ctx, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(recent); err != nil {
		t.Errorf("the last root of a recipe went after two hours: %v", err)
	}
}

// BenchmarkPreparedReuse is what a build's Start pays for a prepared root
// that exists: the base image's digest (cached), the recipe's key (keys
// read, a local repository's index hashed when it changed, else its
// identity), no copy and no apk add.
func BenchmarkPreparedReuse(b *testing.B) {
	ctx := context.Background()
	st, err := image.NewStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ref := imagetest.AlpineRef(b, "x86_64")
	repo, keys := b.TempDir(), b.TempDir()
	if err := os.MkdirAll(filepath.Join(repo, "x86_64"), 0o755); err != nil {
		b.Fatal(err)
	}
	os.WriteFile(filepath.Join(repo, "x86_64", "APKINDEX.tar.gz"), bytes.Repeat([]byte("x"), 1<<20), 0o644)
	os.WriteFile(filepath.Join(keys, "farm.rsa.pub"), []byte("key"), 0o644)
	inst := &fakeInstaller{}
	r := image.Recipe{Packages: []string{"alpine-base", "abuild", "build-base", "ccache"}, Repositories: []string{repo}, KeysDir: keys}
	if _, _, err := st.Prepared(ctx, ref, "x86_64", r, inst.install); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := st.Prepared(ctx, ref, "x86_64", r, inst.install); err != nil {
			b.Fatal(err)
		}
	}
	if inst.count() != 1 {
		b.Fatalf("%d installs", inst.count())
	}
}

// BenchmarkPrepareCopy is a preparation without the apk add: copying the
// 3.4 MB x86_64 minirootfs, writing keys and repositories.
func BenchmarkPrepareCopy(b *testing.B) {
	ctx := context.Background()
	st, err := image.NewStore(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	ref := imagetest.AlpineRef(b, "x86_64")
	repo := b.TempDir()
	inst := &fakeInstaller{}
	if _, _, err := st.Rootfs(ctx, ref, "x86_64"); err != nil {
		b.Fatal(err)
	}
	i := 0
	for b.Loop() {
		i++
		r := image.Recipe{Packages: []string{fmt.Sprintf("p%d", i)}, Repositories: []string{repo}}
		if _, _, err := st.Prepared(ctx, ref, "x86_64", r, inst.install); err != nil {
			b.Fatal(err)
		}
	}
}
