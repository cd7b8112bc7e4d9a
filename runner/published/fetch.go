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
	"github.com/apkfarm/apkfarm/runner/apk"
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
	// Logger gets warnings (a cache that cannot be written, several
	// records of one package in an index); nil discards.
	Logger *slog.Logger
	// Limits caps what reading an index inflates and holds (zero fields:
	// apk.DefaultLimits); Limits.Index is the config's max_index_size.
	Limits apk.Limits
}

// Expand replaces "{arch}" in a location.
func Expand(loc, arch string) string { return strings.ReplaceAll(loc, "{arch}", arch) }

func isURL(loc string) bool {
	return strings.HasPrefix(loc, "http://") || strings.HasPrefix(loc, "https://")
}

// Fetch opens the file at loc, a local path or an http(s) URL; the caller
// closes it. A missing file wraps ErrNotFound. A local path must be a
// regular file: a FIFO, a device or a directory is an error naming it,
// never a wait. A download goes to disk, never to memory: into the cache
// when the server gives validators, else into a temporary file that is
// gone once closed.
func (f *Fetcher) Fetch(ctx context.Context, loc string) (*os.File, error) {
	if !isURL(loc) {
		fh, err := safefile.Open(loc)
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("read %s: %w", loc, ErrNotFound)
		}
		if err != nil {
			return nil, fmt.Errorf("read index: %w", err)
		}
		return fh, nil
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

// maxCacheMeta bounds a cache's metadata file.
const maxCacheMeta = 64 << 10

// cached opens the cached copy of url and returns it with its
// validators, if there is one.
func (f *Fetcher) cached(url string) (*os.File, *cacheMeta) {
	if f.CacheDir == "" {
		return nil, nil
	}
	bodyPath, metaPath := f.cachePaths(url)
	mb, err := safefile.ReadFile(metaPath, maxCacheMeta)
	if err != nil {
		return nil, nil
	}
	var m cacheMeta
	if json.Unmarshal(mb, &m) != nil || m.URL != url {
		return nil, nil
	}
	body, err := safefile.Open(bodyPath)
	if err != nil {
		return nil, nil
	}
	return body, &m
}

func (f *Fetcher) download(ctx context.Context, url string) (*os.File, error) {
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
	keep := false
	defer func() {
		if body != nil && !keep {
			body.Close()
		}
	}()
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
		keep = true
		return body, nil
	case resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusGone:
		return nil, fmt.Errorf("fetch %q: HTTP %s: %w", url, resp.Status, ErrNotFound)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("fetch %q: HTTP %s", url, resp.Status)
	}
	m := &cacheMeta{URL: url, ETag: resp.Header.Get("ETag"), LastModified: resp.Header.Get("Last-Modified")}
	fh, err := f.save(url, io.LimitReader(resp.Body, MaxIndexSize+1), m)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return nil, fmt.Errorf("fetch %q: download not finished within %s (raise http_timeout if the server is slow)", url, timeout)
		}
		return nil, fmt.Errorf("fetch %q: %w", url, err)
	}
	return fh, nil
}

// save streams a download to disk and opens it: into the cache when the
// server gave validators, else (or when the cache cannot be written: a
// warning, the next run downloads again) into an unlinked temporary file.
func (f *Fetcher) save(url string, r io.Reader, m *cacheMeta) (*os.File, error) {
	if f.CacheDir != "" && (m.ETag != "" || m.LastModified != "") {
		bodyPath, metaPath := f.cachePaths(url)
		out, err := safefile.Create(bodyPath, 0o644)
		if err == nil {
			if err := copyCapped(out, r); err != nil {
				out.Abort()
				return nil, err
			}
			if err := out.Commit(); err != nil {
				return nil, err
			}
			mb, _ := json.Marshal(m)
			if err := safefile.Write(metaPath, mb, 0o644); err != nil {
				f.warn(url, err)
			}
			return safefile.Open(bodyPath)
		}
		f.warn(url, err)
	}
	tmp, err := os.CreateTemp("", "apkfarm-index-*")
	if err != nil {
		return nil, err
	}
	os.Remove(tmp.Name()) // gone once closed
	if err := copyCapped(tmp, r); err != nil {
		tmp.Close()
		return nil, err
	}
	return tmp, nil
}

func (f *Fetcher) warn(url string, err error) {
	if f.Logger != nil {
		f.Logger.Warn("index cache not written; the next run downloads again", "url", url, "err", err)
	}
}

// copyCapped copies r (limited to MaxIndexSize+1 bytes) to w and refuses
// more than MaxIndexSize.
func copyCapped(w io.Writer, r io.Reader) error {
	n, err := io.Copy(w, r)
	if err == nil && n > MaxIndexSize {
		err = fmt.Errorf("larger than %d bytes", MaxIndexSize)
	}
	return err
}
