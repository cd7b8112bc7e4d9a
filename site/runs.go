package site

import (
	"cmp"
	"html/template"
	"slices"
	"strconv"
	"time"

	"github.com/apkfarm/apkfarm/state"
)

type runView struct {
	*runSummary
	Channel  string
	Only     []string
	CPU      string
	BytesPub int64
	Span     string
	Ticks    []tick
	Arches   []runArchView
	Mirrors  []mirrorRun
	Longest  []buildRow
	NotRun   []buildRow
}

type runArchView struct {
	state.RunArch
	Built, Failed int
	Lanes         []lane
	// BatchEnds mark where each batch's last build ended.
	BatchEnds []mark
}

type lane struct {
	Slot int
	Bars []bar
}

type bar struct {
	Style               template.CSS
	Status, Title, Page string
	Label               string
	Batch               int
}

type tick struct {
	Style template.CSS
	Label string
}

type mark struct {
	Style template.CSS
	Label string
}

type mirrorRun struct {
	state.MirrorResult
	Duration string
}

type buildRow struct {
	state.RunBuild
	Page, LogPage, Duration, BlockedPage string
}

// maxLongest bounds the "longest builds" table of a run page.
const maxLongest = 20

func (r *renderer) runPage(run *state.Run) error {
	v := runView{runSummary: summarize(run), Channel: run.Channel, Only: run.Only,
		CPU: human(time.Duration(run.CPUSeconds * float64(time.Second))), BytesPub: run.BytesPublished}
	t0, t1 := run.Start, run.End
	for _, b := range run.Builds {
		if b.End != nil && b.End.After(t1) {
			t1 = *b.End
		}
		if b.Start != nil && (t0.IsZero() || b.Start.Before(t0)) {
			t0 = *b.Start
		}
	}
	span := t1.Sub(t0)
	if span <= 0 {
		span = time.Second
	}
	v.Span = human(span)
	pos := func(t time.Time) float64 { return 100 * float64(t.Sub(t0)) / float64(span) }
	step := tickStep(span)
	for d := time.Duration(0); d <= span; d += step {
		v.Ticks = append(v.Ticks, tick{Style: cssLeft(pos(t0.Add(d))), Label: tickLabel(d)})
	}
	var rows []buildRow
	for _, ra := range run.Arches {
		av := runArchView{RunArch: ra}
		lanes := map[int]*lane{}
		batchEnd := map[int]time.Time{}
		for _, b := range run.Builds {
			if b.Arch != ra.Arch {
				continue
			}
			row := buildRow{RunBuild: b, Page: pkgPath(b.Pkgname)}
			if b.BlockedBy != "" && r.m.pkgs[b.BlockedBy] != nil {
				row.BlockedPage = pkgPath(b.BlockedBy)
			}
			if page, _, ok := logPaths(b.Log); ok && r.logAvailable(b.Log) {
				row.LogPage = page
			}
			switch b.Status {
			case state.Built:
				av.Built++
			case state.Failed:
				av.Failed++
			}
			if b.Start == nil || b.End == nil {
				v.NotRun = append(v.NotRun, row)
				continue
			}
			row.Duration = human(b.End.Sub(*b.Start))
			rows = append(rows, row)
			if b.End.After(batchEnd[b.Batch]) {
				batchEnd[b.Batch] = *b.End
			}
			l := lanes[b.Slot]
			if l == nil {
				l = &lane{Slot: b.Slot}
				lanes[b.Slot] = l
			}
			left, right := pos(*b.Start), pos(*b.End)
			title := b.Pkgname + " " + b.Version + " · batch " + strconv.Itoa(b.Batch) + " · " + row.Duration + " · " + b.Status
			if b.Class != "" {
				title += " (" + b.Class + ")"
			}
			href := row.Page
			if row.LogPage != "" {
				href = row.LogPage
			}
			l.Bars = append(l.Bars, bar{Style: cssBar(left, right-left), Status: b.Status, Title: title, Page: href,
				Label: b.Pkgname, Batch: b.Batch})
		}
		for _, slot := range sortedInts(lanes) {
			av.Lanes = append(av.Lanes, *lanes[slot])
		}
		for _, batch := range sortedInts(batchEnd) {
			av.BatchEnds = append(av.BatchEnds, mark{Style: cssLeft(pos(batchEnd[batch])), Label: "batch " + strconv.Itoa(batch) + " done"})
		}
		v.Arches = append(v.Arches, av)
	}
	slices.SortStableFunc(rows, func(a, b buildRow) int {
		return cmp.Compare(b.End.Sub(*b.Start), a.End.Sub(*a.Start))
	})
	v.Longest = rows[:min(len(rows), maxLongest)]
	for _, mr := range run.Mirrors {
		v.Mirrors = append(v.Mirrors, mirrorRun{MirrorResult: mr, Duration: human(mr.End.Sub(mr.Start))})
	}
	return r.exec(runPath(run.ID), "run.html", "Run "+run.ID, "history", v, true)
}

// tickLabel writes an offset on the time axis: +30s, +5m, +2h, +1h30m.
func tickLabel(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d%time.Hour == 0:
		return "+" + strconv.Itoa(int(d/time.Hour)) + "h"
	case d >= time.Hour:
		return "+" + strconv.Itoa(int(d/time.Hour)) + "h" + strconv.Itoa(int(d%time.Hour/time.Minute)) + "m"
	case d%time.Minute == 0:
		return "+" + strconv.Itoa(int(d/time.Minute)) + "m"
	}
	return "+" + human(d)
}

// tickStep picks an axis step giving 4 to 12 ticks.
func tickStep(span time.Duration) time.Duration {
	for _, s := range []time.Duration{time.Second, 5 * time.Second, 15 * time.Second, 30 * time.Second, time.Minute,
		5 * time.Minute, 10 * time.Minute, 15 * time.Minute, 30 * time.Minute, time.Hour, 2 * time.Hour, 6 * time.Hour, 12 * time.Hour} {
		if span/s <= 10 {
			return s
		}
	}
	return 24 * time.Hour
}

func cssLeft(left float64) template.CSS {
	return template.CSS("left:" + strconv.FormatFloat(left, 'f', 3, 64) + "%")
}

func cssBar(left, width float64) template.CSS {
	return template.CSS("left:" + strconv.FormatFloat(left, 'f', 3, 64) + "%;width:" + strconv.FormatFloat(max(width, 0.15), 'f', 3, 64) + "%")
}

func sortedInts[V any](m map[int]V) []int {
	keys := make([]int, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// ---- history

type historyView struct {
	Runs []*runSummary
}

func (r *renderer) history() error {
	var v historyView
	var longest time.Duration
	for _, run := range r.m.runs {
		longest = max(longest, run.End.Sub(run.Start))
	}
	for _, run := range r.m.runs {
		s := summarize(run)
		if longest > 0 {
			s.Bar = strconv.FormatFloat(100*float64(run.End.Sub(run.Start))/float64(longest), 'f', 1, 64)
		}
		v.Runs = append(v.Runs, s)
	}
	return r.exec("history.html", "history.html", "History", "history", v, true)
}
