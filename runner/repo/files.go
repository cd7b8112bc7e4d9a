package repo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/signer"
)

// SignFile signs the package at path in place through s, replacing any
// signature it had; the file is replaced atomically, with its mode. A
// symbolic link stays one: the file it points to is replaced.
func SignFile(ctx context.Context, s signer.Signer, path string) error {
	target, err := filepath.EvalSymlinks(path)
	if err != nil {
		return err
	}
	b, err := safefile.ReadFile(target, MaxPackageBytes)
	if err != nil {
		return err
	}
	st, err := os.Stat(target)
	if err != nil {
		return err
	}
	u, err := apk.PrepareSigning(b, path)
	if err != nil {
		return fmt.Errorf("sign package: %w", err)
	}
	if u.Kind != apk.KindPackage {
		return fmt.Errorf("sign %s: an index, not a package", path)
	}
	sigs, err := s.Sign(ctx, apk.KindPackage, filepath.Base(path), u.Signed)
	if err != nil {
		return err
	}
	signed, err := apk.Attach(u.Body, sigs...)
	if err != nil {
		return err
	}
	return safefile.Write(target, signed, st.Mode().Perm())
}

// WriteIndex writes idx to path as an APKINDEX.tar.gz signed through s,
// atomically.
func WriteIndex(ctx context.Context, s signer.Signer, path string, idx *apk.Index) error {
	body, err := apk.MarshalIndexArchive(idx)
	if err != nil {
		return fmt.Errorf("write index %s: %w", path, err)
	}
	sigs, err := s.Sign(ctx, apk.KindIndex, filepath.Base(path), body)
	if err != nil {
		return fmt.Errorf("write index %s: %w", path, err)
	}
	signed, err := apk.Attach(body, sigs...)
	if err != nil {
		return fmt.Errorf("write index %s: %w", path, err)
	}
	return safefile.Write(path, signed, 0o644)
}
