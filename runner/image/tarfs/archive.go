package tarfs

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"os"
	"path"
	"sort"
	"time"

	"golang.org/x/sys/unix"
)

// Archive writes name (a file or directory inside rootDir, resolved inside
// the root) to w as a tar stream. Entries are named from name's last
// component ("/home/build/packages" gives "packages/", "packages/x.apk");
// the root itself gives "./"-relative names. Symlinks are stored as
// symlinks and never followed below name; hard links inside the tree stay
// hard links; device nodes and sockets are left out.
func Archive(ctx context.Context, rootDir, name string, w io.Writer) error {
	rt, err := openRoot(rootDir)
	if err != nil {
		return err
	}
	defer rt.close()
	rel := clean(name)
	fd, err := rt.openIn(rel, unix.O_PATH)
	if err != nil {
		return &os.PathError{Op: "open", Path: name, Err: err}
	}
	defer unix.Close(fd)
	tw := tar.NewWriter(w)
	a := &archiver{ctx: ctx, tw: tw, links: map[[2]uint64]string{}}
	top := path.Base("/" + rel)
	if rel == "" {
		top = "."
	}
	// fd is the entry itself: stat it through an empty path.
	if err := a.add(fd, "", top); err != nil {
		return err
	}
	return tw.Close()
}

type archiver struct {
	ctx   context.Context
	tw    *tar.Writer
	links map[[2]uint64]string
}

// add writes the entry name in dirfd (name "" means dirfd itself) as tarName.
func (a *archiver) add(dirfd int, name, tarName string) error {
	if err := a.ctx.Err(); err != nil {
		return err
	}
	var st unix.Stat_t
	flags := unix.AT_SYMLINK_NOFOLLOW
	if name == "" {
		flags |= unix.AT_EMPTY_PATH
	}
	if err := unix.Fstatat(dirfd, name, &st, flags); err != nil {
		return fmt.Errorf("stat %s: %w", tarName, err)
	}
	hdr := &tar.Header{
		Name:    tarName,
		Mode:    int64(st.Mode & 0o7777),
		Uid:     int(st.Uid),
		Gid:     int(st.Gid),
		ModTime: time.Unix(st.Mtim.Unix()).UTC(),
		Format:  tar.FormatPAX,
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		hdr.Typeflag = tar.TypeDir
		if tarName != "." {
			hdr.Name += "/"
		}
		if err := a.tw.WriteHeader(hdr); err != nil {
			return err
		}
		open := name
		if open == "" {
			open = "."
		}
		fd, err := unix.Openat(dirfd, open, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("open %s: %w", tarName, err)
		}
		f := os.NewFile(uintptr(fd), tarName)
		defer f.Close()
		names, err := f.Readdirnames(-1)
		if err != nil {
			return fmt.Errorf("read directory %s: %w", tarName, err)
		}
		sort.Strings(names)
		for _, n := range names {
			child := path.Join(tarName, n)
			if tarName == "." {
				child = "./" + n
			}
			if err := a.add(fd, n, child); err != nil {
				return err
			}
		}
		return nil
	case unix.S_IFLNK:
		buf := make([]byte, unix.PathMax)
		n, err := unix.Readlinkat(dirfd, name, buf)
		if err != nil {
			return fmt.Errorf("read link %s: %w", tarName, err)
		}
		hdr.Typeflag = tar.TypeSymlink
		hdr.Linkname = string(buf[:n])
		return a.tw.WriteHeader(hdr)
	case unix.S_IFREG:
		key := [2]uint64{st.Dev, st.Ino}
		if st.Nlink > 1 {
			if first, ok := a.links[key]; ok {
				hdr.Typeflag = tar.TypeLink
				hdr.Linkname = first
				return a.tw.WriteHeader(hdr)
			}
			a.links[key] = tarName
		}
		var fd int
		var err error
		if name == "" {
			fd, err = unix.Openat(dirfd, fmt.Sprintf("/proc/self/fd/%d", dirfd), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		} else {
			fd, err = unix.Openat(dirfd, name, unix.O_RDONLY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		}
		if err != nil {
			return fmt.Errorf("open %s: %w", tarName, err)
		}
		f := os.NewFile(uintptr(fd), tarName)
		defer f.Close()
		hdr.Typeflag = tar.TypeReg
		hdr.Size = st.Size
		if err := a.tw.WriteHeader(hdr); err != nil {
			return err
		}
		n, err := io.Copy(a.tw, io.LimitReader(f, st.Size))
		if err != nil {
			return fmt.Errorf("read %s: %w", tarName, err)
		}
		if n != st.Size {
			return fmt.Errorf("read %s: file shrank while archiving", tarName)
		}
		return nil
	case unix.S_IFIFO:
		hdr.Typeflag = tar.TypeFifo
		return a.tw.WriteHeader(hdr)
	}
	return nil // devices and sockets are left out
}
