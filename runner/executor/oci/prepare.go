package oci

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"

	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/runner/image"
)

// rootfs returns the lower layer of a session for spec: the image's
// rootfs, or the build root the store prepares from it (Spec.Prepare),
// with the apk add run by install.
func (e *Executor) rootfs(ctx context.Context, spec executor.Spec) (dir, digest string, err error) {
	if spec.Prepare.IsZero() {
		return e.store.Rootfs(ctx, spec.Image, spec.Arch)
	}
	p := spec.Prepare
	dir, key, err := e.store.Prepared(ctx, spec.Image, spec.Arch,
		image.Recipe{Packages: p.Packages, Repositories: p.Repositories, KeysDir: p.KeysDir}, e.install)
	if err != nil {
		return "", "", err
	}
	return dir, "prepared:" + key, nil
}

// install runs argv as root in root, a directory the image store is
// preparing, with network and binds shared read-only: one container over
// the directory itself (no overlay: what apk writes is the point), in a
// session directory of its own so that Sweep finds what a crash leaves.
// Closing it leaves root alone, since root lies outside the session
// directory and is no mount.
func (e *Executor) install(ctx context.Context, root, arch string, argv, binds []string, log io.Writer) error {
	var mounts []executor.Mount
	for _, b := range binds {
		mounts = append(mounts, executor.Mount{Source: b, Target: b})
	}
	var rnd [4]byte
	rand.Read(rnd[:])
	id := "prepare-" + unsafeName.ReplaceAllString(arch, "_") + "-" + hex.EncodeToString(rnd[:])
	if err := os.MkdirAll(e.cfg.workDir, 0o700); err != nil {
		return fmt.Errorf("create work directory: %w", err)
	}
	dir := filepath.Join(e.cfg.workDir, id)
	if err := os.Mkdir(dir, 0o700); err != nil {
		return err
	}
	lock, err := os.OpenFile(filepath.Join(dir, "lock"), os.O_RDWR|os.O_CREATE, 0o600)
	if err == nil {
		err = unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	}
	if err != nil {
		os.RemoveAll(dir)
		return fmt.Errorf("lock session: %w", err)
	}
	s := &session{
		e: e, spec: executor.Spec{ID: id, Arch: arch, Hostname: "prepare", Mounts: mounts},
		id: id, dir: dir, lock: lock, root: root, log: e.cfg.log.With("session", id),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	code, err := s.Exec(ctx, executor.ExecRequest{Argv: argv, Network: true, Stdout: log, Stderr: log})
	if cerr := s.Close(); err == nil && cerr != nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("exit %d", code)
	}
	return nil
}
