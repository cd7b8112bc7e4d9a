package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"path/filepath"
	"strings"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/apkbuild"
)

// listFlag collects a repeatable, comma-separated flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error {
	for _, v := range strings.Split(s, ",") {
		if v = strings.TrimSpace(v); v != "" {
			*l = append(*l, v)
		}
	}
	return nil
}

// cmdParse implements `run parse [--arch ARCH] [--json] PATH...`: each PATH
// is an aport directory or a tree searched recursively. Exit 1 when an
// aport could not be read, 2 on usage errors.
func cmdParse(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run parse", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var arches, include, exclude listFlag
	fs.Var(&arches, "arch", "arch(es) to evaluate for, comma-separated or repeated (default: this machine's)")
	asJSON := fs.Bool("json", false, "print one JSON object per aport and arch, one per line")
	cacheDir := fs.String("cache", "", "cache directory for evaluated results (default: none)")
	fs.Var(&include, "include", "only aports matching this glob, relative to PATH (repeatable)")
	fs.Var(&exclude, "exclude", "skip aports matching this glob, relative to PATH, such as device/archived (repeatable)")
	jobs := fs.Int("jobs", 0, "aports evaluated at once (default: all cores)")
	verbose := fs.Bool("v", false, "log progress to stderr")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: run parse [--arch ARCH] [--json] [--cache DIR] [--exclude GLOB] PATH...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return exitTrouble
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return exitTrouble
	}
	if len(arches) == 0 {
		arches = listFlag{apk.HostArch()}
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	enc := json.NewEncoder(stdout)
	enc.SetEscapeHTML(false)
	// What an APKBUILD says reaches the terminal escaped.
	text, errText := terminalText(stdout), terminalText(stderr)
	failed := false
	for _, root := range fs.Args() {
		res, err := apkbuild.Scan(ctx, root, apkbuild.ScanOptions{
			Arches: arches, Include: include, Exclude: exclude,
			CacheDir: *cacheDir, Jobs: *jobs, Logger: log,
		})
		if err != nil {
			fmt.Fprintf(stderr, "run parse: %v\n", err)
			return exitTrouble
		}
		prefix := func(p string) string { return filepath.ToSlash(filepath.Join(root, filepath.FromSlash(p))) }
		for _, arch := range arches {
			for _, a := range res.Aports[arch] {
				out := *a
				out.Path = prefix(a.Path)
				if out.Error != "" {
					out.Error = rootRelative(root, out.Error)
				}
				out.Warnings = nil
				for _, w := range a.Warnings {
					out.Warnings = append(out.Warnings, rootRelative(root, w))
				}
				if *asJSON {
					if err := enc.Encode(&out); err != nil {
						fmt.Fprintf(stderr, "run parse: write output: %v\n", err)
						return exitTrouble
					}
					continue
				}
				printAport(text, &out)
			}
		}
		for _, d := range res.Duplicates {
			for i, p := range d.Paths {
				d.Paths[i] = prefix(p)
			}
			fmt.Fprintf(errText, "run parse: duplicate: %s\n", d)
		}
		for _, a := range res.Errors() {
			failed = true
			fmt.Fprintf(errText, "run parse: %s\n", rootRelative(root, a.Error))
		}
	}
	if failed {
		return exitFailed
	}
	return exitOK
}

// rootRelative prefixes an error message's relative file name with root.
func rootRelative(root, msg string) string {
	if root == "." || root == "" {
		return msg
	}
	return strings.TrimSuffix(filepath.ToSlash(root), "/") + "/" + msg
}

func printAport(w io.Writer, a *apkbuild.Aport) {
	if a.Error != "" {
		fmt.Fprintf(w, "%s [%s]: error: %s\n", a.Path, a.Arch, a.Error)
		return
	}
	applies := "builds"
	if !a.Applies {
		applies = "skipped"
	}
	fmt.Fprintf(w, "%s [%s]: %s %s (%s; arch=%s)\n", a.Path, a.Arch, a.Pkgname, a.Version(), applies, strings.Join(a.Arches, " "))
	line := func(label string, l []string) {
		if len(l) > 0 {
			fmt.Fprintf(w, "  %-18s %s\n", label+":", strings.Join(l, " "))
		}
	}
	line("depends", a.Depends)
	line("makedepends", a.Makedepends)
	line("makedepends_build", a.MakedependsBuild)
	line("makedepends_host", a.MakedependsHost)
	line("checkdepends", a.Checkdepends)
	line("provides", a.Provides)
	line("install_if", a.InstallIf)
	line("options", a.Options)
	var subs []string
	for _, s := range a.Subpackages {
		subs = append(subs, s.Name)
	}
	line("subpackages", subs)
	for _, wmsg := range a.Warnings {
		fmt.Fprintf(w, "  warning: %s\n", wmsg)
	}
}
