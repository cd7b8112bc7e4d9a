package site

import (
	"log/slog"
	"time"

	"github.com/apkfarm/apkfarm/runner/config"
)

// FromConfig maps the [site] configuration to the renderer's options, for
// the state in stateDir: what `site` and the end of every `run` render.
func FromConfig(c config.Site, stateDir string, logger *slog.Logger) Options {
	return Options{
		StateDir:     stateDir,
		Out:          c.OutDir(stateDir),
		Title:        c.Title,
		BaseURL:      c.BaseURL,
		ForgeURL:     c.ForgeURL,
		ContentDir:   c.ContentDir,
		TemplatesDir: c.TemplatesDir,
		StaticDir:    c.StaticDir,
		History:      c.History,
		StaleAfter:   time.Duration(c.StaleAfter),
		Logger:       logger,
	}
}
