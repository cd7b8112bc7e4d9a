package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/config"
)

// checkPublish prints what publishing needs of this host, from the
// configuration: the signer (its keys readable, or its command answering
// the hello), the repository and state directories writable, and the
// published keys readable. It returns false when something is missing.
func checkPublish(ctx context.Context, w io.Writer, cfg *config.Config) bool {
	ok := true
	line := func(what string, good bool, format string, args ...any) {
		fmt.Fprintf(w, "%-11s %s %s\n", what, mark(good), fmt.Sprintf(format, args...))
		ok = ok && good
	}
	if err := cfg.CheckPublish(); err != nil {
		line("publish", false, "%v", err)
		return false
	}
	s, err := openSigner(ctx, cfg, discardLogger())
	if err != nil {
		line("signer", false, "%v", err)
	} else {
		var names []string
		for _, k := range s.PublicKeys() {
			names = append(names, k.Name)
		}
		s.Close()
		line("signer", true, "%s backend signs with %s", cfg.Signer.Backend, strings.Join(names, ", "))
	}
	if kr, err := apk.LoadKeyring(cfg.Publish.Keys); err != nil {
		line("keys", false, "publish.keys: %v", err)
	} else {
		line("keys", true, "publish.keys trusts %s", strings.Join(kr.Names(), ", "))
	}
	for _, d := range []struct{ key, dir string }{{"publish.dir", cfg.Publish.Dir}, {"state.dir", cfg.State.Dir}} {
		if err := writable(d.dir); err != nil {
			line("dirs", false, "%s %s: %v", d.key, d.dir, err)
		} else {
			line("dirs", true, "%s %s is writable", d.key, d.dir)
		}
	}
	return ok
}

// writable makes dir if needed and writes and removes a file in it.
func writable(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	f, err := os.CreateTemp(dir, ".apkfarm-doctor-*")
	if err != nil {
		return err
	}
	f.Close()
	return os.Remove(filepath.Join(dir, filepath.Base(f.Name())))
}
