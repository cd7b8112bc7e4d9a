package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/apkfarm/apkfarm/internal/safefile"
)

// Marshal returns the file content of s: indented JSON with sorted keys and
// a final newline, so equal states give equal bytes.
func Marshal(s *Status) ([]byte, error) {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal state: %w", err)
	}
	return append(b, '\n'), nil
}

// Unmarshal parses file content and checks it (schema, statuses, classes).
// Unknown fields are ignored, so a file from a newer apkfarm of the same
// schema reads.
func Unmarshal(b []byte) (*Status, error) {
	s := &Status{}
	if err := json.Unmarshal(b, s); err != nil {
		return nil, err
	}
	if err := s.Check(); err != nil {
		return nil, err
	}
	if s.Arches == nil {
		s.Arches = map[string]*Arch{}
	}
	return s, nil
}

// MaxFileBytes bounds the state file as the runner reads it.
const MaxFileBytes = 64 << 20

// Read reads and checks the state file at path. It must be a regular file
// (a FIFO or a directory is an error naming it, never a wait) of at most
// MaxFileBytes; a missing one is an error wrapping fs.ErrNotExist.
func Read(path string) (*Status, error) {
	b, err := safefile.ReadFile(path, MaxFileBytes)
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	s, err := Unmarshal(b)
	if err != nil {
		return nil, fmt.Errorf("read state %s: %w", path, err)
	}
	return s, nil
}

// Load reads the state file at path. A missing file gives an empty state. A
// file that does not parse or has another schema is reported with a warning
// and renamed "<path>.corrupt-<UTC time>" so that it can be looked at later,
// and Load returns an empty state: a bad state file never stops a run. The
// error is for trouble reading or renaming the file (permissions, I/O, a
// FIFO or a directory in its place: Preflight finds those before a run
// starts).
func Load(path string, logger *slog.Logger) (*Status, error) {
	b, err := safefile.ReadFile(path, MaxFileBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return New(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state: %w", err)
	}
	s, perr := Unmarshal(b)
	if perr == nil {
		return s, nil
	}
	aside := path + ".corrupt-" + time.Now().UTC().Format("20060102T150405.000000000Z")
	if err := os.Rename(path, aside); err != nil {
		return nil, fmt.Errorf("set aside corrupt state %s: %w", path, err)
	}
	logger.Warn("state file unusable; set aside, starting from an empty state",
		"path", path, "moved_to", aside, "err", perr)
	return New(), nil
}

// Save writes s to path atomically: a temporary file in the same directory,
// fsync, rename, fsync of the directory. When the file already holds the
// same content apart from the generated time, it is left alone (and s's
// Generated is set to the file's) and changed is false.
//
// The caller sets Generated to the run's time; a zero Generated becomes the
// current time.
func Save(path string, s *Status) (changed bool, err error) {
	s.Schema = Schema
	if s.Generated.IsZero() {
		s.Generated = time.Now().UTC().Truncate(time.Second)
	}
	if s.Arches == nil {
		s.Arches = map[string]*Arch{}
	}
	b, err := Marshal(s)
	if err != nil {
		return false, err
	}
	if old, rerr := safefile.ReadFile(path, MaxFileBytes); rerr == nil {
		if prev, perr := Unmarshal(old); perr == nil {
			keep := *s
			keep.Generated = prev.Generated
			if kb, err := Marshal(&keep); err == nil && bytes.Equal(kb, old) {
				s.Generated = prev.Generated
				return false, nil
			}
		}
	}
	if err := safefile.Write(path, b, 0o644); err != nil {
		return false, fmt.Errorf("write state: %w", err)
	}
	return true, nil
}

// Preflight checks, before a run plans or builds anything, that the state
// directory can take what the run writes at its end: dir is a directory
// (made when missing) in which files can be created, and each file the
// runner reads back from it (status.json, live.json), where present, is a
// regular file it can open; runs/ is a directory. Errors name the path and
// what to do.
func Preflight(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("state directory: %w (state.dir must be a writable directory)", err)
	}
	probe, err := os.CreateTemp(dir, ".preflight-*")
	if err != nil {
		return fmt.Errorf("state directory %s is not writable: %w", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	for _, name := range []string{FileName, LiveFile} {
		p := filepath.Join(dir, name)
		f, err := safefile.Open(p)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			return fmt.Errorf("state file unusable: %w (move it away: the run writes a new one)", err)
		}
		f.Close()
	}
	runs := filepath.Join(dir, RunsDir)
	if fi, err := os.Stat(runs); err == nil && !fi.IsDir() {
		return fmt.Errorf("state directory: %s is a %s, not a directory (move it away)", runs, safefile.Kind(fi.Mode()))
	}
	return nil
}
