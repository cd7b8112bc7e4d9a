package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"

	"github.com/cheggaaa/pb/v3"
	"golang.org/x/sys/unix"

	"github.com/apkfarm/apkfarm/runner/builder"
)

// buildProgress shows the builds of a run: bars per arch on a terminal,
// log lines otherwise. Pull is told about image downloads and unpacking
// (image.Progress). Stop ends the display.
type buildProgress interface {
	builder.Progress
	Pull(done, total int64)
	Stop()
}

// newBuildProgress returns bars when w is a terminal with columns, else
// log lines (cron, the journal, a terminal that reports 0 columns).
func newBuildProgress(w io.Writer, jobs []builder.Job, logger *slog.Logger) buildProgress {
	if !isTerminal(w) || terminalColumns(w) == 0 || len(jobs) == 0 {
		return &logProgress{logger: logger, total: len(jobs)}
	}
	return newArchBars(w, jobs)
}

// terminalColumns is the width w reports, 0 when it reports none.
func terminalColumns(w io.Writer) int {
	f, ok := w.(*os.File)
	if !ok {
		return 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}

// logProgress logs each finished build with the count so far: what cron
// mails (with -v). runner/builder logs the starts.
type logProgress struct {
	logger *slog.Logger
	total  int
	mu     sync.Mutex
	done   int
}

func (p *logProgress) Started(builder.Job, int) {}

func (p *logProgress) Finished(o builder.Outcome) {
	p.mu.Lock()
	p.done++
	done := p.done
	p.mu.Unlock()
	args := []any{"done", fmt.Sprintf("%d/%d", done, p.total), "arch", o.Job.Arch, "pkg", o.Job.Pkgname,
		"version", o.Job.Version, "status", o.Status}
	if o.Reason != "" {
		args = append(args, "reason", o.Reason)
	}
	if o.Attempt != nil && o.Attempt.Log != "" {
		args = append(args, "log", o.Attempt.Log)
	}
	p.logger.Info("build finished", args...)
}

func (*logProgress) Pull(int64, int64) {}
func (*logProgress) Stop()             {}

// archBars is one bar per arch counting finished builds, its label the
// builds running.
type archBars struct {
	mu      sync.Mutex
	pool    *pb.Pool
	bars    map[string]*pb.ProgressBar
	running map[string][]string
	started bool
	image   *pb.ProgressBar // image download and unpacking, added when one starts
}

func newArchBars(w io.Writer, jobs []builder.Job) *archBars {
	p := &archBars{bars: map[string]*pb.ProgressBar{}, running: map[string][]string{}}
	total := map[string]int{}
	var arches []string
	for _, j := range jobs {
		if total[j.Arch] == 0 {
			arches = append(arches, j.Arch)
		}
		total[j.Arch]++
	}
	var bars []*pb.ProgressBar
	for _, a := range arches {
		bar := pb.New(total[a]).SetTemplateString(`{{string . "arch"}} {{counters .}} {{bar .}} {{string . "now"}}`)
		bar.Set("arch", fmt.Sprintf("%-8s", a))
		p.bars[a] = bar
		bars = append(bars, bar)
	}
	p.pool = pb.NewPool(bars...)
	p.pool.Output = w
	p.started = p.pool.Start() == nil // fails without a controlling terminal: no bars then
	return p
}

func (p *archBars) Started(j builder.Job, _ int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.running[j.Arch] = append(p.running[j.Arch], j.Pkgname)
	p.label(j.Arch)
}

func (p *archBars) Finished(o builder.Outcome) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if i := slices.Index(p.running[o.Job.Arch], o.Job.Pkgname); i >= 0 {
		p.running[o.Job.Arch] = slices.Delete(p.running[o.Job.Arch], i, i+1)
	}
	if bar := p.bars[o.Job.Arch]; bar != nil {
		bar.Increment()
	}
	p.label(o.Job.Arch)
}

// Pull shows image downloads and unpacking in a bar of their own.
func (p *archBars) Pull(done, total int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if total <= 0 {
		return
	}
	if p.image != nil && p.image.IsFinished() && done < total {
		p.image = nil // the next image
	}
	if p.image == nil {
		p.image = pb.New64(total).Set(pb.Bytes, true).
			SetTemplateString(`{{string . "what"}} {{counters .}} {{bar .}}`).Set("what", "image   ")
		p.pool.Add(p.image)
	}
	p.image.SetTotal(total)
	p.image.SetCurrent(done)
	if done >= total && !p.image.IsFinished() {
		p.image.Finish()
	}
}

func (p *archBars) label(arch string) {
	if bar := p.bars[arch]; bar != nil {
		s := ""
		if r := p.running[arch]; len(r) > 0 {
			s = "building " + strings.Join(r, ", ")
		}
		bar.Set("now", s)
	}
}

func (p *archBars) Stop() {
	for _, b := range p.bars {
		b.Finish()
	}
	p.mu.Lock()
	if p.image != nil && !p.image.IsFinished() {
		p.image.Finish()
	}
	p.mu.Unlock()
	if p.started {
		_ = p.pool.Stop()
	}
}
