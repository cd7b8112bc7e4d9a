package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/repo"
	"github.com/apkfarm/apkfarm/runner/signer"
)

// cmdSign implements `run sign --key PRIV.rsa [--type RSA256] PKG.apk...`:
// it signs each package in place, replacing any old signature. Each file
// is replaced atomically (a temporary file beside it, then rename), so a
// failure leaves the original as it was. A package that cannot be signed
// is reported on stderr, one line each, and the others are still signed:
// exit 1. Exit 2 on usage errors or an unreadable key.
func cmdSign(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("run sign", flag.ContinueOnError)
	fs.SetOutput(stderr)
	key := fs.String("key", "", "private key (PEM, PKCS#1 or PKCS#8); the key name is its base name + \".pub\"")
	typ := fs.String("type", string(apk.DefaultAlgorithm), "signature type: RSA256 (SHA-256), RSA (SHA-1, for very old clients) or RSA512")
	jobs := fs.Int("jobs", runtime.GOMAXPROCS(0), "packages signed at once")
	fs.Usage = func() {
		fmt.Fprintln(stderr, "usage: run sign --key PRIV.rsa [--type RSA256] PKG.apk...")
		fs.PrintDefaults()
	}
	if code, ok := parseFlags(fs, args); !ok {
		return code
	}
	if *key == "" || fs.NArg() == 0 || *jobs < 1 {
		fs.Usage()
		return exitTrouble
	}
	s, err := signer.LoadKeys([]string{*key}, apk.Algorithm(*typ))
	if err != nil {
		fmt.Fprintf(stderr, "run sign: %v\n", err)
		return exitTrouble
	}
	files := fs.Args()
	errs := make([]error, len(files))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(*jobs, len(files)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = repo.SignFile(ctx, s, files[i])
			}
		}()
	}
	for i := range files {
		if ctx.Err() != nil {
			errs[i] = ctx.Err()
			continue
		}
		next <- i
	}
	close(next)
	wg.Wait()
	code := exitOK
	for _, err := range errs {
		if err != nil {
			fmt.Fprintf(stderr, "run sign: %v\n", err)
			code = exitFailed
		}
	}
	return code
}
