package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/apkbuild"
	"github.com/apkfarm/apkfarm/runner/config"
	"github.com/apkfarm/apkfarm/runner/plan"
	"github.com/apkfarm/apkfarm/runner/published"
	"github.com/apkfarm/apkfarm/state"
)

// now is the clock of a run; tests replace it so that the plan's
// generated time is fixed.
var now = time.Now

// runOptions are the flags of a run.
type runOptions struct {
	only      []string
	withDeps  bool
	arches    []string
	noPublish bool
	// trigger is what started the run, for its record.
	trigger state.Trigger
	// onlyChannel is --channel: that channel's pass alone.
	onlyChannel string
	// channel and base are set for a channel's pass: its name, and the
	// repository it sits on.
	channel string
	base    *baseRepo
}

// cmdRun implements `run [--dry-run [--json] | --no-publish] [--config
// FILE] [--only PKG,...] [--with-deps] [--arch ARCH,...] [--why PKG,...]`.
// With --dry-run (or --why) it prints the plan and changes nothing (caches
// of evaluated APKBUILDs and downloaded indexes aside): exit 0 when the
// plan was made for every arch, 2 when the configuration, the tree or an
// arch's indexes could not be read (the plan of the other arches is still
// printed). With --no-publish it plans and builds (buildRun). Without
// either it refuses, before doing anything: publishing is not implemented
// yet.
func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dryRun := fs.Bool("dry-run", false, "print the plan and change nothing")
	noPublish := fs.Bool("no-publish", false, "plan and build, stage the packages in <state.dir>/staging/<arch>/, publish nothing")
	asJSON := fs.Bool("json", false, "print the plan as JSON (schema: docs/plan.md)")
	configPath := fs.String("config", "", "configuration file (default $"+config.EnvPath+" or "+config.DefaultPath+")")
	var only, arches listFlag
	fs.Var(&only, "only", "plan only these aports (pkgnames or subpackage names; comma-separated or repeated)")
	withDeps := fs.Bool("with-deps", false, "with --only: add the out-of-date build dependencies of those aports")
	fs.Var(&arches, "arch", "plan only these arches of the configuration (comma-separated or repeated)")
	var why listFlag
	fs.Var(&why, "why", "instead of the plan, say per arch what happens to these packages and why")
	verbose := fs.Bool("v", false, "log progress to stderr")
	every := fs.String("every", "", "stay up and run on this cron schedule (\"*/15 * * * *\"); runs never overlap")
	channel := fs.String("channel", "", "make only this staging channel's pass (see [[channels]])")
	listen := fs.String("listen", "", "stay up and serve POST /hook/gitlab, POST /hook/run and GET /healthz on this address")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: run [--dry-run [--json] | --no-publish] [--config FILE] [--only PKG[,PKG]] [--with-deps] [--arch ARCH[,ARCH]] [--why PKG[,PKG]] [-v]")
		fmt.Fprintln(stderr, "Without --dry-run or --no-publish, one whole run: plan, build, sign, publish (README: exit codes).")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return exitOK
	} else if err != nil {
		return exitTrouble
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "run: unexpected argument %q (subcommands: see run help)\n", fs.Arg(0))
		return exitTrouble
	}
	planOnly := *dryRun || len(why) > 0
	switch {
	case planOnly && *noPublish:
		fmt.Fprintln(stderr, "run: --no-publish builds; --dry-run and --why only plan: give one of them")
		return exitTrouble
	case *asJSON && !planOnly:
		fmt.Fprintln(stderr, "run: --json prints the plan: use it with --dry-run")
		return exitTrouble
	}
	if *withDeps && len(only) == 0 {
		fmt.Fprintln(stderr, "run: --with-deps needs --only")
		return exitTrouble
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelInfo
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	cfg, err := loadConfig(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "run: %v\n", err)
		return exitTrouble
	}
	opts := runOptions{only: only, withDeps: *withDeps, arches: arches, noPublish: *noPublish, trigger: manualOrTimer(stdout),
		onlyChannel: *channel}
	if planOnly && (*every != "" || *listen != "") {
		fmt.Fprintln(stderr, "run: --every and --listen make runs; --dry-run and --why only plan: give one of them")
		return exitTrouble
	}
	if *every == "" && *listen == "" {
		*every, *listen = cfg.Trigger.Every, cfg.Trigger.Listen
	}
	if !planOnly && (*every != "" || *listen != "") {
		return serve(ctx, *configPath, cfg, opts, *every, *listen, stdout, stderr)
	}
	text := terminalText(stdout) // names and reasons come from APKBUILDs and indexes
	if !planOnly {
		return passAll(ctx, cfg, opts, text, stderr, logger)
	}
	if *channel != "" {
		ch := cfg.Channel(*channel)
		if ch == nil {
			fmt.Fprintf(stderr, "run: --channel %q: no such channel in the configuration's [[channels]]\n", *channel)
			return exitTrouble
		}
		tree, err := channelTree(ctx, cfg, ch)
		if err != nil {
			fmt.Fprintf(stderr, "run: %v\n", err)
			return exitTrouble
		}
		opts.base, opts.channel = &baseRepo{dir: cfg.Publish.Dir, url: cfg.Publish.URL, keys: cfg.Publish.Keys}, ch.Name
		cfg = channelConfig(cfg, ch, tree)
	}
	p, err := makePlan(ctx, cfg, opts, logger)
	if err != nil {
		fmt.Fprintf(stderr, "run: %v\n", err)
		return exitTrouble
	}
	switch {
	case len(why) > 0:
		var b strings.Builder
		for _, name := range why {
			for _, ap := range p.Arches {
				fmt.Fprintln(&b, p.Why(ap.Arch, name))
			}
		}
		_, err = io.WriteString(text, b.String())
	case *asJSON:
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		enc.SetEscapeHTML(false)
		err = enc.Encode(p)
	default:
		err = p.WriteText(text)
	}
	if err != nil {
		fmt.Fprintf(stderr, "run: write plan: %v\n", err)
		return exitTrouble
	}
	warnUnrunnable(stderr, p)
	if p.HasErrors() {
		for _, ap := range p.Arches {
			if ap.Error != "" {
				fmt.Fprintf(terminalText(stderr), "run: %s: %s\n", ap.Arch, ap.Error)
			}
		}
		return exitTrouble
	}
	return exitOK
}

// loadConfig reads and validates the configuration at path, or at
// $APKFARM_CONFIG, or at the default path.
func loadConfig(path string) (*config.Config, error) {
	from := "--config"
	if path == "" {
		path, from = os.Getenv(config.EnvPath), "$"+config.EnvPath
	}
	if path == "" {
		path, from = config.DefaultPath, "the default path"
	}
	cfg, err := config.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("no configuration at %s (%s): give one with --config FILE or $%s, or write %s; configs/ in the source has commented examples (apkfarm.toml lists every key)",
			path, from, config.EnvPath, config.DefaultPath)
	}
	if err != nil {
		return nil, err
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return cfg, nil
}

// selectArches returns the configured arches, narrowed to want when given.
func selectArches(cfg *config.Config, want []string) ([]string, error) {
	if len(want) == 0 {
		return cfg.Arches, nil
	}
	wanted := map[string]bool{}
	for _, a := range want {
		if !slices.Contains(cfg.Arches, a) {
			return nil, fmt.Errorf("select arches: --arch %q is not in the configuration's arches %q", a, cfg.Arches)
		}
		wanted[a] = true
	}
	var out []string
	for _, c := range cfg.Arches {
		if wanted[c] {
			out = append(out, c)
		}
	}
	return out, nil
}

// makePlan reads the tree, the indexes and the failure memory of the
// state file (without changing it), and computes the plan: what a dry run
// shows.
func makePlan(ctx context.Context, cfg *config.Config, opts runOptions, logger *slog.Logger) (*plan.Plan, error) {
	prev, err := previousState(cfg.State.Dir, logger)
	if err != nil {
		return nil, err
	}
	return planRun(ctx, cfg, opts, logger, prev)
}

// planRun reads the tree and the indexes and computes the plan, with the
// failure memory of prev. Trouble with one arch's indexes is that arch's
// error in the plan; trouble with the tree or the keys is an error.
func planRun(ctx context.Context, cfg *config.Config, opts runOptions, logger *slog.Logger, prev *state.Status) (*plan.Plan, error) {
	arches, err := selectArches(cfg, opts.arches)
	if err != nil {
		return nil, err
	}
	keys, err := apk.LoadKeyring(cfg.Publish.Keys)
	if err != nil {
		return nil, fmt.Errorf("publish.keys: %w (the public keys the repository is signed with; `run keygen --dir DIR` makes a pair)", err)
	}
	var upKeys *apk.Keyring
	if cfg.Upstream.Keys != "" {
		if upKeys, err = apk.LoadKeyring(cfg.Upstream.Keys); err != nil {
			return nil, fmt.Errorf("upstream.keys: %w", err)
		}
	}
	in := plan.Input{
		Arches:     arches,
		NativeArch: cfg.Native(),
		Published:  map[string]*apk.Index{},
		Upstream:   map[string][]*apk.Index{},
		ArchErrors: map[string]string{},
		Failures:   failures(prev),
		Now:        now().UTC(),
		Options: plan.Options{
			Only: opts.only, WithDeps: opts.withDeps, Bootstrap: cfg.Plan.Bootstrap,
			RetryDelays: config.Durations(cfg.Plan.RetryDelays), AssumeUpstream: len(cfg.Upstream.Indexes) == 0,
		},
	}
	// The tree and the indexes are read at the same time: evaluating
	// APKBUILDs is CPU work, fetching indexes mostly waiting.
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		scan    *apkbuild.ScanResult
		scanErr error
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		cache := cfg.Source.CacheDir
		if cache == "" {
			cache = filepath.Join(cfg.State.Dir, "cache", "apkbuild")
		}
		scan, scanErr = apkbuild.Scan(ctx, cfg.Source.Path, apkbuild.ScanOptions{Arches: arches,
			Include: cfg.Source.Include, Exclude: cfg.Source.Exclude, CacheDir: cache, Jobs: cfg.Jobs, Logger: logger})
	}()
	fetcher := &published.Fetcher{Timeout: time.Duration(cfg.HTTPTimeout),
		CacheDir: filepath.Join(cfg.State.Dir, "cache", "indexes"), Logger: logger,
		Limits: apk.Limits{Index: int64(cfg.MaxIndexSize)}}
	if opts.base != nil {
		in.Base = map[string]*apk.Index{}
	}
	for _, arch := range arches {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pub, ups, err := loadIndexes(ctx, cfg, fetcher, arch, keys, upKeys)
			var base *apk.Index
			if err == nil && opts.base != nil {
				loc := filepath.Join(opts.base.dir, arch, "APKINDEX.tar.gz")
				if opts.base.url != "" {
					loc = published.Expand(opts.base.url, arch)
				}
				if base, err = fetcher.Published(ctx, loc, keys); err != nil {
					err = fmt.Errorf("base repository: %w", err)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				in.ArchErrors[arch] = err.Error()
				return
			}
			in.Published[arch], in.Upstream[arch] = pub, ups
			if opts.base != nil {
				in.Base[arch] = base
			}
		}()
	}
	wg.Wait()
	if scanErr != nil {
		return nil, fmt.Errorf("%w (source.path)", scanErr)
	}
	for _, d := range scan.Duplicates {
		logger.Warn("duplicate package name in the tree", "duplicate", d.String())
	}
	in.Aports = scan.Aports
	return plan.Compute(in)
}

// loadIndexes loads an arch's published index and its upstream indexes.
func loadIndexes(ctx context.Context, cfg *config.Config, f *published.Fetcher, arch string,
	keys, upKeys *apk.Keyring) (*apk.Index, []*apk.Index, error) {
	loc := filepath.Join(cfg.Publish.Dir, arch, "APKINDEX.tar.gz")
	if cfg.Publish.URL != "" {
		loc = published.Expand(cfg.Publish.URL, arch)
	}
	pub, err := f.Published(ctx, loc, keys)
	if err != nil {
		return nil, nil, err
	}
	var ups []*apk.Index
	for _, u := range cfg.Upstream.Indexes {
		idx, err := f.Upstream(ctx, published.Expand(u, arch), upKeys)
		if err != nil {
			return nil, nil, err
		}
		ups = append(ups, idx)
	}
	return pub, ups, nil
}

// previousState reads the state file without changing it, for a dry
// run: a missing file, or one that does not parse (with a warning), is an
// empty state; a FIFO or a directory in its place is an error naming it,
// never a wait.
func previousState(stateDir string, logger *slog.Logger) (*state.Status, error) {
	path := filepath.Join(stateDir, state.FileName)
	st, err := state.Read(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if errors.Is(err, safefile.ErrNotRegular) {
		return nil, err
	}
	if err != nil {
		logger.Warn("previous state unreadable; planning as if nothing failed", "path", path, "err", err)
		return nil, nil
	}
	return st, nil
}

// failures is the failure memory the planner reads from a state.
func failures(st *state.Status) map[plan.FailureKey]plan.Failure {
	if st == nil {
		return nil
	}
	out := map[plan.FailureKey]plan.Failure{}
	for arch, a := range st.Arches {
		for name := range a.Aports {
			if f, ok := st.Failures(arch, name); ok {
				out[plan.FailureKey{Arch: arch, Pkgname: name}] = plan.Failure{
					Version: f.Version, Hash: f.Hash, Attempts: f.Attempts, Last: f.Last}
			}
		}
	}
	return out
}

// manualOrTimer is the trigger of a run started from the command line: by
// hand on a terminal, else by cron or a systemd timer.
func manualOrTimer(stdout io.Writer) state.Trigger {
	if isTerminal(stdout) || isTerminal(os.Stdin) {
		return state.Trigger{Kind: state.TriggerManual}
	}
	return state.Trigger{Kind: state.TriggerTimer}
}
