package oci

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Sweep removes what runners that died without closing their sessions
// (SIGKILL, a crash, a reboot) left behind in the work directory:
// apkfarm- containers whose bundle is in it, session root mounts and
// session directories. A session whose runner still lives holds its lock
// file and is left alone, so Sweep is safe to run beside other runners;
// other work directories are not touched. Pass the options the runners use
// (runtime, its root, the work directory).
func Sweep(ctx context.Context, opts ...Option) error {
	c := newConfig(opts)
	var errs []error
	stale := map[string]bool{} // session directories found stale, locked by us
	var held []*os.File
	defer func() {
		for _, f := range held {
			f.Close()
		}
	}()
	isStale := func(dir string) bool {
		if v, ok := stale[dir]; ok {
			return v
		}
		f, err := os.Open(filepath.Join(dir, "lock"))
		if err != nil {
			// No lock file: a runner between making the directory and
			// locking it, or one that died there. Give it a minute.
			fi, serr := os.Stat(dir)
			young := serr == nil && time.Since(fi.ModTime()) < time.Minute
			stale[dir] = !young
			return !young
		}
		if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
			f.Close()
			stale[dir] = false
			return false
		}
		held = append(held, f) // hold it while sweeping so no one reuses it
		stale[dir] = true
		return true
	}

	// 1. Containers.
	out, err := c.runtimeCmd(ctx, "list", "--format", "json").Output()
	if err != nil {
		errs = append(errs, fmt.Errorf("sweep: %s list: %w", c.runtime, err))
	}
	var list []struct {
		ID     string `json:"id"`
		Bundle string `json:"bundle"`
	}
	if len(out) > 0 && strings.TrimSpace(string(out)) != "null" {
		if err := json.Unmarshal(out, &list); err != nil {
			errs = append(errs, fmt.Errorf("sweep: parse %s list: %w", c.runtime, err))
		}
	}
	work, _ := filepath.Abs(c.workDir)
	for _, ct := range list {
		session := filepath.Dir(ct.Bundle)
		if !strings.HasPrefix(ct.ID, Prefix) || filepath.Dir(session) != work || !isStale(session) {
			continue // another work directory's, or alive
		}
		c.runtimeCmd(ctx, "kill", ct.ID, "KILL").Run()
		if out, err := c.runtimeCmd(ctx, "delete", "--force", ct.ID).CombinedOutput(); err != nil {
			errs = append(errs, fmt.Errorf("sweep: delete container %s: %w: %s", ct.ID, err, strings.TrimSpace(string(out))))
			continue
		}
		c.log.Info("swept container", "container", ct.ID)
	}

	// 2. Session directories and their root mounts.
	ents, err := os.ReadDir(c.workDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, fmt.Errorf("sweep: %w", err))
	}
	for _, e := range ents {
		dir := filepath.Join(c.workDir, e.Name())
		if !e.IsDir() || !isStale(dir) {
			continue
		}
		// What runc never recorded (it died creating a container, with
		// the runner): the bundles left say which containers to reap.
		// Their cgroups are found under this process's cgroup, which is
		// the dead runner's when both run in the same service.
		bundles, _ := filepath.Glob(filepath.Join(dir, "exec-*"))
		reaped := true
		for _, b := range bundles {
			if err := reap(c, Prefix+e.Name()+"-"+strings.TrimPrefix(filepath.Base(b), "exec-")); err != nil {
				errs = append(errs, fmt.Errorf("sweep: %w", err))
				reaped = false
			}
		}
		if !reaped {
			continue
		}
		if err := unmountRoot(filepath.Join(dir, "root")); err != nil {
			errs = append(errs, fmt.Errorf("sweep: %w", err))
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			errs = append(errs, fmt.Errorf("sweep: %w", err))
			continue
		}
		c.log.Info("swept session", "dir", dir)
	}
	return errors.Join(errs...)
}
