package depcheck

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/apkfarm/apkfarm/"

// goList runs `go list` with a template over one package.
func goList(t *testing.T, tmpl, pkg string, deps bool) []string {
	t.Helper()
	args := []string{"list", "-f", tmpl}
	if deps {
		args = append(args, "-deps")
	}
	out, err := exec.Command("go", append(args, module+pkg)...).CombinedOutput()
	if err != nil {
		t.Fatalf("go list %s: %v\n%s", pkg, err, out)
	}
	return strings.Fields(string(out))
}

// TestApkDependsOnStdlibAndCompressOnly: runner/apk is the base every other
// part and outside tools build on, so it may pull in nothing but the
// standard library and compression.
func TestApkDependsOnStdlibAndCompressOnly(t *testing.T) {
	for _, dep := range goList(t, "{{if not .Standard}}{{.ImportPath}}{{end}}", "runner/apk", true) {
		if dep == module+"runner/apk" || strings.HasPrefix(dep, "github.com/klauspost/compress/") {
			continue
		}
		t.Errorf("runner/apk depends on %s: only the standard library and klauspost/compress are allowed", dep)
	}
}

// TestPlanDoesNoIO: the planner decides; loading, fetching and running
// belong to other packages, so its own imports name no I/O package.
func TestPlanDoesNoIO(t *testing.T) {
	forbidden := map[string]bool{"os": true, "os/exec": true, "net": true, "net/http": true,
		"io/ioutil": true, "path/filepath": true, "log": true, "syscall": true}
	imports := goList(t, "{{range .Imports}}{{.}} {{end}}", "runner/plan", false)
	if len(imports) == 0 {
		t.Fatal("go list printed no imports for runner/plan")
	}
	for _, imp := range imports {
		if forbidden[imp] {
			t.Errorf("runner/plan imports %s: the planner must stay pure (inputs in, plan out)", imp)
		}
	}
}

// TestMirrorKnowsOnlyTheRepository: runner/mirror copies a finished
// repository directory and knows nothing of how it was made, so of this
// module it imports only the formats (to check indexes), the
// configuration, the state schema and the file reader.
func TestMirrorKnowsOnlyTheRepository(t *testing.T) {
	allowed := map[string]bool{"runner/apk": true, "runner/config": true, "state": true, "internal/safefile": true}
	imports := goList(t, "{{range .Imports}}{{.}} {{end}}", "runner/mirror", false)
	if len(imports) == 0 {
		t.Fatal("go list printed no imports for runner/mirror")
	}
	for _, imp := range imports {
		if rel, ours := strings.CutPrefix(imp, module); ours && !allowed[rel] {
			t.Errorf("runner/mirror imports %s: it may know the repository's formats, not how it was made", imp)
		}
	}
}
