package builder

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/runner/executor/oci"
	"github.com/apkfarm/apkfarm/runner/image"
	"github.com/apkfarm/apkfarm/runner/image/imagetest"
	"github.com/apkfarm/apkfarm/runner/published/publishedtest"
	"github.com/apkfarm/apkfarm/state"
)

// messages records the messages logged at Info and above, and lets them
// through to the test log.
type messages struct {
	slog.Handler
	mu   *sync.Mutex
	msgs *[]string
}

func newMessages(t testing.TB) (*slog.Logger, func() []string) {
	var mu sync.Mutex
	var msgs []string
	h := messages{Handler: slog.NewTextHandler(tlogWriter{t}, &slog.HandlerOptions{Level: slog.LevelInfo}), mu: &mu, msgs: &msgs}
	return slog.New(h), func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), msgs...)
	}
}

func (m messages) Handle(ctx context.Context, r slog.Record) error {
	m.mu.Lock()
	*m.msgs = append(*m.msgs, r.Message)
	m.mu.Unlock()
	return m.Handler.Handle(ctx, r)
}

func (m messages) WithAttrs(as []slog.Attr) slog.Handler {
	return messages{Handler: m.Handler.WithAttrs(as), mu: m.mu, msgs: m.msgs}
}

func count(msgs []string, msg string) int {
	n := 0
	for _, m := range msgs {
		if m == msg {
			n++
		}
	}
	return n
}

// localRepo writes a signed repository for arch holding an "abuild"
// package (the stand-in abuild, and the abuild-keygen link) and returns
// its directory and the keys directory that trusts it.
func localRepo(t *testing.T, arch string) (repo, keys string) {
	t.Helper()
	signer, keys := publishedtest.Signer(t)
	bin, err := os.ReadFile(standIn(t, arch))
	if err != nil {
		t.Fatal(err)
	}
	b, err := apk.MarshalPackage(&apk.PackageSpec{
		Info: apk.PkgInfo{Name: "abuild", Version: "3.99-r0", Description: "stand-in abuild", URL: "https://example.org",
			License: "MIT", Arch: arch, Origin: "abuild", BuildDate: 1700000000, Packager: "apkfarm test"},
		Files: []apk.File{{Name: "usr/bin/abuild", Mode: 0o755, Data: bin}, {Name: "usr/bin/abuild-keygen", Mode: os.ModeSymlink, Link: "abuild"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if b, err = signer.SignPackage(b, "abuild-3.99-r0.apk"); err != nil {
		t.Fatal(err)
	}
	pf, err := apk.ReadPackageFile(b, "abuild-3.99-r0.apk")
	if err != nil {
		t.Fatal(err)
	}
	repo = t.TempDir()
	if err := os.MkdirAll(filepath.Join(repo, arch), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(repo, arch, "abuild-3.99-r0.apk"), b, 0o644); err != nil {
		t.Fatal(err)
	}
	publishedtest.WriteIndex(t, filepath.Join(repo, arch, "APKINDEX.tar.gz"), signer, pf.IndexEntry())
	return repo, keys
}

// TestRealPreparedRootAndSourceCache: builds run in a root the runner
// prepared from the bare minirootfs (no abuild in it) by installing abuild
// with the image's real apk from a signed local repository; a second run
// reuses that root (no apk add: the store logs no preparation) and gets the
// source the first build fetched from the sources directory (the server
// sees one request). A cached source that fails the APKBUILD's checksum is
// renamed away by abuild's verify, failing that build, and the next build
// fetches it again.
func TestRealPreparedRootAndSourceCache(t *testing.T) {
	requireReal(t, "x86_64")
	repo, keys := localRepo(t, "x86_64")
	var gets atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/fetcher-data.txt" {
			http.NotFound(w, r)
			return
		}
		gets.Add(1)
		io.WriteString(w, "hello from the source cache\n")
	}))
	defer srv.Close()

	logger, logged := newMessages(t)
	store, err := image.NewStore(t.TempDir(), image.WithLogger(logger))
	if err != nil {
		t.Fatal(err)
	}
	ex := oci.New(store, oci.WithWorkDir(t.TempDir()), oci.WithRuntimeRoot(t.TempDir()), oci.WithLogger(logger))
	sources := filepath.Join(t.TempDir(), "sources")
	opts := Options{Jobs: 1, Image: imagetest.AlpineRef(t, "x86_64"), Timeout: 5 * time.Minute, NativeArches: oci.NativeArches(),
		Prepare:    executor.Prepare{Packages: []string{"abuild"}, Repositories: []string{repo}, KeysDir: keys},
		SourcesDir: sources, Env: []string{"APKFARM_TEST_URL=" + srv.URL + "/"}}

	build := func(n int) (Outcome, string, time.Duration) {
		t.Helper()
		o := opts
		o.StateDir = t.TempDir()
		j := fjob(t, "x86_64", "fetcher", "1.0-r0", 0)
		j.Sources = []string{"fetcher-data.txt"}
		t0 := time.Now()
		res, err := Run(context.Background(), []Job{j}, o, ex, logger)
		if err != nil {
			t.Fatalf("run %d: %v", n, err)
		}
		out := res.Outcomes[0]
		if out.Attempt != nil {
			t.Logf("run %d: %s in %v", n, out.Status, time.Since(t0).Round(time.Millisecond))
		}
		if out.Status == state.Built {
			if got := packageFile(t, o.StateDir, out.Packages[0], "usr/share/fetcher/data.txt"); got != "hello from the source cache\n" {
				t.Errorf("run %d: packaged source = %q", n, got)
			}
			if got := packageFile(t, o.StateDir, out.Packages[0], "usr/share/fetcher/abuild-path"); got != "/usr/bin/abuild\n" {
				t.Errorf("run %d: abuild in the build root = %q", n, got)
			}
		} else if n != 3 {
			t.Errorf("run %d: %s (%s)\n%s", n, out.Status, out.Reason, readLog(t, o.StateDir, out.Attempt))
		}
		return out, o.StateDir, time.Since(t0)
	}

	// Run 1: prepares the root, fetches the source.
	_, _, d1 := build(1)
	if n := count(logged(), "build root prepared"); n != 1 {
		t.Errorf("run 1: %d preparations logged; want 1", n)
	}
	if got := gets.Load(); got != 1 {
		t.Errorf("run 1: %d requests for the source; want 1", got)
	}
	prepared, _ := filepath.Glob(filepath.Join(store.Dir(), "prepared", "x86_64-*[0-9a-f]"))
	if len(prepared) != 1 {
		t.Fatalf("prepared roots: %v", prepared)
	}
	db, err := os.ReadFile(filepath.Join(prepared[0], "lib/apk/db/installed"))
	if err != nil || !strings.Contains(string(db), "P:abuild\nV:3.99-r0\n") {
		t.Errorf("the prepared root's installed database lacks abuild 3.99-r0 from the local repository (%v)", err)
	}
	if b, _ := os.ReadFile(filepath.Join(prepared[0], "etc/apk/repositories")); string(b) != repo+"\n" {
		t.Errorf("the prepared root's repositories = %q", b)
	}
	if _, err := os.Stat(filepath.Join(prepared[0], "etc/apk/keys", publishedtest.KeyName)); err != nil {
		t.Errorf("the prepared root lacks the farm's key: %v", err)
	}
	base, _, err := store.Rootfs(context.Background(), opts.Image, "x86_64")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(base, "usr/bin/abuild")); err == nil {
		t.Fatal("the base image has abuild: the test proves nothing")
	}

	// Run 2: the same root, no apk add; the source from the cache.
	_, _, d2 := build(2)
	if n := count(logged(), "build root prepared"); n != 1 {
		t.Errorf("run 2: %d preparations logged in all; want the first only", n)
	}
	if got := gets.Load(); got != 1 {
		t.Errorf("run 2: %d requests for the source in all; want 1 (served from %s)", got, sources)
	}
	t.Logf("first run (prepare + fetch) %v, second (reuse) %v", d1.Round(time.Millisecond), d2.Round(time.Millisecond))

	// Run 3: the cached file is corrupt: abuild's checksum catches it.
	cached := filepath.Join(sources, "fetcher-data.txt")
	if err := os.WriteFile(cached, []byte("tampered\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if o, dir, _ := build(3); o.Status != state.Failed {
		t.Errorf("run 3 with a corrupt cached source: %s; want failed", o.Status)
	} else if l := readLog(t, dir, o.Attempt); !strings.Contains(l, "fetcher-data.txt: FAILED") || !strings.Contains(l, "Use 'abuild checksum'") {
		t.Errorf("run 3 failed, but not on the checksum:\n%s", l)
	}
	if renamed, _ := filepath.Glob(cached + ".5d0f441d"); len(renamed) != 1 {
		t.Errorf("the corrupt source was not renamed aside: %v", renamed)
	}
	// Run 4: fetched again, built.
	if o, _, _ := build(4); o.Status != state.Built {
		t.Errorf("run 4: %s", o.Status)
	}
	if got := gets.Load(); got != 2 {
		t.Errorf("run 4: %d requests in all; want 2 (one after the corrupt file)", got)
	}
}
