package published

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/apkfarm/apkfarm/runner/apk"
)

// Published loads an arch's published index from loc (a path or URL with
// "{arch}" already expanded). It must be signed by a key of keys. A missing
// index is an empty one: the repository is new.
func (f *Fetcher) Published(ctx context.Context, loc string, keys *apk.Keyring) (*apk.Index, error) {
	fh, err := f.Fetch(ctx, loc)
	if errors.Is(err, ErrNotFound) {
		return &apk.Index{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load published index: %w", err)
	}
	defer fh.Close()
	return f.parse(ctx, fh, loc, keys)
}

// Upstream loads an upstream index from loc. When keys is not nil it must
// be signed by one of them. A missing upstream index is an error: the
// dependencies it should provide would all look missing.
func (f *Fetcher) Upstream(ctx context.Context, loc string, keys *apk.Keyring) (*apk.Index, error) {
	fh, err := f.Fetch(ctx, loc)
	if err != nil {
		return nil, fmt.Errorf("load upstream index: %w (check upstream.indexes)", err)
	}
	defer fh.Close()
	return f.parse(ctx, fh, loc, keys)
}

// parse reads an index archive from its file, streaming, and verifies it
// first when keys is set: nothing after the signature is inflated before
// the signature holds. Several records of one name are reduced to the
// highest version, as apk installs it, with a warning.
func (f *Fetcher) parse(ctx context.Context, fh *os.File, loc string, keys *apk.Keyring) (*apk.Index, error) {
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("load index: %w", err)
	}
	r := ctxReaderAt{ctx, fh}
	var idx *apk.Index
	if keys != nil {
		idx, err = keys.ReadIndex(r, st.Size(), loc, f.Limits)
		if err != nil && !errors.Is(err, apk.ErrTooLarge) {
			return nil, fmt.Errorf("load index: %w (trusted keys: %s)", err, strings.Join(keys.Names(), ", "))
		}
	} else {
		idx, err = apk.ReadIndex(r, st.Size(), loc, f.Limits)
	}
	if errors.Is(err, apk.ErrTooLarge) {
		return nil, fmt.Errorf("load index: %w; if the index is real, raise max_index_size", err)
	}
	if err != nil {
		return nil, fmt.Errorf("load index: %w", err)
	}
	for _, d := range idx.Dedupe() {
		if f.Logger != nil {
			f.Logger.Warn("several records of one package in an index; using the highest version, as apk does",
				"index", loc, "records", d.String())
		}
	}
	return idx, nil
}

// ctxReaderAt stops reading once ctx is done, so that a slow disk or
// network filesystem does not hold a cancelled run.
type ctxReaderAt struct {
	ctx context.Context
	r   io.ReaderAt
}

func (c ctxReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.ReadAt(p, off)
}
