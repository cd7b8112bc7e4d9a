package repo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/internal/safefile"
	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/signer"
)

// cheapSigner signs indexes with the real key and answers every package
// with one signature made up front: BenchmarkPublish measures publishing
// without the RSA work of signing (BenchmarkSign measures that).
type cheapSigner struct {
	*signer.Keys
	pkgSig []apk.Signature
}

func (c cheapSigner) Sign(ctx context.Context, kind, name string, signed []byte) ([]apk.Signature, error) {
	if kind == apk.KindPackage {
		return c.pkgSig, nil
	}
	return c.Keys.Sign(ctx, kind, name, signed)
}

// BenchmarkPublish: 1,000 new packages into a repository of 20,000
// records, signing not counted (issue goal: ≤ 1 s).
func BenchmarkPublish(b *testing.B) {
	farm, _ := testKeys(b)
	f := newFixture(b, farm)
	keys := f.opts.Signer.(*signer.Keys)
	// The published index: 20,000 records (their files need not exist).
	idx := &apk.Index{Description: "bench"}
	for i := range 20000 {
		idx.Packages = append(idx.Packages, &apk.Package{Name: fmt.Sprintf("old%05d", i), Version: "1.0-r0", Arch: "x86_64",
			Size: 1000, InstalledSize: 2000, Checksum: "Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=", Description: "a package already published",
			Origin: fmt.Sprintf("old%05d", i), BuildTime: 1764849600, License: "MIT", Depends: []string{"so:libc.musl-x86_64.so.1"}})
	}
	body, err := apk.MarshalIndexArchive(idx)
	if err != nil {
		b.Fatal(err)
	}
	isigs, _ := keys.Sign(context.Background(), apk.KindIndex, "bench", body)
	signedIdx, _ := apk.Attach(body, isigs...)
	var staged []string
	for i := range 1000 {
		staged = append(staged, f.stage("x86_64", pkg(b, fmt.Sprintf("new%04d", i), "1.0-r0", "x86_64", fmt.Sprintf("new%04d", i), ""))...)
	}
	u, _ := apk.PrepareSigning(pkg(b, "x", "1-r0", "x86_64", "x", ""), "x")
	sig, _ := keys.Sign(context.Background(), apk.KindPackage, "x", u.Signed)
	f.opts.Signer = cheapSigner{Keys: keys, pkgSig: sig}
	var cpu time.Duration
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		os.RemoveAll(f.repo.Dir)
		os.RemoveAll(f.opts.JournalDir)
		if err := safefile.Write(f.repo.IndexPath("x86_64"), signedIdx, 0o644); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		c0 := cpuTime()
		res, err := f.repo.Publish(context.Background(), []Request{{Arch: "x86_64", Packages: staged}}, f.opts)
		cpu += cpuTime() - c0
		if err != nil || res.Arches[0].Error != "" || len(res.Arches[0].Added) != 1000 {
			b.Fatalf("%v %+v", err, res.Arches[0].Error)
		}
	}
	b.StopTimer()
	ents, _ := os.ReadDir(filepath.Dir(f.repo.IndexPath("x86_64")))
	b.ReportMetric(float64(len(ents)), "files")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
}

// cpuTime is the process's user and system CPU time so far: a figure that
// holds when other work shares the machine.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSign: signing 1,000 control members with a 4096-bit key on
// every CPU, as publishing does.
func BenchmarkSign(b *testing.B) {
	k, err := apk.GenerateKey(4096)
	if err != nil {
		b.Fatal(err)
	}
	s, _ := apk.NewSigner(k, "bench.rsa.pub")
	keys := signer.NewKeys(s)
	var items []signer.Item
	for i := range 1000 {
		u, _ := apk.PrepareSigning(pkg(b, fmt.Sprintf("p%d", i), "1-r0", "x86_64", "p", ""), "p")
		items = append(items, signer.Item{Kind: apk.KindPackage, Name: "p.apk", Signed: u.Signed})
	}
	for b.Loop() {
		if _, err := signer.SignAll(context.Background(), keys, items, 0); err != nil {
			b.Fatal(err)
		}
	}
}
