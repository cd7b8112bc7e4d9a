// Command run is apkfarm's build runner. Without a subcommand it performs one
// run: today plan and build (--no-publish) or plan only (--dry-run); signing
// and publishing are to come. The subcommands are admin tools.
//
// Exit codes: 0 success; 1 the work ran but something in it failed (a bad
// package, a failed build); 2 the command could not work (usage, config,
// infrastructure).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes, documented in README.md.
const (
	exitOK      = 0
	exitFailed  = 1
	exitTrouble = 2
)

// command is one subcommand: its one-line help and its entry point. Each
// entry point parses its own flags and returns an exit code, so tests call
// it in-process.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() map[string]command {
	return map[string]command{
		"keygen":  {"write an abuild-style RSA key pair", cmdKeygen},
		"sign":    {"sign .apk packages in place", cmdSign},
		"index":   {"write a signed APKINDEX.tar.gz for packages", cmdIndex},
		"verify":  {"verify signatures of packages and indexes", cmdVerify},
		"parse":   {"evaluate APKBUILDs per arch and print what they declare", cmdParse},
		"doctor":  {"print what this host can do for builds (runtime, namespaces, cgroups, binfmt)", cmdDoctor},
		"status":  {"print the state: counts per arch, what fails, or one aport's rows", cmdStatus},
		"retry":   {"clear the failure memory of aports, so that the next run builds them again", cmdRetry},
		"channel": {"remove a staging channel's repository and state: run channel rm NAME", cmdChannel},
		"signer": {"sign packages and indexes for a runner, over stdin and stdout (docs/signer.md)",
			func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
				return cmdSigner(ctx, args, os.Stdin, stdout, stderr)
			}},
	}
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := runMain(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func runMain(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "help", "-h", "--help":
			usage(stdout)
			return exitOK
		}
		if c, ok := commands()[args[0]]; ok {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	return cmdRun(ctx, args, stdout, stderr)
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: run [flags]            one build run (see run --help)")
	for _, name := range []string{"keygen", "sign", "index", "verify", "parse", "doctor", "status", "retry", "channel", "signer"} {
		fmt.Fprintf(w, "       run %-8s ...      %s\n", name, commands()[name].summary)
	}
}
