package published

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/internal/memtest"
	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/published/publishedtest"
)

// indexBomb is a 5 MB unsigned index whose APKINDEX inflates to 5 GiB of
// records.
func indexBomb() []byte {
	const huge = 5 << 30
	return memtest.GzipFill(memtest.TarHeader("APKINDEX", huge), []byte("P:a\nV:1\n\n\n\n\n\n\n\n\n"), huge)
}

// TestIndexBombs: an index that inflates to gigabytes is refused at the
// cap, or before inflating when it must be signed and is not, with the
// heap under 100 MB, from disk and from a server.
func TestIndexBombs(t *testing.T) {
	_, keysDir := publishedtest.Signer(t)
	keys, err := apk.LoadKeyring(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	bomb := indexBomb()
	path := filepath.Join(t.TempDir(), "x86_64", "APKINDEX.tar.gz")
	if err := safefile.Write(path, bomb, 0o644); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("ETag", `"bomb"`)
		w.Write(bomb)
	}))
	defer srv.Close()
	f := &Fetcher{CacheDir: t.TempDir(), Timeout: time.Minute}
	for _, tc := range []struct {
		name     string
		load     func() (*apk.Index, error)
		is       error
		want     string
		inflates int64
	}{
		{"published, unsigned", func() (*apk.Index, error) { return f.Published(context.Background(), path, keys) },
			apk.ErrNoSignature, "no signature", 64 << 10},
		{"upstream without keys", func() (*apk.Index, error) { return f.Upstream(context.Background(), path, nil) },
			apk.ErrTooLarge, "raise max_index_size", 64<<20 + 64<<10},
		{"upstream without keys, smaller cap", func() (*apk.Index, error) {
			return (&Fetcher{Limits: apk.Limits{Index: 8 << 20}}).Upstream(context.Background(), path, nil)
		}, apk.ErrTooLarge, "index inflates to more than 8 MiB", 8<<20 + 64<<10},
		{"download, unsigned", func() (*apk.Index, error) {
			return f.Published(context.Background(), srv.URL+"/x86_64/APKINDEX.tar.gz", keys)
		},
			apk.ErrNoSignature, "no signature", 64 << 10},
		{"download without keys", func() (*apk.Index, error) {
			return f.Upstream(context.Background(), srv.URL+"/up/APKINDEX.tar.gz", nil)
		},
			apk.ErrTooLarge, "raise max_index_size", 64<<20 + 64<<10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := apk.InflatedBytes()
			var err error
			peak := memtest.Peak(func() { _, err = tc.load() })
			n := apk.InflatedBytes() - before
			t.Logf("%d-byte index: inflated %.1f MiB, peak heap %.1f MiB", len(bomb), float64(n)/(1<<20), memtest.MiB(peak))
			if !errors.Is(err, tc.is) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if n > tc.inflates {
				t.Errorf("inflated %d bytes, want at most %d", n, tc.inflates)
			}
			if peak > 100<<20 {
				t.Errorf("peak heap %.1f MiB, want under 100 MiB", memtest.MiB(peak))
			}
		})
	}
}

// TestNotRegularIndex: a FIFO or a directory where the index should be
// is an error naming the path at once, never a wait.
func TestNotRegularIndex(t *testing.T) {
	_, keysDir := publishedtest.Signer(t)
	keys, err := apk.LoadKeyring(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo", "APKINDEX.tar.gz")
	os.MkdirAll(filepath.Dir(fifo), 0o755)
	if err := syscall.Mkfifo(fifo, 0o644); err != nil {
		t.Fatal(err)
	}
	asDir := filepath.Join(dir, "dir", "APKINDEX.tar.gz")
	os.MkdirAll(asDir, 0o755)
	for _, tc := range []struct{ path, want string }{{fifo, "FIFO"}, {asDir, "directory"}} {
		done := make(chan error, 1)
		go func() {
			_, err := (&Fetcher{}).Published(context.Background(), tc.path, keys)
			done <- err
		}()
		select {
		case err := <-done:
			if !errors.Is(err, safefile.ErrNotRegular) || !strings.Contains(err.Error(), tc.path) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err = %v, want one naming %s as a %s", err, tc.path, tc.want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("loading %s still waits after 10 s", tc.path)
		}
	}
}

// TestDuplicateRecords: of several records of one name the highest
// version is used, as apk would install it, with a warning naming the
// index and the records.
func TestDuplicateRecords(t *testing.T) {
	signer, keysDir := publishedtest.Signer(t)
	keys, err := apk.LoadKeyring(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "APKINDEX.tar.gz")
	publishedtest.WriteIndex(t, path, signer,
		&apk.Package{Name: "hello", Version: "1.0-r0"}, &apk.Package{Name: "hello", Version: "1.2-r0"},
		&apk.Package{Name: "other", Version: "1"})
	var log bytes.Buffer
	f := &Fetcher{Logger: slog.New(slog.NewTextHandler(&log, nil))}
	idx, err := f.Published(context.Background(), path, keys)
	if err != nil {
		t.Fatal(err)
	}
	if len(idx.Packages) != 2 || idx.Packages[0].Name != "hello" || idx.Packages[0].Version != "1.2-r0" {
		t.Fatalf("records %+v, want hello 1.2-r0 and other", idx.Packages)
	}
	if !strings.Contains(log.String(), path) || !strings.Contains(log.String(), "hello 1.2-r0 (kept), 1.0-r0") {
		t.Errorf("warning %q does not name the index and the records", log.String())
	}
}

// TestCancelledLoad: a run that is cancelled stops reading its indexes.
func TestCancelledLoad(t *testing.T) {
	signer, keysDir := publishedtest.Signer(t)
	keys, err := apk.LoadKeyring(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "APKINDEX.tar.gz")
	publishedtest.WriteIndex(t, path, signer, &apk.Package{Name: "hello", Version: "1"})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := (&Fetcher{}).Published(ctx, path, keys); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}
