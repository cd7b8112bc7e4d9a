package repo

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"time"

	"github.com/apkfarm/apkfarm/internal/safefile"
)

// journal is what an arch keeps between runs about files in its directory
// that its index does not name: <JournalDir>/<arch>.json.
type journal struct {
	// Files maps a file name to when it left the index (Indexed), or
	// when a run first found it in the directory without any index ever
	// naming it (a run killed before its index was renamed).
	Files map[string]journalEntry `json:"files"`
}

type journalEntry struct {
	Since time.Time `json:"since"`
	// Indexed is set for a file that left an index: clients may still
	// fetch it, so it is never overwritten with other bytes.
	Indexed bool `json:"indexed,omitempty"`
}

func journalPath(dir, arch string) string { return filepath.Join(dir, arch+".json") }

func loadJournal(dir, arch string) (*journal, error) {
	j := &journal{Files: map[string]journalEntry{}}
	b, err := safefile.ReadFile(journalPath(dir, arch), 64<<20)
	if errors.Is(err, fs.ErrNotExist) {
		return j, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read publish journal: %w", err)
	}
	if err := json.Unmarshal(b, j); err != nil {
		return nil, fmt.Errorf("read publish journal %s: %w", journalPath(dir, arch), err)
	}
	if j.Files == nil {
		j.Files = map[string]journalEntry{}
	}
	return j, nil
}

func (j *journal) save(dir, arch string) error {
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	if err := safefile.Write(journalPath(dir, arch), append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("write publish journal: %w", err)
	}
	return nil
}

// due returns the files whose grace period has ended by now, sorted.
func (j *journal) due(now time.Time, grace time.Duration) []string {
	var out []string
	for f, e := range j.Files {
		if !e.Since.Add(grace).After(now) {
			out = append(out, f)
		}
	}
	slices.Sort(out)
	return out
}
