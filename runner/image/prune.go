package image

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
)

// Prune removes root filesystems not handed out by Rootfs for longer than
// unused, with their images' blobs, and leftovers of interrupted unpacks.
// A rootfs that is the lower layer of a mounted overlay (a live session)
// is kept whatever its age. Call it where no session of this store is
// starting, such as at the beginning of a run. It returns the digests
// removed.
func (s *Store) Prune(ctx context.Context, unused time.Duration) ([]string, error) {
	unlock, err := s.fileLock(ctx, "index")
	if err != nil {
		return nil, err
	}
	defer unlock()
	ents, err := os.ReadDir(filepath.Join(s.dir, "rootfs"))
	if err != nil {
		return nil, fmt.Errorf("prune image store: %w", err)
	}
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	var removed []string
	var errs []error
	lp := layout.Path(filepath.Join(s.dir, "oci"))
	for _, e := range ents {
		dir := filepath.Join(s.dir, "rootfs", e.Name())
		fi, err := e.Info()
		if err != nil || !e.IsDir() {
			continue
		}
		old := time.Since(fi.ModTime()) > unused
		if strings.HasPrefix(e.Name(), ".") {
			// .unpack-* and .prune-*: a crashed unpack or prune, if old.
			if time.Since(fi.ModTime()) > time.Hour {
				errs = append(errs, os.RemoveAll(dir))
			}
			continue
		}
		if !old || strings.Contains(string(mounts), "lowerdir="+dir) {
			continue
		}
		arch, hex, ok := strings.Cut(e.Name(), "-sha256-")
		if !ok || arch == "" {
			continue
		}
		h := v1.Hash{Algorithm: "sha256", Hex: hex}
		// Rename first: a rootfs is either whole under its name or gone.
		trash := filepath.Join(s.dir, "rootfs", ".prune-"+e.Name())
		if err := os.Rename(dir, trash); err != nil {
			errs = append(errs, err)
			continue
		}
		if err := os.RemoveAll(trash); err != nil {
			errs = append(errs, err)
		}
		removed = append(removed, h.String())
		s.log.Info("pruned image", "digest", h.String(), "arch", arch)
		// The image's blobs go when no other arch's rootfs of it is left
		// (an image has one platform; this is belt and braces).
		if others, _ := filepath.Glob(filepath.Join(s.dir, "rootfs", "*-sha256-"+hex)); len(others) == 0 {
			if err := lp.RemoveDescriptors(match.Digests(h)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	// Blobs no image in the layout's index refers to any more.
	if blobs, err := lp.GarbageCollect(); err == nil {
		for _, b := range blobs {
			errs = append(errs, lp.RemoveBlob(b))
		}
	} else {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("prune image store: %w", err)
	}
	return removed, nil
}
