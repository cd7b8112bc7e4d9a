package tarfs

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Options control Extract.
type Options struct {
	// Whiteouts interprets OCI layer whiteouts: ".wh.NAME" removes NAME
	// from the layers below, ".wh..wh..opq" empties its directory of them.
	// Off, such entries are ordinary files.
	Whiteouts bool
	// Chown sets owners from the headers (needs root); off, files belong to
	// the caller.
	Chown bool
	// Logger receives a debug line per skipped entry; nil discards.
	Logger *slog.Logger
}

// Stats counts what Extract did.
type Stats struct {
	Entries int // entries written (files, directories, links)
	Removed int // paths removed by whiteouts
	Skipped int // device nodes and unsupported entry types
	Bytes   int64
}

const (
	whiteoutPrefix = ".wh."
	whiteoutOpaque = ".wh..wh..opq"
)

// Extract unpacks the tar stream r into dir inside rootDir (dir is a path
// as seen from inside the root; "" or "/" is the root itself). Nothing is
// written outside rootDir whatever the stream holds. An entry that replaces
// an existing one removes it first (a directory stays a directory).
func Extract(ctx context.Context, rootDir, dir string, r io.Reader, opts Options) (Stats, error) {
	var st Stats
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	rt, err := openRoot(rootDir)
	if err != nil {
		return st, err
	}
	defer rt.close()
	base := clean(dir)
	if base != "" {
		fd, err := rt.dir(base, true)
		if err != nil {
			return st, err
		}
		unix.Close(fd)
	}
	// Paths this stream wrote: a whiteout only hides what lower layers
	// left, never what the same layer added.
	written := map[string]bool{}
	tr := tar.NewReader(r)
	for {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		hdr, err := tr.Next()
		if err == io.EOF {
			return st, nil
		}
		if err != nil {
			return st, fmt.Errorf("read tar: %w", err)
		}
		rel := clean(path.Join(base, clean(hdr.Name)))
		if rel == "" {
			continue // the root itself: keep its mode and owner
		}
		parent, name := path.Split(rel)
		parent = strings.TrimSuffix(parent, "/")
		if opts.Whiteouts && strings.HasPrefix(name, whiteoutPrefix) {
			n, err := rt.whiteout(parent, name, written)
			if err != nil {
				return st, fmt.Errorf("apply whiteout %s: %w", hdr.Name, err)
			}
			st.Removed += n
			continue
		}
		switch hdr.Typeflag {
		case tar.TypeChar, tar.TypeBlock:
			log.Debug("skip device node", "name", hdr.Name)
			st.Skipped++
			continue
		case tar.TypeDir, tar.TypeReg, tar.TypeSymlink, tar.TypeLink, tar.TypeFifo:
		case tar.TypeXGlobalHeader, tar.TypeXHeader:
			continue
		default:
			log.Debug("skip unsupported tar entry", "name", hdr.Name, "type", string(hdr.Typeflag))
			st.Skipped++
			continue
		}
		pfd, err := rt.dir(parent, true)
		if err != nil {
			return st, fmt.Errorf("extract %s: %w", hdr.Name, err)
		}
		n, err := rt.entry(pfd, name, base, hdr, tr, opts)
		unix.Close(pfd)
		if err != nil {
			return st, fmt.Errorf("extract %s: %w", hdr.Name, err)
		}
		written[rel] = true
		st.Entries++
		st.Bytes += n
	}
}

func (rt *root) whiteout(parent, name string, written map[string]bool) (int, error) {
	pfd, err := rt.openIn(parent, unix.O_PATH|unix.O_DIRECTORY)
	if err == unix.ENOENT {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer unix.Close(pfd)
	if name == whiteoutOpaque {
		fd, err := unix.Openat(pfd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, err
		}
		f := os.NewFile(uintptr(fd), parent)
		names, err := f.Readdirnames(-1)
		f.Close()
		if err != nil {
			return 0, err
		}
		n := 0
		for _, c := range names {
			if written[path.Join(parent, c)] {
				continue
			}
			if err := removeAt(pfd, c); err != nil {
				return n, err
			}
			n++
		}
		return n, nil
	}
	target := strings.TrimPrefix(name, whiteoutPrefix)
	if target == "" || target == "." || target == ".." || written[path.Join(parent, target)] {
		return 0, nil
	}
	if err := removeAt(pfd, target); err != nil {
		return 0, err
	}
	return 1, nil
}

// entry creates one entry named name in the directory pfd.
func (rt *root) entry(pfd int, name, base string, hdr *tar.Header, r io.Reader, opts Options) (int64, error) {
	mode := uint32(hdr.Mode & 0o7777)
	var st unix.Stat_t
	exists := unix.Fstatat(pfd, name, &st, unix.AT_SYMLINK_NOFOLLOW) == nil
	isDir := exists && st.Mode&unix.S_IFMT == unix.S_IFDIR
	if exists && !(isDir && hdr.Typeflag == tar.TypeDir) {
		if err := removeAt(pfd, name); err != nil {
			return 0, fmt.Errorf("replace existing: %w", err)
		}
	}
	if !opts.Chown && hdr.Typeflag == tar.TypeDir {
		mode |= 0o700 // keep directories writable for the rest of the stream
	}
	var written int64
	switch hdr.Typeflag {
	case tar.TypeDir:
		if !isDir {
			if err := unix.Mkdirat(pfd, name, 0o700); err != nil {
				return 0, err
			}
		}
		fd, err := unix.Openat(pfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return 0, err
		}
		defer unix.Close(fd)
		if opts.Chown {
			if err := unix.Fchown(fd, hdr.Uid, hdr.Gid); err != nil {
				return 0, err
			}
		}
		if err := unix.Fchmod(fd, mode); err != nil {
			return 0, err
		}
		setXattrs(fd, hdr, opts)
		setTimes(pfd, name, hdr)
	case tar.TypeReg:
		fd, err := unix.Openat(pfd, name, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return 0, err
		}
		f := os.NewFile(uintptr(fd), name)
		written, err = io.Copy(f, r)
		if err == nil && opts.Chown {
			err = f.Chown(hdr.Uid, hdr.Gid)
		}
		if err == nil {
			err = unix.Fchmod(fd, mode) // after chown, which clears setuid bits
		}
		if err == nil {
			setXattrs(fd, hdr, opts)
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return written, err
		}
		setTimes(pfd, name, hdr)
	case tar.TypeSymlink:
		if err := unix.Symlinkat(hdr.Linkname, pfd, name); err != nil {
			return 0, err
		}
		if opts.Chown {
			if err := unix.Fchownat(pfd, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return 0, err
			}
		}
		setTimes(pfd, name, hdr)
	case tar.TypeLink:
		// The target is a path inside the stream (so inside base), resolved
		// inside the root; its last component is not followed, so the link
		// can only name an inode the root already holds.
		trel := clean(path.Join(base, clean(hdr.Linkname)))
		tparent, tname := path.Split(trel)
		if tname == "" {
			return 0, errors.New("hard link to the root directory")
		}
		tfd, err := rt.openIn(strings.TrimSuffix(tparent, "/"), unix.O_PATH|unix.O_DIRECTORY)
		if err != nil {
			return 0, fmt.Errorf("hard link target %s: %w", hdr.Linkname, err)
		}
		err = unix.Linkat(tfd, tname, pfd, name, 0)
		unix.Close(tfd)
		if err != nil {
			return 0, fmt.Errorf("hard link to %s: %w", hdr.Linkname, err)
		}
	case tar.TypeFifo:
		if err := unix.Mknodat(pfd, name, unix.S_IFIFO|mode, 0); err != nil {
			return 0, err
		}
		if opts.Chown {
			if err := unix.Fchownat(pfd, name, hdr.Uid, hdr.Gid, unix.AT_SYMLINK_NOFOLLOW); err != nil {
				return 0, err
			}
		}
	}
	return written, nil
}

func setTimes(pfd int, name string, hdr *tar.Header) {
	if hdr.ModTime.IsZero() {
		return
	}
	ts := unix.NsecToTimespec(hdr.ModTime.UnixNano())
	_ = unix.UtimesNanoAt(pfd, name, []unix.Timespec{ts, ts}, unix.AT_SYMLINK_NOFOLLOW)
}

// setXattrs applies "SCHILY.xattr." records (file capabilities, for one)
// when extracting as root. Failures are ignored: some filesystems refuse
// some namespaces, and a build does not depend on them.
func setXattrs(fd int, hdr *tar.Header, opts Options) {
	if !opts.Chown {
		return
	}
	for k, v := range hdr.PAXRecords {
		if name, ok := strings.CutPrefix(k, "SCHILY.xattr."); ok {
			_ = unix.Fsetxattr(fd, name, []byte(v), 0)
		}
	}
}
