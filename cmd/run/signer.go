package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/signer"
)

// cmdSigner implements `run signer --key FILE [--key FILE] [--type T]
// [--log FILE] [--max-bytes N]`: the trusted side of the signing protocol
// (docs/signer.md) on stdin and stdout, for signer.backend = "command"
// (typically started over ssh on the host that holds the key). It signs
// only packages' control members and unsigned indexes, and logs each
// signature to --log as a JSON line. Exit 0 when stdin ends, 2 on a
// protocol error or a key that cannot be read.
func cmdSigner(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("signer", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var keys listFlag
	fs.Var(&keys, "key", "private key file to sign with (repeat for a key rotation: one signature per key)")
	typ := fs.String("type", string(apk.DefaultAlgorithm), "signature type: RSA256, RSA or RSA512")
	logPath := fs.String("log", "", "append a JSON line per signature (and per refusal) to this file")
	maxBytes := fs.Int64("max-bytes", signer.DefaultMaxBytes, "refuse requests larger than this")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: run signer --key FILE [--key FILE] [--type RSA256|RSA|RSA512] [--log FILE] [--max-bytes N]")
		fmt.Fprintln(stderr, "Speaks the signing protocol (docs/signer.md) on stdin and stdout.")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); errors.Is(err, flag.ErrHelp) {
		return exitOK
	} else if err != nil {
		return exitTrouble
	}
	if len(keys) == 0 || fs.NArg() > 0 {
		fs.Usage()
		return exitTrouble
	}
	k, err := signer.LoadKeys(keys, apk.Algorithm(*typ))
	if err != nil {
		fmt.Fprintf(stderr, "run signer: %v\n", err)
		return exitTrouble
	}
	opts := signer.ServeOptions{MaxBytes: *maxBytes}
	if *logPath != "" {
		f, err := os.OpenFile(*logPath, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
		if err != nil {
			fmt.Fprintf(stderr, "run signer: open log: %v\n", err)
			return exitTrouble
		}
		defer f.Close()
		opts.Log = f
	}
	if err := signer.Serve(stdin, stdout, k, opts); err != nil {
		fmt.Fprintf(stderr, "run signer: %v\n", err)
		return exitTrouble
	}
	return exitOK
}
