package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/apkbuild"
	"github.com/apkfarm/apkfarm/runner/published"
	"github.com/apkfarm/apkfarm/runner/published/publishedtest"
)

// benchWorld writes a tree of n aports and, for three arches, a signed
// published index that has every aport up to date (about 20,000 records
// with so:/cmd: provides) and an upstream index of 20,000 records.
func benchWorld(b *testing.B, n int) string {
	dir := b.TempDir()
	signer, keys := publishedtest.Signer(b)
	arches := []string{"x86_64", "aarch64", "armv7"}
	pub := map[string][]*apk.Package{}
	for i := range n {
		name := fmt.Sprintf("p%05d", i)
		var deps []string
		for k := 1; k <= 4 && i >= k; k++ {
			deps = append(deps, fmt.Sprintf("p%05d", (i*7+k)%i))
		}
		subs := ""
		if i%3 == 0 {
			subs = "$pkgname-dev"
		}
		apkbuild := fmt.Sprintf("pkgname=%s\npkgver=1.0\npkgrel=0\npkgdesc=\"benchmark aport\"\nurl=\"https://example.org\"\n"+
			"arch=\"all\"\nlicense=\"MIT\"\nmakedepends=\"%s u%05d\"\nsubpackages=\"%s\"\nsource=\"\"\n",
			name, strings.Join(deps, " "), i, subs)
		d := filepath.Join(dir, "tree", "main", name)
		if err := os.MkdirAll(d, 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(d, "APKBUILD"), []byte(apkbuild), 0o644); err != nil {
			b.Fatal(err)
		}
		for _, arch := range arches {
			pub[arch] = append(pub[arch], pkg(name+"=1.0-r0", arch, name, "so:lib"+name+".so.1=1", "cmd:"+name+"=1.0-r0"))
			if subs != "" {
				pub[arch] = append(pub[arch], pkg(name+"-dev=1.0-r0", arch, name, "pc:"+name+"=1.0"))
			}
		}
	}
	var up []*apk.Package
	for i := range 20000 {
		up = append(up, pkg(fmt.Sprintf("u%05d=1-r0", i), "x86_64", "", fmt.Sprintf("so:libu%05d.so.1=1", i)))
	}
	for _, arch := range arches {
		publishedtest.WriteIndex(b, filepath.Join(dir, "repo", arch, "APKINDEX.tar.gz"), signer, pub[arch]...)
		publishedtest.WriteIndex(b, filepath.Join(dir, "upstream", arch, "APKINDEX.tar.gz"), nil, up...)
	}
	cfg := fmt.Sprintf("arches = [%q, %q, %q]\n[source]\npath = %q\n[publish]\ndir = %q\nkeys = %q\n"+
		"[upstream]\nindexes = [%q]\n[state]\ndir = %q\n", arches[0], arches[1], arches[2],
		filepath.Join(dir, "tree"), filepath.Join(dir, "repo"), keys,
		filepath.Join(dir, "upstream", "{arch}", "APKINDEX.tar.gz"), filepath.Join(dir, "state"))
	path := filepath.Join(dir, "apkfarm.toml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	return path
}

// BenchmarkDryRunUnchanged is a whole `run --dry-run --json` over 15,000
// aports × 3 arches when nothing changed, with the APKBUILD cache warm
// ("whole"), and its parts: reading the tree from the cache, loading and
// verifying the six indexes, and the plan.
func BenchmarkDryRunUnchanged(b *testing.B) {
	configPath := benchWorld(b, 15000)
	args := []string{"--dry-run", "--json", "--config", configPath}
	if code := cmdRun(context.Background(), args, io.Discard, os.Stderr); code != exitOK { // warms the cache
		b.Fatalf("exit %d", code)
	}
	cfg, err := loadConfig(configPath)
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	b.Run("whole", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if code := cmdRun(context.Background(), args, io.Discard, os.Stderr); code != exitOK {
				b.Fatalf("exit %d", code)
			}
		}
	})
	b.Run("scan-cached", func(b *testing.B) {
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			if _, err := apkbuild.Scan(context.Background(), cfg.Source.Path, apkbuild.ScanOptions{Arches: cfg.Arches,
				CacheDir: filepath.Join(cfg.State.Dir, "cache", "apkbuild"), Logger: logger}); err != nil {
				b.Fatal(err)
			}
		}
	})
	keys, err := apk.LoadKeyring(cfg.Publish.Keys)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("indexes", func(b *testing.B) {
		b.ReportAllocs()
		f := &published.Fetcher{}
		defer reportCPU(b)()
		for b.Loop() {
			for _, arch := range cfg.Arches {
				if _, _, err := loadIndexes(context.Background(), cfg, f, arch, keys, nil); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// reportCPU reports the process's CPU time (user + system) per operation,
// a figure that other load on the machine disturbs less than wall time:
// call it before the loop and the function it returns after.
func reportCPU(b *testing.B) func() {
	cpu := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			b.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	start := cpu()
	return func() {
		b.ReportMetric(float64((cpu()-start).Milliseconds())/float64(b.N), "cpu-ms/op")
	}
}
