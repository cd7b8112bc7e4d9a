package builder_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/builder"
	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/runner/executor/fake"
	"github.com/apkfarm/apkfarm/state"
)

// Run builds jobs with an executor (here the in-process fake, whose
// handler plays a build writing its package into $REPODEST), and the result
// is recorded into the state.
func ExampleRun() {
	tmp, _ := os.MkdirTemp("", "example-")
	defer os.RemoveAll(tmp)
	aport := filepath.Join(tmp, "aports", "main", "hello")
	os.MkdirAll(aport, 0o755)
	os.WriteFile(filepath.Join(aport, "APKBUILD"), []byte("pkgname=hello\n"), 0o644)

	ex := fake.New(fake.WithHandler(func(ctx context.Context, root string, req executor.ExecRequest) (int, error) {
		if req.Argv[2] != "make-packages" {
			return 0, nil // prepare
		}
		b, err := apk.MarshalPackage(&apk.PackageSpec{Info: apk.PkgInfo{Name: "hello", Version: "1.0-r0", Arch: "x86_64"}})
		if err != nil {
			return -1, err
		}
		dir := filepath.Join(root, "home/build/packages/main/x86_64")
		os.MkdirAll(dir, 0o755)
		return 0, os.WriteFile(filepath.Join(dir, "hello-1.0-r0.apk"), b, 0o644)
	}))
	jobs := []builder.Job{{Arch: "x86_64", Pkgname: "hello", Version: "1.0-r0", Dir: aport, Packages: []string{"hello"}}}
	opts := builder.Options{
		Image:          "docker.io/library/alpine:edge",
		StateDir:       filepath.Join(tmp, "state"),
		PrepareCommand: "true",
		BuildCommand:   "make-packages",
		NativeArches:   []string{"x86_64"},
	}
	res, err := builder.Run(context.Background(), jobs, opts, ex, nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	st := state.New()
	res.Record(st)
	o := res.Outcomes[0]
	fmt.Println(o.Status, o.Packages, o.Attempt.Log)
	fmt.Println(st.Aport("x86_64", "hello").Status)
	// Output:
	// built [staging/x86_64/hello-1.0-r0.apk] logs/x86_64/hello/1.0-r0-1.log.gz
	// built
}
