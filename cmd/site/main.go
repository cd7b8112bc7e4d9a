// Command site renders apkfarm's state into a static status site:
//
//	site --state DIR --out DIR [--config FILE] [--base-url URL] [-v]
//
// --config reads the [site] section (and state.dir) of apkfarm's
// configuration; flags given on the command line win over it. Exit codes:
// 0 the site was rendered; 2 it could not be (usage, configuration, an
// unreadable state, an unwritable output directory). docs/site.md
// describes the site.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/apkfarm/apkfarm/runner/config"
	"github.com/apkfarm/apkfarm/site"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runSite(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// runSite is the whole command, callable from tests; it returns the exit
// code.
func runSite(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("site", flag.ContinueOnError)
	fs.SetOutput(stderr)
	stateDir := fs.String("state", "", "the state directory `run` writes (default: state.dir of --config)")
	out := fs.String("out", "", "where to write the site (default: site.out of --config, else <state>/site)")
	cfgPath := fs.String("config", "", "apkfarm configuration to read the [site] section from")
	baseURL := fs.String("base-url", "", "absolute URL the site is served at, for the links of feed.atom and failed.json")
	verbose := fs.Bool("v", false, "log what was rendered")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: site --state DIR --out DIR [--config FILE] [--base-url URL] [-v]")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "site: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return 2
	}
	cfg := config.Default()
	if *cfgPath != "" {
		c, err := config.Load(*cfgPath)
		if err != nil {
			fmt.Fprintf(stderr, "site: %v\n", err)
			return 2
		}
		cfg = *c
		if *stateDir == "" {
			*stateDir = cfg.State.Dir
		}
	}
	if *baseURL != "" {
		cfg.Site.BaseURL = *baseURL
	}
	if *out != "" {
		cfg.Site.Out = *out
	}
	if *stateDir == "" {
		fmt.Fprintln(stderr, "site: --state is required (or --config with state.dir)")
		fs.Usage()
		return 2
	}
	if err := cfg.Site.Validate(); err != nil {
		fmt.Fprintf(stderr, "site: %v\n", err)
		return 2
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	start := time.Now()
	opt := site.FromConfig(cfg.Site, *stateDir, logger)
	st, err := site.Render(ctx, opt)
	if err != nil {
		fmt.Fprintf(stderr, "site: %v\n", err)
		return 2
	}
	logger.Info("site rendered", "out", opt.Out, "files", st.Files, "written", st.Written, "removed", st.Removed,
		"logs_rendered", st.Logs, "logs_kept", st.LogsKept, "took", time.Since(start).Round(time.Millisecond))
	return 0
}
