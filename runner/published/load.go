package published

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/apkfarm/apkfarm/runner/apk"
)

// Published loads an arch's published index from loc (a path or URL with
// "{arch}" already expanded). It must be signed by a key of keys. A missing
// index is an empty one: the repository is new.
func (f *Fetcher) Published(ctx context.Context, loc string, keys *apk.Keyring) (*apk.Index, error) {
	b, err := f.Fetch(ctx, loc)
	if errors.Is(err, ErrNotFound) {
		return &apk.Index{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("load published index: %w", err)
	}
	return parse(b, loc, keys)
}

// Upstream loads an upstream index from loc. When keys is not nil it must
// be signed by one of them. A missing upstream index is an error: the
// dependencies it should provide would all look missing.
func (f *Fetcher) Upstream(ctx context.Context, loc string, keys *apk.Keyring) (*apk.Index, error) {
	b, err := f.Fetch(ctx, loc)
	if err != nil {
		return nil, fmt.Errorf("load upstream index: %w (check upstream.indexes)", err)
	}
	return parse(b, loc, keys)
}

// parse verifies (when keys is set) and reads an index archive.
func parse(b []byte, loc string, keys *apk.Keyring) (*apk.Index, error) {
	if keys != nil {
		if err := keys.VerifyIndex(b, loc); err != nil {
			return nil, fmt.Errorf("load index: %w (trusted keys: %s)", err, strings.Join(keys.Names(), ", "))
		}
	}
	idx, err := apk.ReadIndexArchive(b, loc)
	if err != nil {
		return nil, fmt.Errorf("load index: %w", err)
	}
	return idx, nil
}
