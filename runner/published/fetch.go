package published

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/apkfarm/apkfarm/internal/safefile"
)

// ErrNotFound is wrapped by Fetch when there is no file at the location
// (no such file, HTTP 404 or 410).
var ErrNotFound = errors.New("not found")

// MaxIndexSize bounds a downloaded index.
const MaxIndexSize = 1 << 30

// Fetcher reads index files from local paths and http(s) URLs.
type Fetcher struct {
	// Client makes the requests; nil means http.DefaultClient.
	Client *http.Client
	// Timeout bounds each download; 0 means one minute.
	Timeout time.Duration
	// CacheDir keeps downloaded indexes with their ETag and Last-Modified,
	// so that an unchanged index is not downloaded again; "" disables it.
	CacheDir string
	// Logger gets warnings (a cache that cannot be written); nil discards.
	Logger *slog.Logger
}

// Expand replaces "{arch}" in a location.
func Expand(loc, arch string) string { return strings.ReplaceAll(loc, "{arch}", arch) }

func isURL(loc string) bool {
	return strings.HasPrefix(loc, "http://") || strings.HasPrefix(loc, "https://")
}

// Fetch returns the content at loc, a local path or an http(s) URL. A
// missing file wraps ErrNotFound.
func (f *Fetcher) Fetch(ctx context.Context, loc string) ([]byte, error) {
	if !isURL(loc) {
		b, err := os.ReadFile(loc)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read %s: %w", loc, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("read index: %w", err)
		}
		return b, nil
	}
	return f.download(ctx, loc)
}

// cacheMeta is what the cache keeps beside a downloaded file.
type cacheMeta struct {
	URL          string `json:"url"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
}

func (f *Fetcher) cachePaths(url string) (body, meta string) {
	sum := sha256.Sum256([]byte(url))
	base := filepath.Join(f.CacheDir, hex.EncodeToString(sum[:12]))
	return base + ".tar.gz", base + ".json"
}

// cached returns the cached copy of url and its validators, if any.
func (f *Fetcher) cached(url string) ([]byte, *cacheMeta) {
	if f.CacheDir == "" {
		return nil, nil
	}
	bodyPath, metaPath := f.cachePaths(url)
	mb, err := os.ReadFile(metaPath)
	if err != nil {
		return nil, nil
	}
	var m cacheMeta
	if json.Unmarshal(mb, &m) != nil || m.URL != url {
		return nil, nil
	}
	b, err := os.ReadFile(bodyPath)
	if err != nil {
		return nil, nil
	}
	return b, &m
}

func (f *Fetcher) download(ctx context.Context, url string) ([]byte, error) {
	timeout := f.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("fetch %q: %w", url, err)
	}
	body, meta := f.cached(url)
	if meta != nil {
		if meta.ETag != "" {
			req.Header.Set("If-None-Match", meta.ETag)
		}
		if meta.LastModified != "" {
			req.Header.Set("If-Modified-Since", meta.LastModified)
		}
	}
	client := f.Client
	if client == nil {
		client = http.DefaultClient
	}
	resp, err := client.Do(req)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("fetch %q: no answer within %s (raise http_timeout if the server is slow)", url, timeout)
		}
		return nil, fmt.Errorf("fetch %q: %w", url, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && body != nil:
		return body, nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, fmt.Errorf("fetch %q: HTTP %s: %w", url, resp.Status, ErrNotFound)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("fetch %q: HTTP %s", url, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, MaxIndexSize+1))
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("fetch %q: download not finished within %s (raise http_timeout if the server is slow)", url, timeout)
		}
		return nil, fmt.Errorf("fetch %q: %w", url, err)
	}
	if len(b) > MaxIndexSize {
		return nil, fmt.Errorf("fetch %q: larger than %d bytes", url, MaxIndexSize)
	}
	f.store(url, b, &cacheMeta{URL: url, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")})
	return b, nil
}

// store keeps a download in the cache. Failing to is a warning: the next
// run downloads again.
func (f *Fetcher) store(url string, b []byte, m *cacheMeta) {
	if f.CacheDir == "" || (m.ETag == "" && m.LastModified == "") {
		return
	}
	bodyPath, metaPath := f.cachePaths(url)
	mb, _ := json.Marshal(m)
	err := os.MkdirAll(f.CacheDir, 0o755)
	if err == nil {
		err = safefile.Write(bodyPath, b, 0o644)
	}
	if err == nil {
		err = safefile.Write(metaPath, mb, 0o644)
	}
	if err != nil && f.Logger != nil {
		f.Logger.Warn("index cache not written; the next run downloads again", "url", url, "err", err)
	}
}
