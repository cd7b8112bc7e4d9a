package oci

import (
	"context"
	"os/exec"
	"testing"

	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/runner/image/imagetest"
)

// BenchmarkSessionOverhead is the sandbox's cost per build on a cached
// image: Start, Exec(true) without network, Exec(true) with it, Close.
// Compare with BenchmarkHostTrue (two plain /bin/true runs).
func BenchmarkSessionOverhead(b *testing.B) {
	for _, r := range testRuntimes {
		b.Run(r.name, func(b *testing.B) { benchmarkSessionOverhead(b, requireRuntime(b, r.name, r.install, "x86_64")) })
	}
}

func benchmarkSessionOverhead(b *testing.B, rt testRuntime) {
	reg := imagetest.NewRegistry(b)
	refs := map[string]string{
		"rootfs-tarball": imagetest.AlpineRef(b, "x86_64"),
		"registry":       reg.Push(b, imagetest.AlpineImage(b, "x86_64"), "alpine:bench"),
	}
	for _, name := range []string{"rootfs-tarball", "registry"} {
		b.Run(name, func(b *testing.B) {
			ref := refs[name]
			e := newTestExecutor(b, rt)
			ctx := context.Background()
			spec := executor.Spec{ID: "bench", Arch: "x86_64", Image: ref}
			s, err := e.Start(ctx, spec) // warm the cache: pull and unpack
			if err != nil {
				b.Fatal(err)
			}
			s.Close()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				s, err := e.Start(ctx, spec)
				if err != nil {
					b.Fatal(err)
				}
				for _, network := range []bool{false, true} {
					if code, err := s.Exec(ctx, executor.ExecRequest{Argv: []string{"true"}, Network: network}); err != nil || code != 0 {
						b.Fatalf("exec true: %d %v", code, err)
					}
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHostTrue is the baseline: two /bin/true runs on the host.
func BenchmarkHostTrue(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for range 2 {
			if err := exec.Command("/bin/true").Run(); err != nil {
				b.Fatal(err)
			}
		}
	}
}
