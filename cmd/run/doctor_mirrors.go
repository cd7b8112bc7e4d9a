package main

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/apkfarm/apkfarm/runner/config"
	"github.com/apkfarm/apkfarm/runner/mirror"
)

// doctorMirrors checks every configured mirror at once (mirror.Check:
// reachable, writable, for ssh a host key in known_hosts, the check_url
// answering) and prints a line for each, in the configuration's order. It
// returns false when one is not ready.
func doctorMirrors(ctx context.Context, w io.Writer, ms []config.Mirror) bool {
	const what = "mirrors"
	if len(ms) == 0 {
		fmt.Fprintf(w, "%-11s %s none configured ([[mirrors]] in the configuration)\n", what, good)
		return true
	}
	errs := make([]error, len(ms))
	urls := make([]string, len(ms))
	var wg sync.WaitGroup
	for i, m := range ms {
		t, err := mirror.NewTarget(m)
		if err != nil {
			errs[i], urls[i] = err, m.URL
			continue
		}
		urls[i] = t.URL.String()
		wg.Go(func() { errs[i] = mirror.Check(ctx, t) })
	}
	wg.Wait()
	ok := true
	for i, m := range ms {
		label := ""
		if i == 0 {
			label = what
		}
		if errs[i] != nil {
			ok = false
			fmt.Fprintf(w, "%-11s %s %s (%s): %v\n", label, bad, m.Name, urls[i], errs[i])
			continue
		}
		fmt.Fprintf(w, "%-11s %s %s (%s): reachable and writable\n", label, good, m.Name, urls[i])
	}
	return ok
}
