package depcheck

import (
	"strings"
	"testing"
)

// TestTriggerKnowsNoRun: runner/trigger decides when runs happen and
// knows nothing of what a run does: of this module it may import only the
// state schema (the run record /healthz reads) and internal/safefile (the
// token file); outside it, only the cron parser (and golang.org/x/sys,
// which safefile uses).
func TestTriggerKnowsNoRun(t *testing.T) {
	allowed := map[string]bool{
		module + "runner/trigger": true, module + "state": true, module + "internal/safefile": true,
		"github.com/robfig/cron/v3": true,
	}
	deps := goList(t, "{{if not .Standard}}{{.ImportPath}}{{end}}", "runner/trigger", true)
	if len(deps) == 0 {
		t.Fatal("go list printed no dependencies for runner/trigger")
	}
	for _, dep := range deps {
		if !allowed[dep] && !strings.HasPrefix(dep, "golang.org/x/sys/") {
			t.Errorf("runner/trigger depends on %s: it may know the state schema, the token file and cron, nothing of what a run does", dep)
		}
	}
}
