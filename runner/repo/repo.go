package repo

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"

	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/signer"
)

// IndexName is the file name of an arch's index.
const IndexName = "APKINDEX.tar.gz"

// KeysDir is the directory of a repository holding its public keys.
const KeysDir = "keys"

// MaxIndexBytes bounds a published index read back.
const MaxIndexBytes = 256 << 20

// MaxPackageBytes bounds one package read from staging.
const MaxPackageBytes = 4 << 30

// Repository is one repository directory.
type Repository struct {
	// Dir holds <arch>/APKINDEX.tar.gz, the packages, and keys/.
	Dir string
	// Keys are the public keys a published index must be signed with
	// (during a key rotation, the old and the new).
	Keys *apk.Keyring
}

// ArchDir is the directory of arch's index and packages.
func (r Repository) ArchDir(arch string) string { return filepath.Join(r.Dir, arch) }

// IndexPath is arch's index.
func (r Repository) IndexPath(arch string) string {
	return filepath.Join(r.Dir, arch, IndexName)
}

// Index reads and verifies arch's published index. An arch without an
// index yet is an empty repository: nil, nil, nil.
func (r Repository) Index(arch string) (*apk.Index, []byte, error) {
	p := r.IndexPath(arch)
	b, err := safefile.ReadFile(p, MaxIndexBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read published index: %w", err)
	}
	if r.Keys == nil {
		return nil, nil, fmt.Errorf("read published index %s: no keys to verify it with", p)
	}
	if err := r.Keys.VerifyIndex(b, p); err != nil {
		return nil, nil, fmt.Errorf("read published index: %w (publish.keys must hold the key it is signed with)", err)
	}
	idx, err := apk.ReadIndexArchive(b, p)
	if err != nil {
		return nil, nil, fmt.Errorf("read published index: %w", err)
	}
	return idx, b, nil
}

// FileName is the file name of a package in a repository, as abuild and
// apk name it: <name>-<version>.apk.
func FileName(p *apk.Package) string { return p.Name + "-" + p.Version + ".apk" }

// PublishKeys writes the public keys into <dir>/keys/ (those already
// there with the same content are left alone), so that clients and
// mirrors find them beside the repository.
func (r Repository) PublishKeys(keys []signer.PublicKey) error {
	for _, k := range keys {
		p := filepath.Join(r.Dir, KeysDir, k.Name)
		b := apk.MarshalPublicKey(k.Key)
		if old, err := safefile.ReadFile(p, 1<<20); err == nil && bytes.Equal(old, b) {
			continue
		}
		if err := safefile.Write(p, b, 0o644); err != nil {
			return fmt.Errorf("publish keys: %w", err)
		}
	}
	return nil
}

// Arches lists the arch directories that hold an index, sorted.
func (r Repository) Arches() ([]string, error) {
	ents, err := os.ReadDir(r.Dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if e.IsDir() && e.Name() != KeysDir {
			if fi, err := os.Stat(r.IndexPath(e.Name())); err == nil && fi.Mode().IsRegular() {
				out = append(out, e.Name())
			}
		}
	}
	slices.Sort(out)
	return out, nil
}
