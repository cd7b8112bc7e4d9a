package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"

	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/repo"
	"github.com/apkfarm/apkfarm/runner/signer"
)

// cmdIndex implements `run index --key PRIV.rsa --out FILE [--description
// TEXT] [--rewrite-arch ARCH] [--type RSA256] PKG.apk...`: it writes a
// signed APKINDEX.tar.gz of the packages, atomically. --rewrite-arch sets
// the A: field of every record, as apk index --rewrite-arch does. Each
// package is read as a stream with capped inflation, and indexed once: a
// file named twice, or a copy of one, gives one record; two different
// files of one name and version are an error. Exit 1
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
	seen := map[string]string{}     // control checksum -> file
	versions := map[string]string{} // "name version" -> file
	var files []os.FileInfo
	for _, path := range fs.Args() {
		if ctx.Err() != nil {
			fmt.Fprintf(stderr, "run index: %v\n", ctx.Err())
			return exitTrouble
		}
		pf, fi, err := readPackage(path)
		if err != nil {
			fmt.Fprintf(stderr, "run index: %v\n", err)
			failed = true
			continue
		}
		// One record per package: a file named twice (or through a
		// link), or a copy of one, is indexed once.
		if slices.ContainsFunc(files, func(o os.FileInfo) bool { return os.SameFile(o, fi) }) {
			continue
		}
		files = append(files, fi)
		if prev, dup := seen[pf.Checksum()]; dup {
			fmt.Fprintf(stderr, "run index: %s is the same package as %s; indexed once\n", path, prev)
			continue
		}
		seen[pf.Checksum()] = path
		key := pf.Info.Name + " " + pf.Info.Version
		if prev, dup := versions[key]; dup {
			fmt.Fprintf(stderr, "run index: %s and %s are different files of %s: index one\n", prev, path, key)
			failed = true
			continue
		}
		versions[key] = path
		p := pf.IndexEntry()
		if *arch != "" {
			p.Arch = *arch
		}
		idx.Packages = append(idx.Packages, p)
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

// readPackage reads and checks the package file at path, streaming: it
// must be a regular file (a FIFO is an error, never a wait), and what it
// inflates is capped (apk.DefaultLimits).
func readPackage(path string) (*apk.PackageFile, os.FileInfo, error) {
	f, err := safefile.Open(path)
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, nil, err
	}
	pf, err := apk.ReadPackage(f, fi.Size(), path, apk.Limits{})
	return pf, fi, err
}
