package state

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/apkfarm/apkfarm/internal/safefile"
)

// RunsDir is the directory of run records inside the state directory:
// <state.dir>/runs/<id>.json, one per run.
const RunsDir = "runs"

// RunSchema is the version of a run record's format; same rules as Schema.
const RunSchema = 1

// What started a run (Trigger.Kind).
const (
	TriggerManual   = "manual"   // `run` by hand on a terminal
	TriggerTimer    = "timer"    // `run` from cron or a systemd timer (no terminal)
	TriggerSchedule = "schedule" // the built-in schedule of `run --every`
	TriggerGitLab   = "gitlab"   // a GitLab push hook (`run --listen`)
	TriggerHook     = "hook"     // POST /hook/run (`run --listen`)
)

// How a run ended (Run.Result); the exit code says the same in a number.
const (
	RunOK          = "ok"          // exit 0: every planned build built, published and mirrored
	RunFailed      = "failed"      // exit 1: some packages failed or are blocked, or a mirror failed
	RunTrouble     = "trouble"     // exit 2: configuration or infrastructure trouble (Error says what)
	RunInterrupted = "interrupted" // exit 2: SIGTERM or SIGINT stopped it
	RunRunning     = "running"     // the live record of a run under way
)

// Run is the record of one run: <state.dir>/runs/<ID>.json.
type Run struct {
	Schema int `json:"schema"`
	// ID names the run: its start in UTC, "20261204T160233Z", with "-2",
	// "-3", ... when two runs start in the same second. IDs sort by time.
	ID      string    `json:"id"`
	Trigger Trigger   `json:"trigger"`
	Start   time.Time `json:"start"`
	End     time.Time `json:"end"`
	// Result is one of the Run* constants; ExitCode is the exit code of
	// the run; Error the trouble that stopped it, if any.
	Result   string `json:"result"`
	ExitCode int    `json:"exit_code"`
	Error    string `json:"error,omitempty"`
	// Channel is the staging channel the run built, "" for the main
	// repository.
	Channel string `json:"channel,omitempty"`
	// Only is the --only selection, if any.
	Only []string `json:"only,omitempty"`
	// Arches are the plan's counts and what was published, per arch.
	Arches []RunArch `json:"arches"`
	// Builds are every build the run started or meant to start, in the
	// order the plan gave them.
	Builds []RunBuild `json:"builds"`
	// Mirrors are the pushes of this run, one per configured mirror.
	Mirrors []MirrorResult `json:"mirrors"`
	// CPUSeconds is the CPU time the builds used (user + system, all
	// processes of each build's container). BytesPublished is the size of
	// the files this run added to the repository.
	CPUSeconds     float64 `json:"cpu_seconds"`
	BytesPublished int64   `json:"bytes_published"`
}

// Trigger says what started a run.
type Trigger struct {
	Kind string `json:"kind"`
	// Detail says more in words: "push to master by alice (1a2b3c4)",
	// "POST /hook/run?only=hello", "*/15 * * * *".
	Detail string `json:"detail,omitempty"`
}

// RunArch is one arch of a run.
type RunArch struct {
	Arch string `json:"arch"`
	// Error is set when the arch could not be planned or published.
	Error string `json:"error,omitempty"`
	// Plan counts the plan's decisions (every aport once, as in the
	// plan's "counts").
	Plan PlanCounts `json:"plan"`
	// Batches is the number of batches with a build of this arch.
	Batches int `json:"batches"`
	// Published are the file names this run added to the arch's index,
	// Retired those that left it. Held says why nothing was published for
	// the arch (policy all-or-nothing with a failure).
	Published []string `json:"published,omitempty"`
	Retired   []string `json:"retired,omitempty"`
	Held      string   `json:"held,omitempty"`
}

// PlanCounts are a plan's decisions for one arch (docs/plan.md "counts").
type PlanCounts struct {
	Builds      int `json:"builds"`
	Copies      int `json:"copies"`
	Blocked     int `json:"blocked"`
	NotSelected int `json:"not_selected"`
	UpToDate    int `json:"up_to_date"`
	Excluded    int `json:"excluded"`
	Invalid     int `json:"invalid"`
	Removed     int `json:"removed"`
}

// RunBuild is one build of a run.
type RunBuild struct {
	Arch    string `json:"arch"`
	Pkgname string `json:"pkgname"`
	Version string `json:"version"`
	// Status is built, failed, blocked or pending; Class the failure
	// class of a failed attempt.
	Status    string `json:"status"`
	Class     string `json:"class,omitempty"`
	Reason    string `json:"reason,omitempty"`
	BlockedBy string `json:"blocked_by,omitempty"`
	Batch     int    `json:"batch"`
	// Slot is which of the run's build slots (1 to jobs) ran it, so that
	// a timeline can draw one lane per slot; 0 when it did not run.
	Slot int `json:"slot,omitempty"`
	// Start and End bound the attempt; absent when it did not run.
	Start *time.Time `json:"start,omitempty"`
	End   *time.Time `json:"end,omitempty"`
	// CPUSeconds is the CPU time of the build's processes.
	CPUSeconds float64 `json:"cpu_seconds,omitempty"`
	// Log is the attempt's log, relative to the state directory.
	Log string `json:"log,omitempty"`
}

// MirrorResult is one mirror's push in one run.
type MirrorResult struct {
	// Name is the mirror's name from the configuration; URL where it is,
	// without credentials.
	Name  string    `json:"name"`
	URL   string    `json:"url"`
	OK    bool      `json:"ok"`
	Start time.Time `json:"start"`
	End   time.Time `json:"end"`
	// Attempts counts the tries (retries with backoff after the first).
	Attempts  int   `json:"attempts"`
	BytesSent int64 `json:"bytes_sent"`
	// Error is why the push failed, or why the mirror lags.
	Error string `json:"error,omitempty"`
	// Lagging is set when, after the push, the mirror serves another
	// index than the repository's.
	Lagging bool `json:"lagging,omitempty"`
}

// Mirror is what the state remembers of a mirror across runs.
type Mirror struct {
	URL string `json:"url"`
	// LastSuccess is the end of the last push that completed and read
	// back the repository's index; LastAttempt the end of the last push.
	LastSuccess time.Time `json:"last_success"`
	LastAttempt time.Time `json:"last_attempt"`
	// Error is the last push's error, empty when it succeeded.
	Error   string `json:"error,omitempty"`
	Lagging bool   `json:"lagging,omitempty"`
}

// NewRunID returns the ID of a run that starts at t in dir's runs: the UTC
// second, with a "-N" suffix when a record of that second exists.
func NewRunID(stateDir string, t time.Time) string {
	base := t.UTC().Format("20060102T150405Z")
	id := base
	for n := 2; ; n++ {
		if _, err := os.Lstat(RunPath(stateDir, id)); errors.Is(err, fs.ErrNotExist) {
			return id
		}
		id = fmt.Sprintf("%s-%d", base, n)
	}
}

// RunPath is where the record of run id is.
func RunPath(stateDir, id string) string {
	return filepath.Join(stateDir, RunsDir, id+".json")
}

// MarshalRun returns the file content of a run record: indented JSON and
// a final newline.
func MarshalRun(r *Run) ([]byte, error) {
	r.Schema = RunSchema
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("marshal run %s: %w", r.ID, err)
	}
	return append(b, '\n'), nil
}

// WriteRun writes r to <stateDir>/runs/<r.ID>.json atomically.
func WriteRun(stateDir string, r *Run) error {
	if !validRunID(r.ID) {
		return fmt.Errorf("write run: bad id %q", r.ID)
	}
	b, err := MarshalRun(r)
	if err != nil {
		return err
	}
	return safefile.Write(RunPath(stateDir, r.ID), b, 0o644)
}

// maxRunBytes caps a run record read back.
const maxRunBytes = 64 << 20

// ReadRun reads and checks one run record.
func ReadRun(path string) (*Run, error) {
	b, err := safefile.ReadFile(path, maxRunBytes)
	if err != nil {
		return nil, err
	}
	r := &Run{}
	if err := json.Unmarshal(b, r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if r.Schema != RunSchema {
		return nil, fmt.Errorf("%s: schema %d: this apkfarm reads run schema %d", path, r.Schema, RunSchema)
	}
	return r, nil
}

// RunIDs lists the IDs of the run records in stateDir, oldest first.
func RunIDs(stateDir string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Join(stateDir, RunsDir))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list runs: %w", err)
	}
	var ids []string
	for _, e := range ents {
		id, ok := strings.CutSuffix(e.Name(), ".json")
		if ok && e.Type().IsRegular() && validRunID(id) {
			ids = append(ids, id)
		}
	}
	slices.SortFunc(ids, compareRunIDs)
	return ids, nil
}

// ReadRuns reads the newest n run records (all when n <= 0), oldest
// first. A record that cannot be read is skipped and reported in errs.
func ReadRuns(stateDir string, n int) (runs []*Run, errs []error) {
	ids, err := RunIDs(stateDir)
	if err != nil {
		return nil, []error{err}
	}
	if n > 0 && len(ids) > n {
		ids = ids[len(ids)-n:]
	}
	for _, id := range ids {
		r, err := ReadRun(RunPath(stateDir, id))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		runs = append(runs, r)
	}
	return runs, errs
}

// PruneRuns deletes all but the newest keep run records (keep <= 0 keeps
// all) and returns the IDs deleted.
func PruneRuns(stateDir string, keep int) ([]string, error) {
	if keep <= 0 {
		return nil, nil
	}
	ids, err := RunIDs(stateDir)
	if err != nil || len(ids) <= keep {
		return nil, err
	}
	gone := ids[:len(ids)-keep]
	for _, id := range gone {
		if err := os.Remove(RunPath(stateDir, id)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("prune runs: %w", err)
		}
	}
	return gone, nil
}

// validRunID accepts what NewRunID makes: 16 characters of time, then
// optionally "-N".
func validRunID(id string) bool {
	if len(id) < 16 {
		return false
	}
	if _, err := time.Parse("20060102T150405Z", id[:16]); err != nil {
		return false
	}
	rest := id[16:]
	if rest == "" {
		return true
	}
	if rest[0] != '-' || len(rest) < 2 || len(rest) > 6 {
		return false
	}
	for _, c := range rest[1:] {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// compareRunIDs orders IDs by time, then by their "-N" suffix as a number.
func compareRunIDs(a, b string) int {
	if c := strings.Compare(a[:16], b[:16]); c != 0 {
		return c
	}
	if c := len(a) - len(b); c != 0 {
		return c
	}
	return strings.Compare(a, b)
}

// LiveFile is the file a run under way rewrites as builds start and end
// (<state.dir>/live.json), and removes when it ends; the site shows it as
// "building now".
const LiveFile = "live.json"

// Live is what a run under way is doing.
type Live struct {
	RunID   string    `json:"run_id"`
	Trigger Trigger   `json:"trigger"`
	Start   time.Time `json:"start"`
	Updated time.Time `json:"updated"`
	// Stage is what the run does now: plan, build, publish, mirror, site.
	Stage string `json:"stage"`
	// Total builds of the plan, and how many have ended.
	Total int `json:"total"`
	Done  int `json:"done"`
	// Building are the builds running now.
	Building []LiveBuild `json:"building"`
}

// LiveBuild is one build running now.
type LiveBuild struct {
	Arch    string    `json:"arch"`
	Pkgname string    `json:"pkgname"`
	Version string    `json:"version"`
	Slot    int       `json:"slot"`
	Start   time.Time `json:"start"`
}

// WriteLive writes l to <stateDir>/live.json atomically.
func WriteLive(stateDir string, l *Live) error {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return fmt.Errorf("marshal live state: %w", err)
	}
	return safefile.Write(filepath.Join(stateDir, LiveFile), append(b, '\n'), 0o644)
}

// ReadLive reads <stateDir>/live.json; nil, nil when no run is under way.
func ReadLive(stateDir string) (*Live, error) {
	b, err := safefile.ReadFile(filepath.Join(stateDir, LiveFile), maxRunBytes)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	l := &Live{}
	if err := json.Unmarshal(b, l); err != nil {
		return nil, fmt.Errorf("%s: %w", LiveFile, err)
	}
	return l, nil
}
