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

// Prune removes root filesystems not handed out by Rootfs (or Prepared)
// for longer than unused, with their images' blobs, and leftovers of
// interrupted unpacks (and preparations).
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
	rm, err := s.prunePrepared(unused, string(mounts))
	removed = append(removed, rm...)
	errs = append(errs, err)
	// Blobs no image in the layout's index refers to any more.
	if blobs, err := lp.GarbageCollect(); err == nil {
		for _, b := range blobs {
			errs = append(errs, lp.RemoveBlob(b))
		}
	} else if !errors.Is(err, os.ErrNotExist) { // no blobs/ yet: only tarballs were used
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("prune image store: %w", err)
	}
	return removed, nil
}

// supersededAfter is how long a prepared root that is no longer its
// recipe's last (a repository's index changed since) is kept after it was
// last handed out: sessions that got it just before may still be starting.
const supersededAfter = time.Hour

// prunePrepared removes the prepared build roots not handed out for longer
// than unused, or than supersededAfter once a newer root of the same
// recipe exists (unless an overlay mounts one), interrupted preparations,
// and records of the last root of a recipe whose root is gone.
func (s *Store) prunePrepared(unused time.Duration, mounts string) ([]string, error) {
	base := filepath.Join(s.dir, "prepared")
	ents, err := os.ReadDir(base)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("prune prepared roots: %w", err)
	}
	// The last root of each recipe; the others are superseded (an index
	// or a key changed) and go once not handed out for supersededAfter.
	current := map[string]bool{}
	links, _ := filepath.Glob(filepath.Join(base, "*.latest"))
	for _, l := range links {
		if name, err := os.Readlink(l); err == nil {
			current[name] = true
		}
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		p := filepath.Join(base, e.Name())
		fi, err := e.Info()
		if err != nil || !e.IsDir() || strings.HasPrefix(e.Name(), ".") {
			if err == nil && strings.HasPrefix(e.Name(), ".") && time.Since(fi.ModTime()) > time.Hour {
				errs = append(errs, os.RemoveAll(p))
			}
			continue
		}
		keep := unused
		if !current[e.Name()] {
			keep = min(unused, supersededAfter)
		}
		if time.Since(fi.ModTime()) <= keep || strings.Contains(mounts, "lowerdir="+p) {
			continue
		}
		trash := filepath.Join(base, ".prune-"+e.Name())
		if err := os.Rename(p, trash); err != nil {
			errs = append(errs, err)
			continue
		}
		errs = append(errs, os.RemoveAll(trash))
		_, key, _ := strings.Cut(e.Name(), "-")
		removed = append(removed, "prepared:"+key)
		s.log.Info("pruned prepared build root", "dir", p)
	}
	// Records of the last root of a recipe, once that root is gone.
	for _, l := range links {
		if _, err := os.Stat(l); errors.Is(err, os.ErrNotExist) {
			errs = append(errs, os.Remove(l))
		}
	}
	return removed, errors.Join(errs...)
}
