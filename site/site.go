package site

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"time"

	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/state"
)

// Options say what to render and where.
type Options struct {
	// StateDir holds status.json, runs/, live.json and logs/. Required.
	StateDir string
	// Status, when set, is the state as the caller has it in memory (the
	// run that just saved it), used instead of parsing status.json again;
	// it must be what status.json holds. The site's copy of status.json
	// is always the file.
	Status *state.Status
	// Out is the output directory, made when missing. Required.
	Out string
	// Title names the site; empty means "apkfarm".
	Title string
	// BaseURL, when set, is the absolute URL of Out: feed.atom and
	// failed.json then carry absolute links. Pages always link relatively.
	BaseURL string
	// ForgeURL links package pages to their APKBUILD: "{dir}" and
	// "{pkgname}" are replaced. Empty: no link.
	ForgeURL string
	// ContentDir holds Markdown pages (*.md), each rendered to
	// <name>.html at the top of the site. Empty: none.
	ContentDir string
	// TemplatesDir and StaticDir replace embedded templates and static
	// files of the same name. Empty: the embedded ones only.
	TemplatesDir string
	StaticDir    string
	// History is how many of the newest runs are listed and get a page;
	// 0 or less means 50.
	History int
	// StaleAfter: the overview warns when the last completed run ended
	// longer before Now than this. 0 turns the warning off.
	StaleAfter time.Duration
	// Now is the time the staleness is judged at; zero means time.Now().
	// Nothing else depends on it.
	Now time.Time
	// Logger receives warnings (an unreadable run record, a missing log);
	// nil discards them.
	Logger *slog.Logger
	// Jobs bounds the parallel workers; 0 or less means GOMAXPROCS.
	Jobs int
}

// Stats say what a render did.
type Stats struct {
	// Files is how many files the site has; Written how many of them this
	// render wrote (new or changed); Removed how many stale files it
	// deleted.
	Files   int
	Written int
	Removed int
	// Logs is how many log pages were rendered now; LogsKept how many
	// were already there and left alone.
	Logs     int
	LogsKept int
}

const defaultHistory = 50

// Render renders the site of opt.StateDir into opt.Out.
func Render(ctx context.Context, opt Options) (Stats, error) {
	if opt.StateDir == "" || opt.Out == "" {
		return Stats{}, errors.New("render site: the state directory and the output directory are required")
	}
	if opt.Title == "" {
		opt.Title = "apkfarm"
	}
	if opt.History <= 0 {
		opt.History = defaultHistory
	}
	if opt.Now.IsZero() {
		opt.Now = time.Now()
	}
	if opt.Logger == nil {
		opt.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opt.Jobs <= 0 {
		opt.Jobs = runtime.GOMAXPROCS(0)
	}
	tpl, err := loadTemplates(opt.TemplatesDir)
	if err != nil {
		return Stats{}, err
	}
	m, err := load(opt)
	if err != nil {
		return Stats{}, err
	}
	if err := os.MkdirAll(opt.Out, 0o755); err != nil {
		return Stats{}, fmt.Errorf("render site: %w", err)
	}
	w := newWriter(opt.Out)
	r := &renderer{opt: opt, m: m, tpl: tpl, w: w}
	if err := r.run(ctx); err != nil {
		return w.stats(), err
	}
	removed, err := w.finish(r.manifestHeader())
	st := w.stats()
	if err != nil {
		return st, err
	}
	st.Removed = removed
	if st.Written > 0 || removed > 0 {
		if err := safefile.SyncFS(opt.Out); err != nil {
			return st, fmt.Errorf("render site: %w", err)
		}
	}
	return st, nil
}

// renderer holds one render's inputs.
type renderer struct {
	opt Options
	m   *model
	tpl *templates
	w   *writer
	// logs are the attempts' logs (as the state names them) that have a
	// page; set by logJobs before any page is rendered.
	logs map[string]bool
}

// job makes one or more files.
type job func() error

// run renders every file with opt.Jobs workers; the first error stops it.
func (r *renderer) run(ctx context.Context) error {
	jobs, err := r.jobs()
	if err != nil {
		return err
	}
	ch := make(chan job)
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range r.opt.Jobs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range ch {
				if err := j(); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	for _, j := range jobs {
		if ctx.Err() != nil {
			break
		}
		mu.Lock()
		stop := firstErr != nil
		mu.Unlock()
		if stop {
			break
		}
		ch <- j
	}
	close(ch)
	wg.Wait()
	if firstErr != nil {
		return firstErr
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("render site: %w", err)
	}
	return nil
}

// WriteLive writes <out>/live.js, which the overview loads to show what a
// run under way is building (a script, not JSON, since browsers do not
// fetch JSON from file://). A nil l says that no run is under way.
func WriteLive(out string, l *state.Live) error {
	b, err := liveJS(l)
	if err != nil {
		return err
	}
	return safefile.WriteUnsynced(filepath.Join(out, "live.js"), b, 0o644)
}

// isNotExist reports a missing file.
func isNotExist(err error) bool { return errors.Is(err, fs.ErrNotExist) }
