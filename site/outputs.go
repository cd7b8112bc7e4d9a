package site

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apkfarm/apkfarm/state"
)

// FailedSchema is the version of failed.json; it changes when a field
// changes meaning or is removed, not when one is added.
const FailedSchema = 1

// machineOutputs writes status.json (a copy), failed.json, feed.atom and
// metrics.prom.
func (r *renderer) machineOutputs() error {
	if err := r.w.put("status.json", r.m.raw); err != nil {
		return err
	}
	b, err := r.failedJSON()
	if err != nil {
		return err
	}
	if err := r.w.put("failed.json", b); err != nil {
		return err
	}
	if b, err = r.feed(); err != nil {
		return err
	}
	if err := r.w.put("feed.atom", b); err != nil {
		return err
	}
	return r.w.put("metrics.prom", r.metrics())
}

// abs makes a site path absolute when the base URL is known.
func (r *renderer) abs(p string) string {
	if p == "" || r.opt.BaseURL == "" {
		return p
	}
	return strings.TrimSuffix(r.opt.BaseURL, "/") + "/" + p
}

type failedFile struct {
	Schema    int          `json:"schema"`
	Generated time.Time    `json:"generated"`
	Failed    []failedItem `json:"failed"`
}

type failedItem struct {
	Pkgname    string    `json:"pkgname"`
	Arch       string    `json:"arch"`
	Dir        string    `json:"dir,omitempty"`
	Version    string    `json:"version"`
	Published  string    `json:"published,omitempty"`
	Class      string    `json:"class,omitempty"`
	ExitCode   int       `json:"exit_code"`
	Reason     string    `json:"reason,omitempty"`
	Since      time.Time `json:"since"`
	Last       time.Time `json:"last"`
	Attempts   int       `json:"attempts"`
	Blocks     []string  `json:"blocks"`
	ErrorLines []string  `json:"error_lines"`
	Page       string    `json:"page"`
	Log        string    `json:"log,omitempty"`
	LogRaw     string    `json:"log_raw,omitempty"`
}

func (r *renderer) failedJSON() ([]byte, error) {
	f := failedFile{Schema: FailedSchema, Generated: r.m.st.Generated, Failed: []failedItem{}}
	blocks := map[string][]string{} // "arch\x00name" → blocked aports
	for _, arch := range r.m.arches {
		for name, a := range r.m.st.Arches[arch].Aports {
			if a.Status == state.Blocked && a.BlockedBy != "" {
				k := arch + "\x00" + a.BlockedBy
				blocks[k] = append(blocks[k], name)
			}
		}
	}
	for _, fl := range r.m.failing {
		p := r.m.pkgs[fl.Name]
		for i, a := range p.Entries {
			if a == nil || a.Status != state.Failed {
				continue
			}
			arch := r.m.arches[i]
			it := failedItem{Pkgname: p.Name, Arch: arch, Dir: a.Dir, Version: a.Version, Published: a.Published,
				Reason: a.Reason, Page: r.abs(pkgPath(p.Name)), Blocks: blocks[arch+"\x00"+p.Name], ErrorLines: []string{}}
			slices.Sort(it.Blocks)
			if it.Blocks == nil {
				it.Blocks = []string{}
			}
			it.Since, it.Last = failureSpan(a.Attempts)
			for j := len(a.Attempts) - 1; j >= 0 && a.Attempts[j].Failed(); j-- {
				it.Attempts++
			}
			if n := len(a.Attempts); n > 0 {
				at := a.Attempts[n-1]
				it.Class, it.ExitCode = at.Class, at.ExitCode
				for _, e := range at.ErrorLines {
					it.ErrorLines = append(it.ErrorLines, cleanText(e))
				}
				if page, raw, ok := logPaths(at.Log); ok && r.logAvailable(at.Log) {
					it.Log, it.LogRaw = r.abs(page), r.abs(raw)
				}
			}
			f.Failed = append(f.Failed, it)
		}
	}
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render failed.json: %w", err)
	}
	return append(b, '\n'), nil
}

// ---- feed.atom

// feedEntries bounds the feed.
const feedEntries = 50

type atomFeed struct {
	XMLName xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	Title   string      `xml:"title"`
	ID      string      `xml:"id"`
	Updated string      `xml:"updated"`
	Links   []atomLink  `xml:"link"`
	Author  atomAuthor  `xml:"author"`
	Entries []atomEntry `xml:"entry"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomAuthor struct {
	Name string `xml:"name"`
}

type atomEntry struct {
	Title    string      `xml:"title"`
	ID       string      `xml:"id"`
	Updated  string      `xml:"updated"`
	Link     atomLink    `xml:"link"`
	Category atomCat     `xml:"category"`
	Content  atomContent `xml:"content"`
}

type atomCat struct {
	Term string `xml:"term,attr"`
}

type atomContent struct {
	Type string `xml:"type,attr"`
	Text string `xml:",chardata"`
}

type feedEvent struct {
	at         state.Attempt
	arch, name string
	fixed      bool
}

// events are the failures (an attempt failed after a success or as the
// first known) and fixes (an attempt succeeded after a failure) of the
// attempts the state keeps, newest first.
func (r *renderer) events() []feedEvent {
	var ev []feedEvent
	for _, arch := range r.m.arches {
		for name, a := range r.m.st.Arches[arch].Aports {
			for i, at := range a.Attempts {
				prevFailed := i > 0 && a.Attempts[i-1].Failed()
				switch {
				case at.Failed() && (i == 0 || !prevFailed):
					ev = append(ev, feedEvent{at, arch, name, false})
				case !at.Failed() && prevFailed:
					ev = append(ev, feedEvent{at, arch, name, true})
				}
			}
		}
	}
	slices.SortFunc(ev, func(a, b feedEvent) int {
		if c := b.at.End.Compare(a.at.End); c != 0 {
			return c
		}
		if c := strings.Compare(a.arch, b.arch); c != 0 {
			return c
		}
		return strings.Compare(a.name, b.name)
	})
	return ev[:min(len(ev), feedEntries)]
}

func (r *renderer) feed() ([]byte, error) {
	f := atomFeed{Title: r.opt.Title + ": failures and fixes", ID: "urn:apkfarm:feed", Author: atomAuthor{r.opt.Title},
		Updated: r.m.st.Generated.UTC().Format(time.RFC3339)}
	if r.opt.BaseURL != "" {
		f.ID = r.abs("feed.atom")
		f.Links = []atomLink{{Rel: "self", Href: r.abs("feed.atom")}, {Rel: "alternate", Href: r.abs("index.html")}}
	}
	ev := r.events()
	if len(ev) > 0 {
		f.Updated = ev[0].at.End.UTC().Format(time.RFC3339)
	}
	for _, e := range ev {
		ent := atomEntry{Updated: e.at.End.UTC().Format(time.RFC3339),
			ID:   fmt.Sprintf("urn:apkfarm:%s:%s:%s:%d", e.arch, e.name, e.at.Version, e.at.Start.Unix()),
			Link: atomLink{Rel: "alternate", Href: r.abs(pkgPath(e.name))}}
		if page, _, ok := logPaths(e.at.Log); ok && r.logAvailable(e.at.Log) {
			ent.Link.Href = r.abs(page)
		}
		if e.fixed {
			ent.Title = fmt.Sprintf("fixed: %s %s on %s", e.name, e.at.Version, e.arch)
			ent.Category.Term = "fixed"
			ent.Content = atomContent{"text", fmt.Sprintf("%s %s built on %s after failing.", e.name, e.at.Version, e.arch)}
		} else {
			ent.Title = fmt.Sprintf("failed: %s %s on %s (%s)", e.name, e.at.Version, e.arch, e.at.Class)
			ent.Category.Term = "failed"
			text := fmt.Sprintf("%s %s failed on %s: %s, exit code %d.", e.name, e.at.Version, e.arch, e.at.Class, e.at.ExitCode)
			for _, l := range e.at.ErrorLines {
				text += "\n" + cleanText(l)
			}
			ent.Content = atomContent{"text", text}
		}
		f.Entries = append(f.Entries, ent)
	}
	b, err := xml.MarshalIndent(f, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("render feed.atom: %w", err)
	}
	return append([]byte(xml.Header), append(b, '\n')...), nil
}

// ---- metrics.prom

func (r *renderer) metrics() []byte {
	var b bytes.Buffer
	help := func(name, typ, text string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, text, name, typ)
	}
	help("apkfarm_aports", "gauge", "Aports by arch and status in status.json.")
	for i, c := range r.m.counts() {
		for _, s := range statusOrder {
			fmt.Fprintf(&b, "apkfarm_aports{arch=%s,status=%s} %d\n", promQ(r.m.arches[i]), promQ(s), c[s])
		}
	}
	help("apkfarm_state_generated_timestamp_seconds", "gauge", "When status.json last changed.")
	fmt.Fprintf(&b, "apkfarm_state_generated_timestamp_seconds %d\n", r.m.st.Generated.Unix())
	if last := r.m.lastCompleted(); last != nil {
		help("apkfarm_last_completed_run_end_timestamp_seconds", "gauge", "End of the newest run that ran to its end (result ok or failed).")
		fmt.Fprintf(&b, "apkfarm_last_completed_run_end_timestamp_seconds %d\n", last.End.Unix())
	}
	if len(r.m.runs) > 0 {
		run := r.m.runs[0]
		help("apkfarm_last_run_start_timestamp_seconds", "gauge", "Start of the newest run.")
		fmt.Fprintf(&b, "apkfarm_last_run_start_timestamp_seconds %d\n", run.Start.Unix())
		help("apkfarm_last_run_end_timestamp_seconds", "gauge", "End of the newest run.")
		fmt.Fprintf(&b, "apkfarm_last_run_end_timestamp_seconds %d\n", run.End.Unix())
		help("apkfarm_last_run_duration_seconds", "gauge", "Wall-clock duration of the newest run.")
		fmt.Fprintf(&b, "apkfarm_last_run_duration_seconds %s\n", promF(run.End.Sub(run.Start).Seconds()))
		help("apkfarm_last_run_exit_code", "gauge", "Exit code of the newest run: 0 ok, 1 failed packages or mirrors, 2 trouble.")
		fmt.Fprintf(&b, "apkfarm_last_run_exit_code %d\n", run.ExitCode)
		help("apkfarm_last_run_builds", "gauge", "Builds of the newest run by arch and outcome.")
		builds := map[[2]string]int{}
		wall := map[string]float64{}
		cpu := map[string]float64{}
		for _, bd := range run.Builds {
			builds[[2]string{bd.Arch, bd.Status}]++
			if bd.Start != nil && bd.End != nil {
				wall[bd.Arch] += bd.End.Sub(*bd.Start).Seconds()
			}
			cpu[bd.Arch] += bd.CPUSeconds
		}
		for _, ra := range run.Arches {
			for _, s := range []string{state.Built, state.Failed, state.Blocked, state.Pending} {
				fmt.Fprintf(&b, "apkfarm_last_run_builds{arch=%s,status=%s} %d\n", promQ(ra.Arch), promQ(s), builds[[2]string{ra.Arch, s}])
			}
		}
		help("apkfarm_last_run_build_seconds", "gauge", "Wall-clock seconds of the newest run's builds, summed per arch.")
		for _, ra := range run.Arches {
			fmt.Fprintf(&b, "apkfarm_last_run_build_seconds{arch=%s} %s\n", promQ(ra.Arch), promF(wall[ra.Arch]))
		}
		help("apkfarm_last_run_build_cpu_seconds", "gauge", "CPU seconds of the newest run's builds, summed per arch.")
		for _, ra := range run.Arches {
			fmt.Fprintf(&b, "apkfarm_last_run_build_cpu_seconds{arch=%s} %s\n", promQ(ra.Arch), promF(cpu[ra.Arch]))
		}
		help("apkfarm_last_run_published_packages", "gauge", "Package files the newest run added to each arch's index.")
		for _, ra := range run.Arches {
			fmt.Fprintf(&b, "apkfarm_last_run_published_packages{arch=%s} %d\n", promQ(ra.Arch), len(ra.Published))
		}
		help("apkfarm_last_run_published_bytes", "gauge", "Bytes of the files the newest run added to the repository.")
		fmt.Fprintf(&b, "apkfarm_last_run_published_bytes %d\n", run.BytesPublished)
	}
	if len(r.m.st.Mirrors) > 0 {
		names := sortedKeys(r.m.st.Mirrors)
		help("apkfarm_mirror_up", "gauge", "1 when the last push to the mirror succeeded and it serves the repository's index.")
		for _, n := range names {
			mi := r.m.st.Mirrors[n]
			up := 0
			if mi != nil && mi.Error == "" && !mi.Lagging {
				up = 1
			}
			fmt.Fprintf(&b, "apkfarm_mirror_up{mirror=%s} %d\n", promQ(n), up)
		}
		help("apkfarm_mirror_last_success_timestamp_seconds", "gauge", "End of the last push that completed and read back the index; lag is time() minus this.")
		for _, n := range names {
			if mi := r.m.st.Mirrors[n]; mi != nil && !mi.LastSuccess.IsZero() {
				fmt.Fprintf(&b, "apkfarm_mirror_last_success_timestamp_seconds{mirror=%s} %d\n", promQ(n), mi.LastSuccess.Unix())
			}
		}
		help("apkfarm_mirror_last_attempt_timestamp_seconds", "gauge", "End of the last push to the mirror.")
		for _, n := range names {
			if mi := r.m.st.Mirrors[n]; mi != nil && !mi.LastAttempt.IsZero() {
				fmt.Fprintf(&b, "apkfarm_mirror_last_attempt_timestamp_seconds{mirror=%s} %d\n", promQ(n), mi.LastAttempt.Unix())
			}
		}
	}
	return b.Bytes()
}

// promQ quotes a label value in the Prometheus text format.
func promQ(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, "\n", `\n`, `"`, `\"`).Replace(s) + `"`
}

func promF(f float64) string { return strconv.FormatFloat(f, 'f', -1, 64) }

// ---- live.js

type liveFile struct {
	*state.Live
	Building []liveFileBuild `json:"building"`
}

type liveFileBuild struct {
	state.LiveBuild
	Page string `json:"page"`
}

func liveJS(l *state.Live) ([]byte, error) {
	if l == nil {
		return []byte("window.apkfarmLive = null;\n"), nil
	}
	f := liveFile{Live: l, Building: []liveFileBuild{}}
	for _, b := range l.Building {
		f.Building = append(f.Building, liveFileBuild{b, pkgPath(b.Pkgname)})
	}
	b, err := json.Marshal(f)
	if err != nil {
		return nil, fmt.Errorf("write live.js: %w", err)
	}
	return []byte("window.apkfarmLive = " + string(b) + ";\n"), nil
}
