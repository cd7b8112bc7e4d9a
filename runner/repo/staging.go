package repo

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/apkfarm/apkfarm/internal/safefile"
)

// Staging is where a run's builds leave their packages, unsigned, before
// Publish: <Dir>/<arch>/<name>-<version>.apk.
type Staging struct {
	Dir string
}

// ArchDir is arch's staging directory.
func (s Staging) ArchDir(arch string) string { return filepath.Join(s.Dir, arch) }

// Reset empties arch's staging directory: what an earlier run staged was
// either published or is built again.
func (s Staging) Reset(arch string) error {
	if err := os.RemoveAll(s.ArchDir(arch)); err != nil {
		return fmt.Errorf("reset staging of %s: %w", arch, err)
	}
	if err := os.MkdirAll(s.ArchDir(arch), 0o755); err != nil {
		return fmt.Errorf("reset staging of %s: %w", arch, err)
	}
	return nil
}

// Copy stages files (staged on another arch: noarch packages) on arch too,
// as hard links where the filesystem allows, and returns their paths.
func (s Staging) Copy(arch string, files []string) ([]string, error) {
	var out []string
	for _, src := range files {
		dst := filepath.Join(s.ArchDir(arch), filepath.Base(src))
		if err := linkOrCopy(src, dst); err != nil {
			return nil, fmt.Errorf("stage %s on %s: %w", filepath.Base(src), arch, err)
		}
		out = append(out, dst)
	}
	return out, nil
}

func linkOrCopy(src, dst string) error {
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		return err
	}
	os.Remove(dst)
	if err := os.Link(src, dst); err == nil {
		return nil
	}
	f, err := safefile.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = safefile.WriteFrom(dst, f, 0o644)
	return err
}
