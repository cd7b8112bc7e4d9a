package oci_test

import (
	"context"
	"fmt"
	"os"

	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/runner/executor/oci"
	"github.com/apkfarm/apkfarm/runner/image"
)

// One build: dependencies installed with network, the build without.
func Example() {
	ctx := context.Background()
	st, err := image.NewStore("/var/cache/apkfarm/images")
	if err != nil {
		fmt.Println(err)
		return
	}
	ex := oci.New(st)
	if err := oci.Sweep(ctx); err != nil { // what a killed runner left
		fmt.Println(err)
	}
	if err := ex.Check(ctx, "aarch64"); err != nil {
		fmt.Println(err) // e.g. "qemu-aarch64 binfmt handler missing ...: apt-get install qemu-user-static binfmt-support"
		return
	}
	s, err := ex.Start(ctx, executor.Spec{ID: "aarch64-hello-1.0-r0", Arch: "aarch64",
		Image: "docker.io/library/alpine:edge", Limits: executor.Limits{MemoryBytes: 4 << 30, Pids: 4096}})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	for _, req := range []executor.ExecRequest{
		{Argv: []string{"apk", "add", "build-base"}, Network: true},
		{Argv: []string{"abuild", "-r"}, Dir: "/home/build/hello", User: "1000:1000"},
	} {
		req.Stdout, req.Stderr = os.Stdout, os.Stderr
		code, err := s.Exec(ctx, req)
		if err != nil || code != 0 {
			fmt.Println(req.Argv, code, err)
			return
		}
	}
}
