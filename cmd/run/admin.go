package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/apkfarm/apkfarm/runner/config"
	"github.com/apkfarm/apkfarm/state"
)

// cmdStatus implements `run status [--config FILE] [PKG...]`: the state as
// a terminal table. Without PKG, per arch the count of aports by status
// and every aport that is failed or blocked; with PKG, per arch its
// status, versions, reason and last attempt. It reads status.json and
// changes nothing. Exit 1 when a PKG is in no arch, 2 when the state
// cannot be read.
func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run status", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (default $"+config.EnvPath+" or "+config.DefaultPath+")")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: run status [--config FILE] [PKG...]")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "run status: %v\n", err)
		return exitTrouble
	}
	st, err := state.Load(filepath.Join(cfg.State.Dir, state.FileName), discardLogger())
	if err != nil {
		fmt.Fprintf(stderr, "run status: %v\n", err)
		return exitTrouble
	}
	var b strings.Builder
	code := exitOK
	if fs.NArg() == 0 {
		writeOverview(&b, st)
	} else {
		for _, name := range fs.Args() {
			if !writeAport(&b, st, name) {
				fmt.Fprintf(stderr, "run status: %q is in no arch of the state\n", name)
				code = exitFailed
			}
		}
	}
	io.WriteString(stdout, b.String())
	return code
}

var statusOrder = []string{state.Built, state.UpToDate, state.Failed, state.Blocked, state.Pending, state.Excluded, state.Invalid}

func writeOverview(w io.Writer, st *state.Status) {
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "arch\t%s\n", strings.Join(statusOrder, "\t"))
	for _, arch := range slices.Sorted(maps.Keys(st.Arches)) {
		counts := map[string]int{}
		for _, e := range st.Arches[arch].Aports {
			counts[e.Status]++
		}
		row := []string{arch}
		for _, s := range statusOrder {
			row = append(row, fmt.Sprint(counts[s]))
		}
		fmt.Fprintln(tw, strings.Join(row, "\t"))
	}
	tw.Flush()
	var bad []string
	for _, arch := range slices.Sorted(maps.Keys(st.Arches)) {
		a := st.Arches[arch]
		for _, name := range slices.Sorted(maps.Keys(a.Aports)) {
			e := a.Aports[name]
			if e.Status == state.Failed || e.Status == state.Blocked {
				bad = append(bad, fmt.Sprintf("%s\t%s\t%s\t%s\t%s", e.Status, arch, name, e.Version, oneLineReason(e)))
			}
		}
	}
	if len(bad) > 0 {
		fmt.Fprintf(w, "\n%d failed or blocked:\n", len(bad))
		tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
		for _, l := range bad {
			fmt.Fprintln(tw, "  "+l)
		}
		tw.Flush()
	}
}

func oneLineReason(e *state.Aport) string {
	r := e.Reason
	if e.BlockedBy != "" {
		r = "by " + e.BlockedBy + ": " + r
	}
	if len(r) > 100 {
		r = r[:100] + "…"
	}
	return r
}

// writeAport writes name's rows; false when no arch has it.
func writeAport(w io.Writer, st *state.Status, name string) bool {
	found := false
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintf(tw, "%s\tstatus\tversion\tpublished\tlast attempt\treason\n", name)
	for _, arch := range slices.Sorted(maps.Keys(st.Arches)) {
		e := st.Arches[arch].Aports[name]
		if e == nil {
			continue
		}
		found = true
		last := "-"
		if n := len(e.Attempts); n > 0 {
			at := e.Attempts[n-1]
			last = at.End.Format("2006-01-02 15:04") + " " + orDash(at.Class, "ok") + " " + at.Log
		}
		status := e.Status
		if e.Retry {
			status += " (retry asked)"
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%s\t%s\n", arch, status, orDash(e.Version, "-"), orDash(e.Published, "-"), last, oneLineReason(e))
	}
	tw.Flush()
	return found
}

func orDash(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// cmdRetry implements `run retry [--config FILE] [--arch ARCH[,ARCH]]
// PKG[,PKG]...`: it clears the failure memory of those aports (on every
// arch, or those given), so that the next run builds them again instead
// of waiting for the retry delay or an APKBUILD change. It takes the run
// lock, so it never races a run. Exit 1 when a PKG has no failure to
// clear, 2 on usage or state trouble.
func cmdRetry(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run retry", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "configuration file (default $"+config.EnvPath+" or "+config.DefaultPath+")")
	var arches listFlag
	fs.Var(&arches, "arch", "only on these arches (comma-separated or repeated)")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: run retry [--config FILE] [--arch ARCH[,ARCH]] PKG[,PKG]...")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	var names []string
	for _, a := range fs.Args() {
		for _, n := range strings.Split(a, ",") {
			if n != "" {
				names = append(names, n)
			}
		}
	}
	if len(names) == 0 {
		fs.Usage()
		return exitTrouble
	}
	cfg, err := loadConfig(*configPath)
	if err != nil {
		fmt.Fprintf(stderr, "run retry: %v\n", err)
		return exitTrouble
	}
	unlock, err := lockState(cfg.State.Dir)
	if err != nil {
		if errors.Is(err, errBusy) {
			err = fmt.Errorf("%w: try again when it has ended", err)
		}
		fmt.Fprintf(stderr, "run retry: %v\n", err)
		return exitTrouble
	}
	defer unlock()
	path := filepath.Join(cfg.State.Dir, state.FileName)
	st, err := state.Load(path, discardLogger())
	if err != nil {
		fmt.Fprintf(stderr, "run retry: %v\n", err)
		return exitTrouble
	}
	code := exitOK
	for _, name := range names {
		var done []string
		for _, arch := range slices.Sorted(maps.Keys(st.Arches)) {
			if len(arches) > 0 && !slices.Contains(arches, arch) {
				continue
			}
			e := st.Arches[arch].Aports[name]
			if _, failed := st.Failures(arch, name); e == nil || !failed {
				continue
			}
			e.Retry = true
			done = append(done, arch)
		}
		if len(done) == 0 {
			fmt.Fprintf(stderr, "run retry: %q has no failure to clear%s\n", name, archNote(arches))
			code = exitFailed
			continue
		}
		fmt.Fprintf(stdout, "%s: the next run builds it again on %s\n", name, strings.Join(done, ", "))
	}
	if _, err := state.Save(path, st); err != nil {
		fmt.Fprintf(stderr, "run retry: %v\n", err)
		return exitTrouble
	}
	return code
}

func archNote(arches []string) string {
	if len(arches) == 0 {
		return ""
	}
	return " on " + strings.Join(arches, ", ")
}

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
