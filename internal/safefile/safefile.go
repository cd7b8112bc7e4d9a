// Package safefile is how apkfarm writes and reads the files it owns: the
// state, packages, indexes, caches and downloads.
//
// Writes are atomic and durable: the content goes to a temporary file in
// the target's directory, which is fsynced, renamed over the target, and
// the directory fsynced, so a reader (or a run after a crash) sees the old
// content or the new, never a part of either. CommitUnsynced and
// WriteUnsynced are the exceptions, for batches of files (a publish, the
// static site): atomic without the fsyncs, made durable at the end by one
// SyncFS.
//
// Reads refuse anything but a regular file (a FIFO, a device, a socket or
// a directory where a file is expected), without blocking on it, and cap
// what they read: a file the runner did not expect to find is an error
// naming its path, never a hang.
package safefile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"

	"golang.org/x/sys/unix"
)

// Write writes b to path atomically and durably with mode perm, making
// the directory when missing.
func Write(path string, b []byte, perm fs.FileMode) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Abort()
		return fmt.Errorf("write %s: %w", path, err)
	}
	return f.Commit()
}

// WriteFrom copies r to path atomically and durably with mode perm and
// returns the bytes written. When r fails, path is left as it was.
func WriteFrom(path string, r io.Reader, perm fs.FileMode) (int64, error) {
	f, err := Create(path, perm)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(f, r)
	if err != nil {
		f.Abort()
		return n, fmt.Errorf("write %s: %w", path, err)
	}
	return n, f.Commit()
}

// File is a file being written in place of path: written through, it
// replaces path on Commit; Abort (or a crash) leaves path as it was.
type File struct {
	*os.File
	path string
	perm fs.FileMode
	done bool
}

// Create starts writing path: a temporary file beside it, in the same
// directory (made when missing), so that the rename of Commit is atomic.
func Create(path string, perm fs.FileMode) (*File, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	return &File{File: f, path: path, perm: perm}, nil
}

// Commit makes the content written so far the content of the path: mode,
// fsync, close, rename over the path, fsync of the directory.
func (f *File) Commit() error {
	if err := f.CommitNoDirSync(); err != nil {
		return err
	}
	if err := SyncDir(filepath.Dir(f.path)); err != nil {
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	return nil
}

// CommitNoDirSync is Commit without the fsync of the directory: for many
// files written into one directory, each committed this way and the
// directory synced once with SyncDir before anything depends on them.
func (f *File) CommitNoDirSync() error { return f.commit(true) }

// CommitUnsynced renames the file into place without any fsync: for a
// batch of files made durable at once by SyncFS before anything depends
// on them. Until then a crash may leave the path empty or missing.
func (f *File) CommitUnsynced() error { return f.commit(false) }

func (f *File) commit(sync bool) error {
	if f.done {
		return fmt.Errorf("commit %s: already committed or aborted", f.path)
	}
	f.done = true
	tmp := f.Name()
	err := f.Chmod(f.perm)
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, f.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", f.path, err)
	}
	return nil
}

// Abort drops what was written; the path stays as it was. Safe after
// Commit (it then does nothing).
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.Close()
	os.Remove(f.Name())
}

// SyncFS makes everything written to the filesystem holding path durable
// (syncfs(2)): one call for a batch of files committed with
// CommitUnsynced, cheaper than an fsync each.
func SyncFS(path string) error {
	d, err := os.Open(path)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := unix.Syncfs(int(d.Fd())); err != nil {
		return fmt.Errorf("sync filesystem of %s: %w", path, err)
	}
	return nil
}

// SyncDir fsyncs a directory, so that a rename or removal in it survives a
// crash.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// ErrNotRegular is wrapped by the errors of Open and ReadFile for a path
// that exists but is not a regular file.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is wrapped by the error of ReadFile for a file larger than
// its cap.
var ErrTooLarge = errors.New("file too large")

// Open opens path for reading when it is a regular file (symbolic links
// are followed). Anything else is an error wrapping ErrNotRegular that
// names the path and what it is; a FIFO is refused without blocking.
func Open(path string) (*os.File, error) {
	// O_NONBLOCK: opening a FIFO without a writer would otherwise wait
	// forever. It has no effect on reads of a regular file.
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, &fs.PathError{Op: "open", Path: path, Err: fmt.Errorf("%w (%s)", ErrNotRegular, Kind(fi.Mode()))}
	}
	return f, nil
}

// ReadFile reads the regular file at path, refusing one larger than max
// bytes (max <= 0: no cap).
func ReadFile(path string, max int64) ([]byte, error) {
	f, err := Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if max > 0 && fi.Size() > max {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, fi.Size(), max)}
	}
	r := io.Reader(f)
	if max > 0 {
		r = io.LimitReader(f, max+1) // the file may grow while it is read
	}
	var buf bytes.Buffer
	buf.Grow(int(fi.Size()) + bytes.MinRead) // one allocation for a file that does not grow
	if _, err := buf.ReadFrom(r); err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	b := buf.Bytes()
	if max > 0 && int64(len(b)) > max {
		return nil, &fs.PathError{Op: "read", Path: path, Err: fmt.Errorf("%w: more than %d bytes", ErrTooLarge, max)}
	}
	return b, nil
}

// Kind names the type of file a mode describes, for error messages.
func Kind(m fs.FileMode) string {
	switch t := m.Type(); {
	case t == 0:
		return "regular file"
	case t&fs.ModeDir != 0:
		return "directory"
	case t&fs.ModeSymlink != 0:
		return "symbolic link"
	case t&fs.ModeNamedPipe != 0:
		return "FIFO"
	case t&fs.ModeSocket != 0:
		return "socket"
	case t&fs.ModeCharDevice != 0:
		return "character device"
	case t&fs.ModeDevice != 0:
		return "block device"
	default:
		return "irregular file"
	}
}

// WriteUnsynced writes b to path atomically but not durably (making the
// directory when missing): a temporary
// file beside it renamed over it, with no fsync. A reader sees the old
// content or the new, never a part; a crash may lose the write. It is for
// derived files that are made again on demand (the static site, tens of
// thousands of files): call SyncFS once when all are written instead of
// paying two fsyncs a file.
func WriteUnsynced(path string, b []byte, perm fs.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if errors.Is(err, fs.ErrNotExist) {
		if err = os.MkdirAll(dir, 0o755); err == nil {
			f, err = os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
		}
	}
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(b)
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
