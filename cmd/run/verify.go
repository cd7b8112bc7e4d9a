package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/runner/apk"
)

// cmdVerify implements `run verify --keys-dir DIR FILE...`: it checks the
// signature (and, for packages, the data hash and layout) of each package
// or index against the public keys in DIR. For each bad file it prints one
// line on stdout, "FILE: what failed" (no signature, signed by unknown key
// ..., signature does not match, data hash mismatch, or how the file is
// damaged). Exit 0 when every file is good, 1 when any is bad, 2 on usage
// errors or an unreadable keys directory.
func cmdVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run verify", flag.ContinueOnError)
	fs.SetOutput(stderr)
	keysDir := fs.String("keys-dir", "", "directory of trusted public keys, as for apk --keys-dir")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: run verify --keys-dir DIR FILE...")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *keysDir == "" || fs.NArg() == 0 {
		fs.Usage()
		return exitTrouble
	}
	k, err := apk.LoadKeyring(*keysDir)
	if err != nil {
		fmt.Fprintf(stderr, "run verify: %v\n", err)
		return exitTrouble
	}
	code := exitOK
	for _, path := range fs.Args() {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "run verify: %v\n", ctx.Err())
			return exitTrouble
		}
		err := verifyFile(k, path)
		if err == nil {
			continue
		}
		var ve *apk.VerifyError
		if errors.As(err, &ve) {
			err = ve.Err
		}
		fmt.Fprintf(stdout, "%s: %s\n", path, strings.ReplaceAll(err.Error(), "\n", " "))
		code = exitFailed
	}
	return code
}

// verifyFile verifies the package or index at path as a stream: nothing
// large is inflated before its signature holds.
func verifyFile(k *apk.Keyring, path string) error {
	f, err := safefile.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	return k.VerifyAt(f, fi.Size(), path, apk.Limits{})
}
