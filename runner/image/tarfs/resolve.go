package tarfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// root is an open directory that paths are resolved inside.
type root struct {
	fd   int
	path string
}

func openRoot(dir string) (*root, error) {
	fd, err := unix.Open(dir, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open root %s: %w", dir, err)
	}
	return &root{fd: fd, path: dir}, nil
}

func (r *root) close() { unix.Close(r.fd) }

// clean turns any name into a root-relative path without "..": "/a/../b",
// "../../b" and "b" all become "b"; the root itself is "".
func clean(name string) string {
	return strings.TrimPrefix(path.Clean("/"+name), "/")
}

// openIn opens rel (root-relative, cleaned) with flags, resolving every
// component inside the root.
func (r *root) openIn(rel string, flags int) (int, error) {
	if rel == "" {
		rel = "."
	}
	how := unix.OpenHow{
		Flags:   uint64(flags | unix.O_CLOEXEC),
		Resolve: unix.RESOLVE_IN_ROOT | unix.RESOLVE_NO_MAGICLINKS,
	}
	for {
		fd, err := unix.Openat2(r.fd, rel, &how)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err == unix.ENOSYS {
			return -1, errors.New("openat2 not supported: Linux 5.6 or later is needed")
		}
		return fd, err
	}
}

// dir opens the directory rel inside the root, creating missing components
// (mode 0755) when create is set. Components that exist as symlinks are
// followed inside the root; one that exists as a non-directory is an error.
func (r *root) dir(rel string, create bool) (int, error) {
	fd, err := r.openIn(rel, unix.O_PATH|unix.O_DIRECTORY)
	if err == nil || !create || err != unix.ENOENT {
		if err != nil {
			return -1, fmt.Errorf("open directory /%s: %w", rel, err)
		}
		return fd, nil
	}
	parts := strings.Split(rel, "/")
	cur := ""
	for _, p := range parts {
		next := path.Join(cur, p)
		fd, err := r.openIn(next, unix.O_PATH|unix.O_DIRECTORY)
		if err == unix.ENOENT {
			pfd, perr := r.openIn(cur, unix.O_PATH|unix.O_DIRECTORY)
			if perr != nil {
				return -1, fmt.Errorf("open directory /%s: %w", cur, perr)
			}
			merr := unix.Mkdirat(pfd, p, 0o755)
			unix.Close(pfd)
			if merr != nil && merr != unix.EEXIST {
				return -1, fmt.Errorf("create directory /%s: %w", next, merr)
			}
			fd, err = r.openIn(next, unix.O_PATH|unix.O_DIRECTORY)
		}
		if err != nil {
			return -1, fmt.Errorf("open directory /%s: %w", next, err)
		}
		unix.Close(fd)
		cur = next
	}
	return r.openIn(rel, unix.O_PATH|unix.O_DIRECTORY)
}

// removeAt removes name in dirfd and, when it is a directory, everything
// below it, without following symlinks. A missing name is not an error.
func removeAt(dirfd int, name string) error {
	err := unix.Unlinkat(dirfd, name, 0)
	if err == nil || err == unix.ENOENT {
		return nil
	}
	if err != unix.EISDIR && err != unix.EPERM {
		return err
	}
	fd, err := unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	f := os.NewFile(uintptr(fd), name)
	names, err := f.Readdirnames(-1)
	if err != nil {
		f.Close()
		return err
	}
	for _, n := range names {
		if err := removeAt(fd, n); err != nil {
			f.Close()
			return err
		}
	}
	f.Close()
	err = unix.Unlinkat(dirfd, name, unix.AT_REMOVEDIR)
	if err == unix.ENOENT {
		return nil
	}
	return err
}

// ReadFile reads the file at name inside root, resolving symlinks inside
// the root: a file an image made into a symlink to a host path reads the
// root's copy of that path, never the host's.
func ReadFile(rootDir, name string) ([]byte, error) {
	r, err := openRoot(rootDir)
	if err != nil {
		return nil, err
	}
	defer r.close()
	fd, err := r.openIn(clean(name), unix.O_RDONLY)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: name, Err: err}
	}
	f := os.NewFile(uintptr(fd), name)
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}
