package builder

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/apkfarm/apkfarm/runner/executor"
)

// mounts are the shared caches of j's session: the sources directory at
// $SRCDEST and the arch's ccache directory.
func (r *runner) mounts(j *Job) []executor.Mount {
	var ms []executor.Mount
	if r.opts.SourcesDir != "" {
		ms = append(ms, executor.Mount{Source: r.opts.SourcesDir, Target: guestSrcDest, Writable: true})
	}
	if r.opts.CcacheDir != "" {
		ms = append(ms, executor.Mount{Source: filepath.Join(r.opts.CcacheDir, j.Arch), Target: guestCcache, Writable: true})
	}
	return ms
}

// cacheEnv are the variables that make abuild use the ccache directory.
func (r *runner) cacheEnv() []string {
	if r.opts.CcacheDir == "" {
		return nil
	}
	env := []string{"USE_CCACHE=1", "CCACHE_DIR=" + guestCcache}
	if r.opts.CcacheSize > 0 {
		// ccache reads a number with a suffix; Ki is 1024 bytes.
		env = append(env, "CCACHE_MAXSIZE="+strconv.FormatInt(max(r.opts.CcacheSize/1024, 1), 10)+"Ki")
	}
	return env
}

// makeCacheDirs creates the shared cache directories of the jobs' arches
// and, for builds run as a user, hands them to that user (the build
// cannot: it sees them only through its mounts).
func makeCacheDirs(o *Options, jobs []Job) error {
	var dirs []string
	if o.SourcesDir != "" {
		dirs = append(dirs, o.SourcesDir)
	}
	if o.CcacheDir != "" {
		seen := map[string]bool{}
		for _, j := range jobs {
			if !seen[j.Arch] {
				seen[j.Arch] = true
				dirs = append(dirs, filepath.Join(o.CcacheDir, j.Arch))
			}
		}
	}
	uid, gid := -1, -1
	if o.User != "" {
		u, g, _ := strings.Cut(o.User, ":")
		var err1, err2 error
		uid, err1 = strconv.Atoi(u)
		gid, err2 = strconv.Atoi(g)
		if err1 != nil || err2 != nil {
			return fmt.Errorf("build options: user %q: want numeric uid:gid", o.User)
		}
	}
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return fmt.Errorf("create cache directory: %w", err)
		}
		if uid >= 0 {
			if err := chownTree(d, uid, gid); err != nil {
				return fmt.Errorf("hand cache directory %s to %s: %w", d, o.User, err)
			}
		}
	}
	return nil
}

// chownTree gives dir and everything below it to uid:gid, touching only
// what another user owns.
func chownTree(dir string, uid, gid int) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) == uid && int(st.Gid) == gid {
			return nil
		}
		return os.Lchown(p, uid, gid)
	})
}

// markSourcesUsed sets the modification time of the named files in dir
// to now, so that PruneSources keeps what builds still use.
func markSourcesUsed(dir string, names []string) {
	now := time.Now()
	for _, n := range names {
		if n == "" || strings.ContainsAny(n, "/\x00") || n == "." || n == ".." {
			continue
		}
		_ = os.Chtimes(filepath.Join(dir, n), now, now)
	}
}

// PruneSources removes the files of a sources directory (see
// Options.SourcesDir) not used by a build for longer than maxAge: not
// fetched, and not named by a job's Sources, in that time. Partial
// downloads and files abuild renamed after a failed checksum go the same
// way. Call it at the start of a run. It returns the names removed.
func PruneSources(dir string, maxAge time.Duration) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("prune sources: %w", err)
	}
	var removed []string
	var errs []error
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil || !fi.Mode().IsRegular() || time.Since(fi.ModTime()) <= maxAge {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil {
			errs = append(errs, err)
			continue
		}
		removed = append(removed, e.Name())
	}
	if err := errors.Join(errs...); err != nil {
		return removed, fmt.Errorf("prune sources: %w", err)
	}
	return removed, nil
}
