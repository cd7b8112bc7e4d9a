package published

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/published/publishedtest"
)

var pkgs = []*apk.Package{
	{Name: "hello", Version: "1.0-r0", Arch: "x86_64", Origin: "hello", Provides: []string{"cmd:hello=1.0-r0"}},
	{Name: "hello-doc", Version: "1.0-r0", Arch: "noarch", Origin: "hello"},
}

func TestPublishedFromDisk(t *testing.T) {
	signer, keysDir := publishedtest.Signer(t)
	keys, err := apk.LoadKeyring(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	stranger := publishedtest.Stranger(t, "stranger-00000000.rsa.pub")
	dir := t.TempDir()
	tests := []struct {
		name    string
		content []byte // nil: no file
		want    int    // records; -1 with wantErr
		wantErr string
	}{
		{name: "signed by a trusted key", content: publishedtest.Index(t, signer, pkgs...), want: 2},
		{name: "missing is an empty repo", want: 0},
		{name: "unsigned", content: publishedtest.Index(t, nil, pkgs...), wantErr: "signature"},
		{name: "unknown key", content: publishedtest.Index(t, stranger, pkgs...), wantErr: "stranger-00000000.rsa.pub"},
		{name: "not an index", content: []byte("hello"), wantErr: "verify"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(dir, string(rune('a'+i)), "APKINDEX.tar.gz")
			if tt.content != nil {
				publishedtest.WriteIndex(t, path, nil)
				if err := safefile.Write(path, tt.content, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			idx, err := (&Fetcher{}).Published(context.Background(), path, keys)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), path) {
					t.Fatalf("err = %v, want one naming %s and containing %q", err, path, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(idx.Packages) != tt.want {
				t.Fatalf("%d records, want %d", len(idx.Packages), tt.want)
			}
		})
	}
}

func TestFetchHTTP(t *testing.T) {
	signer, keysDir := publishedtest.Signer(t)
	keys, err := apk.LoadKeyring(keysDir)
	if err != nil {
		t.Fatal(err)
	}
	body := publishedtest.Index(t, signer, pkgs...)
	var full, notModified atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/x86_64/APKINDEX.tar.gz":
			w.Header().Set("ETag", `"v1"`)
			if r.Header.Get("If-None-Match") == `"v1"` {
				notModified.Add(1)
				w.WriteHeader(http.StatusNotModified)
				return
			}
			full.Add(1)
			w.Write(body)
		case "/slow/APKINDEX.tar.gz":
			time.Sleep(300 * time.Millisecond)
		case "/broken/APKINDEX.tar.gz":
			http.Error(w, "oops", http.StatusInternalServerError)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	f := &Fetcher{CacheDir: t.TempDir(), Timeout: 5 * time.Second}
	loc := Expand(srv.URL+"/{arch}/APKINDEX.tar.gz", "x86_64")
	for i := range 2 {
		idx, err := f.Published(context.Background(), loc, keys)
		if err != nil {
			t.Fatalf("fetch %d: %v", i+1, err)
		}
		if len(idx.Packages) != 2 {
			t.Fatalf("fetch %d: %d records, want 2", i+1, len(idx.Packages))
		}
	}
	if full.Load() != 1 || notModified.Load() != 1 {
		t.Errorf("downloads: %d full, %d not modified; want 1 and 1 (a conditional request the second time)", full.Load(), notModified.Load())
	}

	idx, err := f.Published(context.Background(), srv.URL+"/aarch64/APKINDEX.tar.gz", keys)
	if err != nil || len(idx.Packages) != 0 {
		t.Errorf("404: %v, %v; want an empty index", idx, err)
	}
	if _, err := f.Upstream(context.Background(), srv.URL+"/aarch64/APKINDEX.tar.gz", nil); !errors.Is(err, ErrNotFound) {
		t.Errorf("upstream 404: err = %v, want ErrNotFound", err)
	}
	if _, err := f.Published(context.Background(), srv.URL+"/broken/APKINDEX.tar.gz", keys); err == nil ||
		!strings.Contains(err.Error(), "500") {
		t.Errorf("500: err = %v, want the HTTP status", err)
	}
	slow := &Fetcher{Timeout: 50 * time.Millisecond}
	if _, err := slow.Published(context.Background(), srv.URL+"/slow/APKINDEX.tar.gz", keys); err == nil ||
		!strings.Contains(err.Error(), "http_timeout") {
		t.Errorf("slow server: err = %v, want a timeout naming http_timeout", err)
	}
}
