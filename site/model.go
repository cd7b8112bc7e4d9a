package site

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/state"
)

// maxStateBytes caps status.json read back.
const maxStateBytes = 512 << 20

// model is the state, read once and cross-referenced for the pages.
type model struct {
	st     *state.Status
	raw    []byte // status.json as it is on disk
	arches []string
	names  []string
	pkgs   map[string]*pkg
	// failing are the aports failed on some arch, the ones blocking the
	// most others first.
	failing []*failing
	// runs are the newest runs, newest first.
	runs  []*state.Run
	live  *state.Live
	pages []*mdPage
}

// pkg is one aport over all arches.
type pkg struct {
	Name string
	Dir  string
	// Entries has one entry per arch of model.arches, nil where the arch
	// does not know the aport.
	Entries []*state.Aport
	// Deps are the tree's aports it needs on some arch, RDeps those that
	// need it; both sorted, both only names the state knows.
	Deps, RDeps []string
	// Worst is the most alarming status over the arches.
	Worst string
}

// failing is an aport that failed on at least one arch.
type failing struct {
	Name   string
	Arches []string
	Class  string
	// Since is when the current run of failures began (oldest failed
	// attempt after the last success), Last the end of the newest.
	Since, Last time.Time
	// Blocks counts the aports (by name) blocked by this one.
	Blocks    int
	ErrorLine string
	// Log is the site path of the newest failed attempt's log page.
	Log string
}

// statusRank orders statuses from most to least alarming.
var statusRank = map[string]int{
	state.Failed: 0, state.Invalid: 1, state.Blocked: 2, state.Pending: 3,
	state.Built: 4, state.UpToDate: 5, state.Excluded: 6,
}

// Statuses in the order the site lists them.
var statusOrder = []string{state.Failed, state.Invalid, state.Blocked, state.Pending, state.Built, state.UpToDate, state.Excluded}

func load(opt Options) (*model, error) {
	path := filepath.Join(opt.StateDir, state.FileName)
	raw, err := safefile.ReadFile(path, maxStateBytes)
	if err != nil {
		if isNotExist(err) {
			return nil, fmt.Errorf("read state: %s does not exist: point at the state directory `run` writes (state.dir)", path)
		}
		return nil, fmt.Errorf("read state: %w", err)
	}
	st := opt.Status
	if st == nil {
		if st, err = state.Unmarshal(raw); err != nil {
			return nil, fmt.Errorf("read state: %s: %w", path, err)
		}
	} else if err := st.Check(); err != nil {
		return nil, fmt.Errorf("render site: the state given: %w", err)
	}
	m := &model{st: st, raw: raw, pkgs: map[string]*pkg{}}
	m.index()
	runs, errs := state.ReadRuns(opt.StateDir, opt.History)
	for _, e := range errs {
		opt.Logger.Warn("run record skipped", "err", e)
	}
	for i := len(runs) - 1; i >= 0; i-- {
		m.runs = append(m.runs, runs[i])
	}
	if m.live, err = state.ReadLive(opt.StateDir); err != nil {
		opt.Logger.Warn("live state ignored", "err", err)
		m.live = nil
	}
	if m.pages, err = loadPages(opt.ContentDir); err != nil {
		return nil, err
	}
	return m, nil
}

// index cross-references the aports of every arch.
func (m *model) index() {
	m.arches = sortedKeys(m.st.Arches)
	for i, arch := range m.arches {
		for name, a := range m.st.Arches[arch].Aports {
			p := m.pkgs[name]
			if p == nil {
				p = &pkg{Name: name, Entries: make([]*state.Aport, len(m.arches)), Worst: state.Excluded}
				m.pkgs[name] = p
			}
			p.Entries[i] = a
			if p.Dir == "" {
				p.Dir = a.Dir
			}
			if statusRank[a.Status] < statusRank[p.Worst] {
				p.Worst = a.Status
			}
		}
	}
	m.names = sortedKeys(m.pkgs)
	rdeps := map[string]map[string]bool{}
	blocks := map[string]map[string]bool{}
	for _, name := range m.names {
		p := m.pkgs[name]
		deps := map[string]bool{}
		for _, a := range p.Entries {
			if a == nil {
				continue
			}
			for _, d := range a.BuildDepends {
				if d != name && m.pkgs[d] != nil {
					deps[d] = true
				}
			}
			if a.Status == state.Blocked && a.BlockedBy != "" {
				if blocks[a.BlockedBy] == nil {
					blocks[a.BlockedBy] = map[string]bool{}
				}
				blocks[a.BlockedBy][name] = true
			}
		}
		p.Deps = sortedKeys(deps)
		for _, d := range p.Deps {
			if rdeps[d] == nil {
				rdeps[d] = map[string]bool{}
			}
			rdeps[d][name] = true
		}
	}
	for _, name := range m.names {
		p := m.pkgs[name]
		p.RDeps = sortedKeys(rdeps[name])
		f := m.failingOf(p)
		if f != nil {
			f.Blocks = len(blocks[name])
			m.failing = append(m.failing, f)
		}
	}
	sort.SliceStable(m.failing, func(i, j int) bool { return m.failing[i].Blocks > m.failing[j].Blocks })
}

// failingOf sums up p's failures, or nil when it failed nowhere.
func (m *model) failingOf(p *pkg) *failing {
	var f *failing
	for i, a := range p.Entries {
		if a == nil || a.Status != state.Failed {
			continue
		}
		if f == nil {
			f = &failing{Name: p.Name}
		}
		f.Arches = append(f.Arches, m.arches[i])
		since, last := failureSpan(a.Attempts)
		if f.Since.IsZero() || (!since.IsZero() && since.Before(f.Since)) {
			f.Since = since
		}
		if n := len(a.Attempts); n > 0 && !last.Before(f.Last) {
			at := a.Attempts[n-1]
			f.Last, f.Class = last, at.Class
			f.ErrorLine = ""
			if len(at.ErrorLines) > 0 {
				f.ErrorLine = cleanText(at.ErrorLines[0])
			}
			f.Log = ""
			if page, _, ok := logPaths(at.Log); ok {
				f.Log = page
			}
		}
		if f.Class == "" {
			f.Class = a.Reason
		}
	}
	return f
}

// failureSpan is the start of the oldest and the end of the newest failed
// attempt after the last success.
func failureSpan(ats []state.Attempt) (since, last time.Time) {
	for i := len(ats) - 1; i >= 0 && ats[i].Failed(); i-- {
		since = ats[i].Start
		if last.IsZero() {
			last = ats[i].End
		}
	}
	return since, last
}

// lastCompleted is the newest run that ran to its end (ok or failed).
func (m *model) lastCompleted() *state.Run {
	for _, r := range m.runs {
		if r.Result == state.RunOK || r.Result == state.RunFailed {
			return r
		}
	}
	return nil
}

// counts returns, per arch, the number of aports by status.
func (m *model) counts() []map[string]int {
	out := make([]map[string]int, len(m.arches))
	for i, arch := range m.arches {
		c := map[string]int{}
		for _, a := range m.st.Arches[arch].Aports {
			c[a.Status]++
		}
		out[i] = c
	}
	return out
}

// mdPage is a Markdown page of the content directory.
type mdPage struct {
	Slug  string // file name without .md: the page is <Slug>.html
	Title string
	src   []byte
}

// reservedSlugs are the names the site's own top-level pages use.
var reservedSlugs = map[string]bool{"index": true, "matrix": true, "history": true, "failed": true}

func loadPages(dir string) ([]*mdPage, error) {
	if dir == "" {
		return nil, nil
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("read content: %w", err)
	}
	var pages []*mdPage
	for _, e := range ents {
		slug, ok := strings.CutSuffix(e.Name(), ".md")
		if !ok || strings.HasPrefix(e.Name(), ".") {
			continue
		}
		path := filepath.Join(dir, e.Name())
		if !validSlug(slug) {
			return nil, fmt.Errorf("read content: %s: name the file with letters, digits, '-' and '_' only, e.g. about.md", path)
		}
		if reservedSlugs[slug] {
			return nil, fmt.Errorf("read content: %s: %s.html is one of the site's own pages: rename the file", path, slug)
		}
		b, err := safefile.ReadFile(path, 4<<20)
		if err != nil {
			return nil, fmt.Errorf("read content: %w", err)
		}
		pages = append(pages, &mdPage{Slug: slug, Title: mdTitle(b, slug), src: b})
	}
	slices.SortFunc(pages, func(a, b *mdPage) int { return strings.Compare(a.Slug, b.Slug) })
	return pages, nil
}

func validSlug(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// mdTitle is the first "# " heading, else the slug.
func mdTitle(b []byte, slug string) string {
	for _, line := range strings.Split(string(b), "\n") {
		if t, ok := strings.CutPrefix(strings.TrimSpace(line), "# "); ok {
			return strings.TrimSpace(t)
		}
	}
	return slug
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
