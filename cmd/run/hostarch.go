package main

import (
	"fmt"
	"io"

	"github.com/apkfarm/apkfarm/runner/executor/oci"
	"github.com/apkfarm/apkfarm/runner/plan"
)

// archCheck says why this host cannot run an arch's programs, with the
// command that fixes it (nil when it can). Tests replace it.
var archCheck = oci.CheckBinfmt

// warnUnrunnable tells, at plan time, of every arch with builds planned
// that this host cannot run (no qemu handler, a disabled one, ...), naming
// the fix, rather than letting each of its builds fail later. It returns
// those arches and their reasons.
func warnUnrunnable(w io.Writer, p *plan.Plan) map[string]error {
	out := map[string]error{}
	for _, ap := range p.Arches {
		if ap.Error != "" || len(ap.Builds) == 0 {
			continue
		}
		if err := archCheck(ap.Arch); err != nil {
			out[ap.Arch] = err
			fmt.Fprintf(w, "run: %s: %d builds planned, but this host cannot run them: %v (see `run doctor`)\n", ap.Arch, len(ap.Builds), err)
		}
	}
	return out
}
