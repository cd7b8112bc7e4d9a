package site

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"html/template"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/state"
)

//go:embed templates static
var embedded embed.FS

// pageTemplates are the pages; each is parsed together with layout.html.
var pageTemplates = []string{"overview.html", "matrix.html", "package.html", "log.html", "run.html", "history.html", "page.html"}

// templates are the parsed page templates.
type templates struct {
	pages map[string]*template.Template
	// logHash identifies what log pages look like (layout and log
	// template): log pages rendered with another are rendered again.
	logHash string
	// hash identifies each page template with the layout and the
	// renderer's version.
	hash map[string]string
}

// renderVersion changes whenever the Go side of rendering changes what a
// page looks like (a template function, a view's fields), so that the
// pages of an earlier render are rendered again.
const renderVersion = 1

// readOverlay reads name from dir when dir has it, else from the embedded
// subdirectory sub.
func readOverlay(dir, sub, name string) ([]byte, error) {
	if dir != "" {
		b, err := safefile.ReadFile(filepath.Join(dir, name), 16<<20)
		if err == nil {
			return b, nil
		}
		if !isNotExist(err) {
			return nil, err
		}
	}
	return embedded.ReadFile(sub + "/" + name)
}

func loadTemplates(dir string) (*templates, error) {
	if dir != "" {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("read templates: %w", err)
		}
		for _, e := range ents {
			if e.Name() != "layout.html" && !slices.Contains(pageTemplates, e.Name()) {
				return nil, fmt.Errorf("read templates: %s: no built-in template has this name (they are layout.html, %s)",
					filepath.Join(dir, e.Name()), strings.Join(pageTemplates, ", "))
			}
		}
	}
	layout, err := readOverlay(dir, "templates", "layout.html")
	if err != nil {
		return nil, fmt.Errorf("read templates: %w", err)
	}
	base, err := template.New("layout.html").Funcs(funcs).Parse(string(layout))
	if err != nil {
		return nil, fmt.Errorf("parse template layout.html: %w", err)
	}
	t := &templates{pages: map[string]*template.Template{}, hash: map[string]string{}}
	for _, name := range pageTemplates {
		src, err := readOverlay(dir, "templates", name)
		if err != nil {
			return nil, fmt.Errorf("read templates: %w", err)
		}
		pt, err := template.Must(base.Clone()).New(name).Parse(string(src))
		if err != nil {
			return nil, fmt.Errorf("parse template %s: %w", name, err)
		}
		t.pages[name] = pt
		sum := sha256.Sum256(fmt.Appendf(nil, "%d\x00%s\x00%s", renderVersion, layout, src))
		t.hash[name] = hex.EncodeToString(sum[:])
		if name == "log.html" {
			h := sha256.New()
			fmt.Fprintf(h, "%d\x00%s\x00%s", logFormat, layout, src)
			t.logHash = hex.EncodeToString(h.Sum(nil))[:16]
		}
	}
	return t, nil
}

// staticFiles lists the static files: the embedded ones and those of dir.
func staticFiles(dir string) ([]string, error) {
	names := map[string]bool{}
	err := fs.WalkDir(embedded, "static", func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			names[strings.TrimPrefix(p, "static/")] = true
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	if dir != "" {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return nil, fmt.Errorf("read static files: %w", err)
		}
		for _, e := range ents {
			if e.Type().IsRegular() && !strings.HasPrefix(e.Name(), ".") {
				names[e.Name()] = true
			}
		}
	}
	return sortedKeys(names), nil
}

var funcs = template.FuncMap{
	"ts":     tsHTML,
	"tsp":    func(t *time.Time) template.HTML { return tsHTML(deref(t)) },
	"ms":     func(ms int64) string { return human(time.Duration(ms) * time.Millisecond) },
	"dur":    human,
	"span":   func(a, b time.Time) string { return human(b.Sub(a)) },
	"icon":   icon,
	"num":    num,
	"bytes":  humanBytes,
	"add":    func(a, b int) int { return a + b },
	"join":   strings.Join,
	"status": func(s string) string { return statusLabel[s] },
	"pct": func(a, b int) string {
		if b == 0 {
			return "0"
		}
		return strconv.FormatFloat(100*float64(a)/float64(b), 'f', 2, 64)
	},
}

func deref(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return *t
}

// tsHTML shows a time in UTC, machine-readable for the script's relative
// times.
func tsHTML(t time.Time) template.HTML {
	if t.IsZero() {
		return "—"
	}
	u := t.UTC()
	return template.HTML(`<time datetime="` + u.Format(time.RFC3339) + `">` + u.Format("2006-01-02 15:04") + `</time>`)
}

// human writes a duration the way people read it: 45s, 3m05s, 2h10m, 3d4h.
func human(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	s := int64(d.Round(time.Second) / time.Second)
	switch {
	case d < time.Second && d > 0:
		return strconv.FormatInt(int64(d/time.Millisecond), 10) + "ms"
	case s < 60:
		return strconv.FormatInt(s, 10) + "s"
	case s < 3600:
		return fmt.Sprintf("%dm%02ds", s/60, s%60)
	case s < 86400:
		return fmt.Sprintf("%dh%02dm", s/3600, s%3600/60)
	}
	if s%86400/3600 == 0 {
		return fmt.Sprintf("%dd", s/86400)
	}
	return fmt.Sprintf("%dd%dh", s/86400, s%86400/3600)
}

// num writes an integer with thin spaces between thousands.
func num(n int) string {
	s := strconv.Itoa(n)
	if n < 10000 && n > -10000 {
		return s
	}
	var b strings.Builder
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 && c != '-' {
			b.WriteString("\u202f")
		}
		b.WriteRune(c)
	}
	return b.String()
}

func humanBytes(n int64) string {
	switch {
	case n < 1<<10:
		return strconv.FormatInt(n, 10) + " B"
	case n < 1<<20:
		return strconv.FormatFloat(float64(n)/(1<<10), 'f', 1, 64) + " KiB"
	case n < 1<<30:
		return strconv.FormatFloat(float64(n)/(1<<20), 'f', 1, 64) + " MiB"
	}
	return strconv.FormatFloat(float64(n)/(1<<30), 'f', 2, 64) + " GiB"
}

// statusIcon gives every status a shape as well as a colour, for readers
// who do not tell the colours apart and for the page without its CSS.
var statusIcon = map[string]string{
	state.Built: "✓", state.UpToDate: "=", state.Failed: "✗", state.Blocked: "⊘",
	state.Pending: "…", state.Excluded: "–", state.Invalid: "!",
}

var statusLabel = map[string]string{
	state.Built: "built", state.UpToDate: "up to date", state.Failed: "failed", state.Blocked: "blocked",
	state.Pending: "pending", state.Excluded: "excluded", state.Invalid: "invalid",
}

func icon(s string) string {
	if i, ok := statusIcon[s]; ok {
		return i
	}
	return "?"
}
