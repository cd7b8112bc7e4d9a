package mirror

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/state"
)

// readBack reads every index of s back from t and compares it with the
// repository's; a mirror that serves another index is lagging.
func (o *options) readBack(ctx context.Context, s *source, t Target, res *state.MirrorResult) error {
	if len(s.indexes) == 0 {
		return nil
	}
	var (
		got map[string][]byte
		err error
	)
	if t.CheckURL != "" {
		got, err = o.fetchHTTP(ctx, s, t)
	} else {
		got, err = o.fetchRsync(ctx, s, t)
	}
	if err != nil {
		return &passError{PassReadBack, err}
	}
	var lags []string
	for _, ix := range s.indexes {
		b, ok := got[ix.rel]
		switch {
		case !ok:
			lags = append(lags, ix.rel+" is missing")
		case bytes.Equal(b, ix.b):
		case path.Base(ix.rel) == indexName && s.keys.VerifyIndex(b, ix.rel) != nil:
			lags = append(lags, fmt.Sprintf("%s fails verification: %v", ix.rel, s.keys.VerifyIndex(b, ix.rel)))
		default:
			lags = append(lags, fmt.Sprintf("%s is another index (%d bytes, the repository's has %d)", ix.rel, len(b), len(ix.b)))
		}
	}
	if len(lags) > 0 {
		res.Lagging = true
		from := "through rsync"
		if t.CheckURL != "" {
			from = "from " + t.CheckURL
		}
		return fmt.Errorf("lagging: read back %s, %s", from, strings.Join(lags, "; "))
	}
	if o.afterPass != nil {
		o.afterPass(t.Name, PassReadBack)
	}
	return nil
}

// fetchRsync copies the mirror's indexes into a temporary directory.
// Files the mirror lacks are left out of the result.
func (o *options) fetchRsync(ctx context.Context, s *source, t Target) (map[string][]byte, error) {
	tmp, err := os.MkdirTemp("", "apkfarm-mirror-readback-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	var list []byte
	for _, ix := range s.indexes {
		list = append(append(list, ix.rel...), 0)
	}
	// No -l: a symbolic link on the mirror is skipped, so read as missing.
	args := append(t.transportArgs(t.ioTimeout()),
		"--no-h", "--from0", "--files-from=-", "--max-size="+strconv.FormatInt(o.maxIndex, 10), t.dest(""), tmp+"/")
	_, err = rsync(ctx, o.rsync, args, list)
	var re *rsyncError
	if err != nil && !(errors.As(err, &re) && re.Code == 23) { // 23: some files missing
		return nil, err
	}
	got := map[string][]byte{}
	for _, ix := range s.indexes {
		b, err := safefile.ReadFile(filepath.Join(tmp, filepath.FromSlash(ix.rel)), o.maxIndex)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if err != nil {
			return nil, err
		}
		got[ix.rel] = b
	}
	return got, nil
}

// fetchHTTP reads the mirror's indexes from its check_url, each capped.
func (o *options) fetchHTTP(ctx context.Context, s *source, t Target) (map[string][]byte, error) {
	got := map[string][]byte{}
	for _, ix := range s.indexes {
		u := strings.TrimSuffix(t.CheckURL, "/")
		for _, seg := range strings.Split(ix.rel, "/") {
			u += "/" + url.PathEscape(seg)
		}
		b, err := o.get(ctx, u)
		if errors.Is(err, errNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		got[ix.rel] = b
	}
	return got, nil
}

var errNotFound = errors.New("not found")

func (o *options) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", u, err)
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", u, unwrapURL(err))
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotFound:
		return nil, errNotFound
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("get %s: %s", u, resp.Status)
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, o.maxIndex+1))
	if err != nil {
		return nil, fmt.Errorf("get %s: %w", u, err)
	}
	if int64(len(b)) > o.maxIndex {
		return nil, fmt.Errorf("get %s: larger than %d bytes", u, o.maxIndex)
	}
	return b, nil
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
