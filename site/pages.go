package site

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"html/template"
	"strings"
	"sync"
	"time"

	"github.com/apkfarm/apkfarm/state"
)

// page is what every template gets.
type page struct {
	// Root leads from the page back to the top of the site ("", "../").
	Root  string
	Title string
	// Nav names the current section of the header.
	Nav  string
	Site siteInfo
	Data any
}

type siteInfo struct {
	Title string
	Pages []navLink
}

type navLink struct{ Slug, Title string }

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// exec renders template name with data as the page at rel and puts it.
// A page is a pure function of its template and its data: when the
// previous render made rel from the same template and data (the key in
// the manifest), it is not rendered again.
func (r *renderer) exec(rel, name, title, nav string, data any, withPages bool) error {
	p := page{Root: strings.Repeat("../", strings.Count(rel, "/")), Title: title, Nav: nav, Data: data,
		Site: siteInfo{Title: r.opt.Title}}
	if withPages {
		for _, mp := range r.m.pages {
			p.Site.Pages = append(p.Site.Pages, navLink{mp.Slug, mp.Title})
		}
	}
	if name == "log.html" {
		// Log pages are immutable: logJobs decides, by the manifest's
		// header, whether to render them.
		r.w.keepIf(rel, "log")
	} else {
		in, err := json.Marshal(p)
		if err != nil {
			return fmt.Errorf("render %s: %w", rel, err)
		}
		h := sha256.New()
		h.Write([]byte(r.tpl.hash[name]))
		h.Write(in)
		if r.w.keepIf(rel, "k:"+hex.EncodeToString(h.Sum(nil)[:12])) {
			return nil
		}
	}
	buf := bufPool.Get().(*bytes.Buffer)
	buf.Reset()
	defer bufPool.Put(buf)
	if err := r.tpl.pages[name].ExecuteTemplate(buf, "layout.html", p); err != nil {
		return fmt.Errorf("render %s: %w", rel, err)
	}
	return r.w.write(rel, buf.Bytes())
}

// jobs lists the work of a render, the slow log pages first.
func (r *renderer) jobs() ([]job, error) {
	var jobs []job
	jobs = append(jobs, r.logJobs()...)
	const chunk = 64
	for i := 0; i < len(r.m.names); i += chunk {
		names := r.m.names[i:min(i+chunk, len(r.m.names))]
		jobs = append(jobs, func() error {
			for _, n := range names {
				if err := r.packagePage(r.m.pkgs[n]); err != nil {
					return err
				}
				if err := r.packageBadge(r.m.pkgs[n]); err != nil {
					return err
				}
			}
			return nil
		})
	}
	for _, run := range r.m.runs {
		jobs = append(jobs, func() error { return r.runPage(run) })
	}
	for _, mp := range r.m.pages {
		jobs = append(jobs, func() error { return r.markdownPage(mp) })
	}
	names, err := staticFiles(r.opt.StaticDir)
	if err != nil {
		return nil, err
	}
	for _, n := range names {
		jobs = append(jobs, func() error {
			b, err := readOverlay(r.opt.StaticDir, "static", n)
			if err != nil {
				return fmt.Errorf("read static files: %w", err)
			}
			return r.w.put("static/"+n, b)
		})
	}
	jobs = append(jobs, r.overview, r.matrix, r.history, r.machineOutputs, r.archBadges,
		func() error {
			b, err := liveJS(r.m.live)
			if err != nil {
				return err
			}
			return r.w.put("live.js", b)
		})
	return jobs, nil
}

// manifestHeader names the look of the log pages, so that a render with
// other templates renders them again.
func (r *renderer) manifestHeader() string {
	sum := sha256.Sum256([]byte(r.tpl.logHash + "\x00" + r.opt.Title))
	return "apkfarm-site log-pages=" + hex.EncodeToString(sum[:8])
}

// ---- overview

type overviewView struct {
	Generated     time.Time
	Stale         bool
	StaleAge      string
	LastCompleted time.Time
	StaleAfter    int64 // seconds, 0: off
	StaleAfterH   string
	Totals        []statusCount
	Total         int
	Arches        []archSummary
	LastRun       *runSummary
	Live          *liveView
	Failing       []failingView
	FailingMore   int
	Mirrors       []mirrorView
}

type statusCount struct {
	Status string
	N      int
	Pct    string
}

type archSummary struct {
	Arch   string
	Total  int
	Counts []statusCount
	// Cells are the counts of the statuses in overviewView.Totals, in
	// that order, zeros included.
	Cells []statusCount
	Badge string
}

type failingView struct {
	Name, Page, Class, ErrorLine, Log string
	Arches                            []string
	Since                             time.Time
	Blocks                            int
}

type mirrorView struct {
	Name, URL, Error         string
	LastSuccess, LastAttempt time.Time
	OK, Lagging              bool
}

type liveView struct {
	// Page is the run's page, when the site lists the run already.
	RunID, Stage, Page string
	Trigger            state.Trigger
	Start, Updated     time.Time
	Total, Done        int
	Building           []liveBuild
}

type liveBuild struct {
	Arch, Pkgname, Version, Page string
	Slot                         int
	Start                        time.Time
}

// maxFailing bounds the failing list of the overview; the matrix has all.
const maxFailing = 100

func (r *renderer) overview() error {
	m := r.m
	v := overviewView{Generated: m.st.Generated, StaleAfter: int64(r.opt.StaleAfter / time.Second), StaleAfterH: human(r.opt.StaleAfter)}
	if last := m.lastCompleted(); last != nil {
		v.LastCompleted = last.End
	}
	if r.opt.StaleAfter > 0 {
		if v.LastCompleted.IsZero() {
			v.Stale, v.StaleAge = len(m.runs) > 0, ""
		} else if age := r.opt.Now.Sub(v.LastCompleted); age > r.opt.StaleAfter {
			v.Stale, v.StaleAge = true, human(age)
		}
	}
	totals := map[string]int{}
	for i, c := range m.counts() {
		as := archSummary{Arch: m.arches[i], Badge: archBadgePath(m.arches[i])}
		for _, n := range c {
			as.Total += n
		}
		for _, s := range statusOrder {
			if c[s] > 0 {
				as.Counts = append(as.Counts, statusCount{s, c[s], pctOf(c[s], as.Total)})
				totals[s] += c[s]
			}
		}
		v.Total += as.Total
		v.Arches = append(v.Arches, as)
	}
	for _, s := range statusOrder {
		if totals[s] > 0 {
			v.Totals = append(v.Totals, statusCount{s, totals[s], pctOf(totals[s], v.Total)})
		}
	}
	for i := range v.Arches {
		as := &v.Arches[i]
		for _, t := range v.Totals {
			n := 0
			for _, c := range as.Counts {
				if c.Status == t.Status {
					n = c.N
				}
			}
			as.Cells = append(as.Cells, statusCount{Status: t.Status, N: n})
		}
	}
	if len(m.runs) > 0 {
		v.LastRun = summarize(m.runs[0])
	}
	v.Live = r.liveView(m.live)
	for i, f := range m.failing {
		if i == maxFailing {
			v.FailingMore = len(m.failing) - maxFailing
			break
		}
		v.Failing = append(v.Failing, failingView{Name: f.Name, Page: pkgPath(f.Name), Class: f.Class,
			ErrorLine: f.ErrorLine, Log: f.Log, Arches: f.Arches, Since: f.Since, Blocks: f.Blocks})
	}
	for _, name := range sortedKeys(m.st.Mirrors) {
		mi := m.st.Mirrors[name]
		if mi == nil {
			continue
		}
		v.Mirrors = append(v.Mirrors, mirrorView{Name: name, URL: mi.URL, Error: mi.Error, LastSuccess: mi.LastSuccess,
			LastAttempt: mi.LastAttempt, OK: mi.Error == "" && !mi.Lagging, Lagging: mi.Lagging})
	}
	return r.exec("index.html", "overview.html", "Overview", "overview", v, true)
}

func (r *renderer) liveView(l *state.Live) *liveView {
	if l == nil {
		return nil
	}
	v := &liveView{RunID: l.RunID, Stage: l.Stage, Page: r.listedRun(l.RunID), Trigger: l.Trigger, Start: l.Start, Updated: l.Updated, Total: l.Total, Done: l.Done}
	for _, b := range l.Building {
		v.Building = append(v.Building, liveBuild{Arch: b.Arch, Pkgname: b.Pkgname, Version: b.Version, Page: pkgPath(b.Pkgname), Slot: b.Slot, Start: b.Start})
	}
	return v
}

// listedRun is the page of run id when the site lists it, else "".
func (r *renderer) listedRun(id string) string {
	for _, run := range r.m.runs {
		if run.ID == id {
			return runPath(id)
		}
	}
	return ""
}

func pctOf(a, b int) string { return funcs["pct"].(func(int, int) string)(a, b) }

// runSummary is a run in one line.
type runSummary struct {
	ID, Page, Result, Error, Duration string
	Trigger                           state.Trigger
	Start, End                        time.Time
	ExitCode                          int
	Built, Failed, Blocked, Pending   int
	Published, Retired                int
	MirrorsOK, Mirrors                int
	Bar                               string // width in percent of the longest run listed
}

func summarize(run *state.Run) *runSummary {
	s := &runSummary{ID: run.ID, Page: runPath(run.ID), Result: run.Result, Error: run.Error, Trigger: run.Trigger,
		Start: run.Start, End: run.End, ExitCode: run.ExitCode, Duration: human(run.End.Sub(run.Start))}
	for _, b := range run.Builds {
		switch b.Status {
		case state.Built:
			s.Built++
		case state.Failed:
			s.Failed++
		case state.Blocked:
			s.Blocked++
		default:
			s.Pending++
		}
	}
	for _, a := range run.Arches {
		s.Published += len(a.Published)
		s.Retired += len(a.Retired)
	}
	for _, mr := range run.Mirrors {
		s.Mirrors++
		if mr.OK && !mr.Lagging {
			s.MirrorsOK++
		}
	}
	return s
}

// ---- matrix

type matrixView struct {
	Arches []string
	// Rows counts the aports; Body is the table's rows, written here
	// rather than by the template: 16,000 cells through html/template
	// take a tenth of a second.
	Rows int
	Body template.HTML
	// Statuses are those present, for the filter.
	Statuses []string
}

func (r *renderer) matrix() error {
	m := r.m
	v := matrixView{Arches: m.arches, Rows: len(m.names)}
	present := map[string]bool{}
	var b strings.Builder
	b.Grow(len(m.names) * (60 + 60*len(m.arches)))
	esc := html.EscapeString
	for _, name := range m.names {
		p := m.pkgs[name]
		has := make([]bool, len(statusOrder))
		for _, a := range p.Entries {
			if a != nil {
				has[statusRank[a.Status]], present[a.Status] = true, true
			}
		}
		b.WriteString("\n<tr data-s=\"")
		sep := ""
		for i, s := range statusOrder {
			if has[i] {
				b.WriteString(sep + s)
				sep = " "
			}
		}
		b.WriteString("\"><th scope=\"row\"><a href=\"" + esc(pkgPath(name)) + "\">" + esc(name) + "</a></th>")
		for _, a := range p.Entries {
			if a == nil {
				b.WriteString("<td></td>")
				continue
			}
			title := statusLabel[a.Status]
			if a.Reason != "" {
				title += ": " + a.Reason
			}
			b.WriteString("<td class=\"s-" + esc(a.Status) + "\" title=\"" + esc(title) + "\">" + icon(a.Status) + " " + esc(a.Version) + "</td>")
		}
		b.WriteString("</tr>")
	}
	v.Body = template.HTML(b.String())
	for _, s := range statusOrder {
		if present[s] {
			v.Statuses = append(v.Statuses, s)
		}
	}
	return r.exec("matrix.html", "matrix.html", "Matrix", "matrix", v, true)
}

// ---- package pages

type packageView struct {
	Name, Dir, Forge, Badge, Shields string
	Arches                           []pkgArch
	Attempts                         []attemptView
	Deps, RDeps                      []depView
}

type pkgArch struct {
	Arch, Status, Version, Published, Reason, BlockedBy, BlockedByPage string
	// Strip is the arch's attempts, oldest first, for the history strip.
	Strip []stripCell
}

type stripCell struct {
	OK          bool
	Title, Link string
}

type attemptView struct {
	Arch, Version, Class, Log, Raw string
	N, ExitCode                    int
	Start                          time.Time
	DurationMS                     int64
	ErrorLines                     []string
}

type depView struct{ Name, Page, Status string }

func (r *renderer) packagePage(p *pkg) error {
	v := packageView{Name: p.Name, Dir: p.Dir, Badge: pkgBadgePath(p.Name), Shields: pkgShieldsPath(p.Name)}
	if r.opt.ForgeURL != "" && p.Dir != "" {
		v.Forge = strings.NewReplacer("{dir}", p.Dir, "{pkgname}", p.Name).Replace(r.opt.ForgeURL)
	}
	for i, a := range p.Entries {
		if a == nil {
			continue
		}
		arch := r.m.arches[i]
		pa := pkgArch{Arch: arch, Status: a.Status, Version: a.Version, Published: a.Published, Reason: a.Reason, BlockedBy: a.BlockedBy}
		if a.BlockedBy != "" && r.m.pkgs[a.BlockedBy] != nil {
			pa.BlockedByPage = pkgPath(a.BlockedBy)
		}
		for n, at := range a.Attempts {
			av := attemptView{Arch: arch, Version: at.Version, Class: at.Class, N: n + 1, ExitCode: at.ExitCode,
				Start: at.Start, DurationMS: at.DurationMS}
			for _, e := range at.ErrorLines {
				av.ErrorLines = append(av.ErrorLines, cleanText(e))
			}
			if page, raw, ok := logPaths(at.Log); ok && r.logAvailable(at.Log) {
				av.Log, av.Raw = page, raw
			}
			v.Attempts = append(v.Attempts, av)
			title := at.Start.UTC().Format("2006-01-02 15:04") + " " + at.Version + " "
			if at.Failed() {
				title += at.Class
			} else {
				title += "ok"
			}
			pa.Strip = append(pa.Strip, stripCell{OK: !at.Failed(), Title: title, Link: av.Log})
		}
		v.Arches = append(v.Arches, pa)
	}
	// Newest first over all arches; ties by arch.
	sortAttempts(v.Attempts)
	for _, d := range p.Deps {
		v.Deps = append(v.Deps, depView{d, pkgPath(d), r.m.pkgs[d].Worst})
	}
	for _, d := range p.RDeps {
		v.RDeps = append(v.RDeps, depView{d, pkgPath(d), r.m.pkgs[d].Worst})
	}
	return r.exec(pkgPath(p.Name), "package.html", p.Name, "matrix", v, true)
}

func sortAttempts(a []attemptView) {
	// insertion sort keeps it stable and allocation-free for the few attempts a page has
	for i := 1; i < len(a); i++ {
		for j := i; j > 0 && attemptBefore(a[j], a[j-1]); j-- {
			a[j], a[j-1] = a[j-1], a[j]
		}
	}
}

func attemptBefore(x, y attemptView) bool {
	if !x.Start.Equal(y.Start) {
		return x.Start.After(y.Start)
	}
	return x.Arch < y.Arch
}

// ---- markdown pages

type markdownView struct{ HTML template.HTML }

func (r *renderer) markdownPage(mp *mdPage) error {
	h, err := markdown(mp.src)
	if err != nil {
		return fmt.Errorf("render %s.md: %w", mp.Slug, err)
	}
	return r.exec(mp.Slug+".html", "page.html", mp.Title, "page-"+mp.Slug, markdownView{h}, true)
}
