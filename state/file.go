package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
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

// Load reads the state file at path. A missing file gives an empty state. A
// file that does not parse or has another schema is reported with a warning
// and renamed "<path>.corrupt-<UTC time>" so that it can be looked at later,
// and Load returns an empty state: a bad state file never stops a run. The
// error is for trouble reading or renaming the file (permissions, I/O).
func Load(path string, logger *slog.Logger) (*Status, error) {
	b, err := os.ReadFile(path)
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
	if old, rerr := os.ReadFile(path); rerr == nil {
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
