package config

import (
	"net/url"
	"slices"
	"strings"
	"time"
)

// Site configures the static status site `site` and `run` render from the
// state (package site, docs/site.md).
type Site struct {
	// Out is where the site is written; empty means <state.dir>/site.
	Out string `toml:"out"`
	// Title names the site in page titles and the header.
	Title string `toml:"title"`
	// BaseURL is the absolute URL the site is served at. It makes the
	// links of feed.atom and failed.json absolute; the pages always link
	// relatively, so the site works from file:// and any mirror path.
	BaseURL string `toml:"base_url"`
	// ForgeURL links each package page to its APKBUILD: "{dir}" is
	// replaced by the aport's directory in the tree ("main/hello"),
	// "{pkgname}" by its name. Empty: no link.
	ForgeURL string `toml:"forge_url"`
	// ContentDir holds Markdown pages (*.md) rendered into the site and
	// linked from every page's header. Empty: none.
	ContentDir string `toml:"content_dir"`
	// TemplatesDir and StaticDir override the built-in templates and
	// static files by name. Empty: the built-in ones.
	TemplatesDir string `toml:"templates_dir"`
	StaticDir    string `toml:"static_dir"`
	// History is how many runs the site lists.
	History int `toml:"history"`
	// StaleAfter is how old the last completed run may be before the
	// overview warns; "0s" turns the warning off.
	StaleAfter Duration `toml:"stale_after"`
	// MirrorPath is the sub-path every mirror serves the site under,
	// pushed after the repository's indexes; "" pushes no site.
	MirrorPath string `toml:"mirror_path"`
	// Render turns the render at the end of each run off (false).
	Render *bool `toml:"render"`
}

// Renders says whether `run` renders the site at the end of each run.
func (s *Site) Renders() bool { return s.Render == nil || *s.Render }

func defaultSite() Site {
	return Site{Title: "apkfarm", History: 50, StaleAfter: Duration(48 * time.Hour), MirrorPath: "status"}
}

// OutDir is where the site goes for a state directory.
func (s *Site) OutDir(stateDir string) string {
	if s.Out != "" {
		return s.Out
	}
	return strings.TrimSuffix(stateDir, "/") + "/site"
}

// Validate reports the problems of the [site] section alone, for `site`,
// which needs no other section.
func (s *Site) Validate() error {
	var p Problems
	s.validate(&p)
	if len(p) == 0 {
		return nil
	}
	return &ValidationError{Problems: p}
}

func (s *Site) validate(p *Problems) {
	if s.BaseURL != "" {
		if u, err := url.Parse(s.BaseURL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.Addf("site.base_url", "%q is not an absolute http(s) URL, e.g. \"https://build.example.org/\"", s.BaseURL)
		}
	}
	if s.ForgeURL != "" {
		if !strings.Contains(s.ForgeURL, "{dir}") && !strings.Contains(s.ForgeURL, "{pkgname}") {
			p.Addf("site.forge_url", "%q has neither {dir} nor {pkgname}: every package would link to the same page", s.ForgeURL)
		}
		r := strings.NewReplacer("{dir}", "main/x", "{pkgname}", "x")
		if u, err := url.Parse(r.Replace(s.ForgeURL)); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			p.Addf("site.forge_url", "%q is not an absolute http(s) URL template, e.g. \"https://gitlab.example.org/pmaports/-/blob/master/{dir}/APKBUILD\"", s.ForgeURL)
		}
	}
	if s.Title == "" {
		p.Addf("site.title", "empty: name the site, e.g. \"apkfarm\"")
	}
	if s.History < 1 {
		p.Addf("site.history", "%d: list at least 1 run", s.History)
	}
	if s.StaleAfter < 0 {
		p.Addf("site.stale_after", "%s is negative (\"0s\" turns the warning off)", s.StaleAfter)
	}
	if m := s.MirrorPath; m != "" && (strings.ContainsAny(m, "/\\\x00") || m == "." || m == ".." || slices.Contains(KnownArches, m) || m == "keys") {
		p.Addf("site.mirror_path", "%q: want one path component that is no arch and not keys, e.g. \"status\"", m)
	}
}
