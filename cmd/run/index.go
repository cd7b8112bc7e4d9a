package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/repo"
	"github.com/apkfarm/apkfarm/runner/signer"
)

// cmdIndex implements `run index --key PRIV.rsa --out FILE [--description
// TEXT] [--rewrite-arch ARCH] [--type RSA256] PKG.apk...`: it writes a
// signed APKINDEX.tar.gz of the packages, atomically. --rewrite-arch sets
// the A: field of every record, as apk index --rewrite-arch does. Exit 1
// when a package cannot be read (no index is written then: an index that
// silently lacks a package is worse than none), 2 on usage errors or an
// unreadable key.
func cmdIndex(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run index", flag.ContinueOnError)
	fs.SetOutput(stderr)
	key := fs.String("key", "", "private key to sign the index with")
	out := fs.String("out", "", "index file to write (APKINDEX.tar.gz)")
	desc := fs.String("description", "", "repository description (the DESCRIPTION entry)")
	arch := fs.String("rewrite-arch", "", "write this arch in every record instead of the package's own")
	typ := fs.String("type", string(apk.DefaultAlgorithm), "signature type: RSA256, RSA or RSA512")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: run index --key PRIV.rsa --out FILE [--description TEXT] [--rewrite-arch ARCH] PKG.apk...")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *key == "" || *out == "" || fs.NArg() == 0 {
		fs.Usage()
		return exitTrouble
	}
	s, err := signer.LoadKeys([]string{*key}, apk.Algorithm(*typ))
	if err != nil {
		fmt.Fprintf(stderr, "run index: %v\n", err)
		return exitTrouble
	}
	idx := &apk.Index{Description: *desc}
	failed := false
	for _, path := range fs.Args() {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "run index: %v\n", ctx.Err())
			return exitTrouble
		}
		b, err := os.ReadFile(path)
		if err == nil {
			var pf *apk.PackageFile
			if pf, err = apk.ReadPackageFile(b, path); err == nil {
				p := pf.IndexEntry()
				if *arch != "" {
					p.Arch = *arch
				}
				idx.Packages = append(idx.Packages, p)
			}
		}
		if err != nil {
			fmt.Fprintf(stderr, "run index: %v\n", err)
			failed = true
		}
	}
	if failed {
		fmt.Fprintf(stderr, "run index: %s not written\n", *out)
		return exitFailed
	}
	if err := repo.WriteIndex(ctx, s, *out, idx); err != nil {
		fmt.Fprintf(stderr, "run index: %v\n", err)
		return exitTrouble
	}
	return exitOK
}
