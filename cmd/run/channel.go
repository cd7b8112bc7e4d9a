package main

import (
	"archive/tar"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/runner/config"
)

// channelsDir is where channels keep their state, under state.dir.
const channelsDir = "channels"

// baseRepo is the repository a staging channel sits on: the main one.
type baseRepo struct {
	dir  string // publish.dir of the main repository, or ""
	url  string // publish.url of the main repository, or ""
	keys string // the directory of its public keys
}

// channelConfig returns the configuration of a channel's pass: its tree,
// its repository <publish.dir>/<name>, its state <state.dir>/channels/
// <name>; the caches of the main configuration are shared.
func channelConfig(cfg *config.Config, ch *config.Channel, tree string) *config.Config {
	c := *cfg
	c.Source.Path, c.Source.Include, c.Source.Exclude = tree, ch.Include, ch.Exclude
	if c.Source.CacheDir == "" {
		c.Source.CacheDir = filepath.Join(cfg.State.Dir, "cache", "apkbuild")
	}
	if c.Build.CacheDir == "" {
		c.Build.CacheDir = filepath.Join(cfg.State.Dir, "cache", "images")
	}
	if cfg.Publish.Dir != "" {
		c.Publish.Dir = filepath.Join(cfg.Publish.Dir, ch.Name)
	}
	if cfg.Publish.URL != "" {
		c.Publish.URL = strings.Replace(cfg.Publish.URL, "{arch}", ch.Name+"/{arch}", 1)
	}
	if ch.Policy != "" {
		c.Publish.Policy, c.Publish.Policies = ch.Policy, nil
	}
	c.State.Dir = filepath.Join(cfg.State.Dir, channelsDir, ch.Name)
	c.Channels = nil
	return &c
}

// passAll makes the pass of the main repository, then (unless --only
// narrowed the run) one pass per channel, on top of the main repository
// as it is then; or, with --channel, that channel's pass alone. The exit
// code is the worst of them.
func passAll(ctx context.Context, cfg *config.Config, opts runOptions, stdout, stderr io.Writer, logger *slog.Logger) int {
	if opts.onlyChannel != "" {
		ch := cfg.Channel(opts.onlyChannel)
		if ch == nil {
			fmt.Fprintf(stderr, "run: --channel %q: no such channel in the configuration's [[channels]]\n", opts.onlyChannel)
			return exitTrouble
		}
		return channelPass(ctx, cfg, ch, opts, stdout, stderr, logger)
	}
	code := pass(ctx, cfg, opts, stdout, stderr, logger)
	if len(opts.only) > 0 {
		return code
	}
	for i := range cfg.Channels {
		if ctx.Err() != nil {
			break
		}
		fmt.Fprintf(stdout, "\n=== channel %s\n", cfg.Channels[i].Name)
		code = max(code, channelPass(ctx, cfg, &cfg.Channels[i], opts, stdout, stderr, logger))
	}
	return code
}

// channelPass makes the pass of one channel, on top of the main
// repository as it is now.
func channelPass(ctx context.Context, cfg *config.Config, ch *config.Channel, opts runOptions, stdout, stderr io.Writer, logger *slog.Logger) int {
	// The main lock too: the base repository does not move under the
	// channel's plan, and `run channel rm` waits.
	unlock, err := lockState(cfg.State.Dir)
	if errors.Is(err, errBusy) {
		fmt.Fprintf(stdout, "run: channel %s: %v; nothing done\n", ch.Name, err)
		return exitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "run: %v\n", err)
		return exitTrouble
	}
	defer unlock()
	tree, err := channelTree(ctx, cfg, ch)
	if err != nil {
		fmt.Fprintf(stderr, "run: %v\n", err)
		return exitTrouble
	}
	opts.base = &baseRepo{dir: cfg.Publish.Dir, url: cfg.Publish.URL, keys: cfg.Publish.Keys}
	opts.channel = ch.Name
	return pass(ctx, channelConfig(cfg, ch, tree), opts, stdout, stderr, logger)
}

// channelTree returns the channel's tree: its source directory, or its
// branch exported into <state.dir>/channels/<name>/tree.
func channelTree(ctx context.Context, cfg *config.Config, ch *config.Channel) (string, error) {
	if ch.Branch == "" {
		return ch.Source, nil
	}
	repoDir := ch.Source
	if repoDir == "" {
		repoDir = cfg.Source.Path
	}
	dst := filepath.Join(cfg.State.Dir, channelsDir, ch.Name, "tree")
	if err := exportBranch(ctx, repoDir, ch.Branch, dst); err != nil {
		return "", fmt.Errorf("channel %q: %w", ch.Name, err)
	}
	return dst, nil
}

// exportBranch writes the tree of branch in the git repository at repoDir
// into dst, anew, through `git archive` (the checkout is not touched).
// Entries are checked: no absolute paths, no "..", only directories,
// regular files and symbolic links that stay inside.
func exportBranch(ctx context.Context, repoDir, branch, dst string) error {
	if strings.HasPrefix(branch, "-") {
		return fmt.Errorf("branch %q: not a branch name", branch)
	}
	tmp := dst + ".new"
	if err := os.RemoveAll(tmp); err != nil {
		return err
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return err
	}
	cmd := exec.CommandContext(ctx, "git", "-C", repoDir, "archive", "--format=tar", branch, "--")
	out, err := cmd.StdoutPipe()
	if err != nil {
		return err
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("export branch %q: %w (is git installed?)", branch, err)
	}
	xerr := extractTree(out, tmp)
	io.Copy(io.Discard, out)
	werr := cmd.Wait()
	if werr != nil {
		return fmt.Errorf("export branch %q of %s: %v: %s", branch, repoDir, werr, strings.TrimSpace(stderr.String()))
	}
	if xerr != nil {
		return fmt.Errorf("export branch %q of %s: %w", branch, repoDir, xerr)
	}
	if err := os.RemoveAll(dst); err != nil {
		return err
	}
	return os.Rename(tmp, dst)
}

// maxTreeBytes bounds what a branch export may write.
const maxTreeBytes = 4 << 30

func extractTree(r io.Reader, dst string) error {
	tr := tar.NewReader(r)
	var total int64
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		name := path.Clean(h.Name)
		if h.Typeflag == tar.TypeXGlobalHeader || name == "." {
			continue
		}
		if path.IsAbs(name) || name == ".." || strings.HasPrefix(name, "../") {
			return fmt.Errorf("entry %q leaves the tree", h.Name)
		}
		p := filepath.Join(dst, filepath.FromSlash(name))
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(p, 0o755); err != nil {
				return err
			}
		case tar.TypeReg:
			if total += h.Size; total > maxTreeBytes {
				return fmt.Errorf("tree larger than %d bytes", int64(maxTreeBytes))
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			mode := os.FileMode(0o644)
			if h.Mode&0o111 != 0 {
				mode = 0o755
			}
			f, err := safefile.Create(p, mode)
			if err != nil {
				return err
			}
			if _, err := io.Copy(f, tr); err != nil {
				f.Abort()
				return err
			}
			if err := f.CommitUnsynced(); err != nil {
				return err
			}
		case tar.TypeSymlink:
			target := path.Clean(path.Join(path.Dir(name), h.Linkname))
			if path.IsAbs(h.Linkname) || target == ".." || strings.HasPrefix(target, "../") {
				return fmt.Errorf("symbolic link %q → %q leaves the tree", h.Name, h.Linkname)
			}
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				return err
			}
			if err := os.Symlink(h.Linkname, p); err != nil {
				return err
			}
		default:
			return fmt.Errorf("entry %q: type %q is not allowed in a tree", h.Name, h.Typeflag)
		}
	}
}

// cmdChannel implements `run channel rm [--config FILE] NAME`: it deletes a
// channel's repository (<publish.dir>/<name>) and its state
// (<state.dir>/channels/<name>), under the run lock. The channel need not
// be in the configuration any more (that is the point).
func cmdChannel(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] != "rm" {
		fmt.Fprintln(stderr, "usage: run channel rm [--config FILE] NAME")
		return exitTrouble
	}
	fs := flag.NewFlagSet("run channel rm", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (default $"+config.EnvPath+" or "+config.DefaultPath+")")
	if code, ok := parseFlags(fs, args[1:]); !ok {
		return code
	}
	if fs.NArg() != 1 {
		fmt.Fprintln(stderr, "usage: run channel rm [--config FILE] NAME")
		return exitTrouble
	}
	name := fs.Arg(0)
	cfg, err := loadConfig(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "run channel rm: %v\n", err)
		return exitTrouble
	}
	probe := &config.Config{Arches: cfg.Arches, Channels: []config.Channel{{Name: name, Source: "x"}}}
	var p config.Problems
	probe.ValidateChannels(&p)
	if len(p) > 0 {
		fmt.Fprintf(stderr, "run channel rm: %s\n", strings.Join(p, "; "))
		return exitTrouble
	}
	unlock, err := lockState(cfg.State.Dir)
	if err != nil {
		fmt.Fprintf(stderr, "run channel rm: %v\n", err)
		return exitTrouble
	}
	defer unlock()
	if cfg.Channel(name) != nil {
		fmt.Fprintf(stderr, "run channel rm: %q is still in the configuration: remove its [[channels]] entry first, or the next run makes it again\n", name)
		return exitTrouble
	}
	var gone []string
	for _, dir := range []string{filepath.Join(cfg.Publish.Dir, name), filepath.Join(cfg.State.Dir, channelsDir, name)} {
		if dir == filepath.Join(cfg.Publish.Dir, name) && cfg.Publish.Dir == "" {
			continue
		}
		if _, err := os.Lstat(dir); err != nil {
			continue
		}
		if err := os.RemoveAll(dir); err != nil {
			fmt.Fprintf(stderr, "run channel rm: %v\n", err)
			return exitTrouble
		}
		gone = append(gone, dir)
	}
	if len(gone) == 0 {
		fmt.Fprintf(stderr, "run channel rm: no channel %q: neither %s nor %s exists\n", name,
			filepath.Join(cfg.Publish.Dir, name), filepath.Join(cfg.State.Dir, channelsDir, name))
		return exitFailed
	}
	fmt.Fprintf(stdout, "channel %q removed: %s\n", name, strings.Join(gone, ", "))
	return exitOK
}
