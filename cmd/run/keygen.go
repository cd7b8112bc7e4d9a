package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/apkfarm/apkfarm/runner/apk"
)

// cmdKeygen implements `run keygen --dir DIR [--name NAME] [--bits N]`: it
// writes an abuild-style key pair, DIR/NAME-<hex time>.rsa (mode 0600) and
// DIR/NAME-<hex time>.rsa.pub (0644), and prints the private then the
// public path, one per line. NAME defaults as abuild-keygen's does: the
// e-mail address in $PACKAGER ("Jane Doe <jane@example.org>"), and
// "apkfarm" when there is none (a build farm has no git identity or user
// worth naming a key after). Exit 2 on usage errors or when the keys
// cannot be written.
func cmdKeygen(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run keygen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	dir := fs.String("dir", "", "directory to write the key pair into (created if missing)")
	name := fs.String("name", "", "key name before the -<hex time> suffix (default: the e-mail in $PACKAGER, else \"apkfarm\")")
	bits := fs.Int("bits", apk.DefaultKeyBits, "RSA key size in bits")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: run keygen --dir DIR [--name NAME] [--bits N]")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *dir == "" || fs.NArg() != 0 {
		fs.Usage()
		return exitTrouble
	}
	if *name == "" {
		*name = defaultKeyName(os.Getenv("PACKAGER"))
	}
	k, err := apk.GenerateKey(*bits)
	if err != nil {
		fmt.Fprintf(stderr, "run keygen: %v\n", err)
		return exitTrouble
	}
	if err := os.MkdirAll(*dir, 0o700); err != nil {
		fmt.Fprintf(stderr, "run keygen: %v\n", err)
		return exitTrouble
	}
	priv, pub, err := apk.WriteKeyPair(*dir, apk.KeyBaseName(*name, time.Now()), k)
	if err != nil {
		fmt.Fprintf(stderr, "run keygen: %v\n", err)
		return exitTrouble
	}
	fmt.Fprintln(stdout, priv)
	fmt.Fprintln(stdout, pub)
	return exitOK
}

// defaultKeyName returns the e-mail address in a PACKAGER value ("Name
// <addr>" or a bare address), or "apkfarm".
func defaultKeyName(packager string) string {
	addr := packager
	if i := strings.LastIndexByte(addr, '<'); i >= 0 {
		addr = addr[i+1:]
	}
	addr, _, _ = strings.Cut(addr, ">")
	addr = strings.TrimSpace(addr)
	if !strings.Contains(addr, "@") || strings.ContainsAny(addr, "/ \t") {
		return "apkfarm"
	}
	return addr
}

// parseFlags parses args; when it returns ok=false the command returns
// code: exitOK for -h (usage was printed), exitTrouble for a bad flag.
func parseFlags(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitTrouble, false
	}
	return 0, true
}
