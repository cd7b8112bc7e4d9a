package apkbuild

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
)

// syntheticAPKBUILD returns a realistic APKBUILD for aport number i: the
// constructs of pmaports and aports (helper variables, case "$CARCH",
// subpackages built in a loop, ${v%...}, $(echo ...), multi-line lists
// with comments, heredocs and functions, sha512sums).
func syntheticAPKBUILD(i int) string {
	var b strings.Builder
	name := fmt.Sprintf("pkg%05d", i)
	fmt.Fprintf(&b, "# Maintainer: Synthetic <synthetic@example.org>\n")
	fmt.Fprintf(&b, "pkgname=%s\n_pkgname=${pkgname#pkg}\npkgver=%d.%d.%d\npkgrel=%d\n", name, i%7+1, i%13, i%29, i%4)
	fmt.Fprintf(&b, "_commit=\"%040x\"\n", i*7919)
	fmt.Fprintf(&b, "pkgdesc=\"Synthetic package $_pkgname for the scan benchmark\"\n")
	fmt.Fprintf(&b, "url=\"https://example.org/$pkgname\"\n")
	switch i % 5 {
	case 0:
		b.WriteString("arch=\"all\"\n")
	case 1:
		b.WriteString("arch=\"noarch\"\n")
	case 2:
		b.WriteString("arch=\"all !s390x !armhf\"\n")
	case 3:
		b.WriteString("arch=\"aarch64 armv7\"\n")
	default:
		b.WriteString("arch=\"x86_64 aarch64 ppc64le\"\n")
	}
	b.WriteString("license=\"MIT AND (GPL-2.0-or-later OR Apache-2.0)\"\n")
	fmt.Fprintf(&b, "depends=\"\n\tpkg%05d\n\t# runtime helper\n\tpkg%05d>=1.0\n\t\"\n", (i+1)%15000, (i+17)%15000)
	fmt.Fprintf(&b, "makedepends=\"\n\tpkg%05d-dev\n\tpkg%05d-dev\n\tmeson\n\tninja\n\t$(echo pkg-config)\n\t\"\n", (i+3)%15000, (i+101)%15000)
	fmt.Fprintf(&b, "checkdepends=\"pkg%05d\"\n", (i+5)%15000)
	b.WriteString("case \"$CARCH\" in\n\tx86_64) _arch_opts=\"--enable-sse\" ;;\n\taarch64|armv7) makedepends=\"$makedepends linux-headers\" ;;\n\t*) options=\"$options !check\" ;;\nesac\n")
	b.WriteString("_majmin=${pkgver%.*}\n_major=${pkgver%%.*}\n_minor=${_majmin#*.}\n_dashed=${pkgver//./-}\n")
	b.WriteString("subpackages=\"$pkgname-dev $pkgname-doc\"\n")
	b.WriteString("for _sub in lib tools; do\n\tsubpackages=\"$subpackages $pkgname-$_sub:_split_$_sub\"\ndone\n")
	b.WriteString("if [ \"$CARCH\" = \"x86_64\" ]; then\n\tsubpackages=\"$subpackages $pkgname-openrc\"\nfi\n")
	b.WriteString("source=\"https://example.org/$pkgname/archive/$_commit/$pkgname-$_commit.tar.gz\n\t$pkgname.initd\n\tfix-build-$_major.patch\n\t\"\n")
	b.WriteString("builddir=\"$srcdir/$pkgname-$_commit\"\n")
	b.WriteString("\nbuild() {\n\tlocal _flags=\"$_arch_opts\"\n\tabuild-meson \\\n\t\t-Db_lto=true \\\n\t\t$_flags \\\n\t\t. output\n\tmeson compile -C output\n}\n")
	b.WriteString("\ncheck() {\n\tmeson test --no-rebuild --print-errorlogs -C output\n}\n")
	b.WriteString("\npackage() {\n\tDESTDIR=\"$pkgdir\" meson install --no-rebuild -C output\n\tcat > \"$pkgdir\"/etc/conf <<EOF\npkgname=not-top-level\nEOF\n}\n")
	b.WriteString("\n_split_lib() {\n\tpkgdesc=\"$pkgdesc (library)\"\n\tdepends=\"\"\n\tamove usr/lib/lib*.so.*\n}\n")
	b.WriteString("\n_split_tools() {\n\tpkgdesc=\"$pkgdesc (tools)\"\n\tdepends=\"$pkgname-lib=$pkgver-r$pkgrel\"\n\tamove usr/bin\n}\n")
	b.WriteString("\nsha512sums=\"\n")
	for j := 0; j < 3; j++ {
		fmt.Fprintf(&b, "%0128x  file%d\n", i*31+j, j)
	}
	b.WriteString("\"\n")
	return b.String()
}

var (
	treeOnce sync.Once
	treeDir  string
	treeErr  error
)

// syntheticTree writes 15,000 synthetic aports (Alpine's aports has about
// as many) once per test binary, under main/, community/ and testing/.
// With $APKFARM_BENCH_TREE it uses that directory, writing the tree there
// first if it holds none, and keeps it (to measure `run parse` on it, peak
// memory with /usr/bin/time -v).
func syntheticTree(b *testing.B) string {
	treeOnce.Do(func() {
		if d := os.Getenv("APKFARM_BENCH_TREE"); d != "" {
			treeDir = d
			if _, err := os.Stat(filepath.Join(d, "main", "pkg00000", "APKBUILD")); err == nil {
				return
			}
		} else if treeDir, treeErr = os.MkdirTemp("", "apkfarm-bench-tree-"); treeErr != nil {
			return
		}
		treeErr = writeSyntheticTree(treeDir)
	})
	if treeErr != nil {
		b.Fatal(treeErr)
	}
	return treeDir
}

func writeSyntheticTree(root string) error {
	repos := []string{"main", "community", "testing"}
	for i := 0; i < 15000; i++ {
		dir := filepath.Join(root, repos[i%3], fmt.Sprintf("pkg%05d", i))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(dir, "APKBUILD"), []byte(syntheticAPKBUILD(i)), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func TestMain(m *testing.M) {
	code := m.Run()
	if treeDir != "" {
		os.RemoveAll(treeDir)
	}
	os.Exit(code)
}

func reportPeakRSS(b *testing.B) {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) == nil {
		b.ReportMetric(float64(ru.Maxrss)/1024, "peak-RSS-MB")
	}
}

// cpuTime returns the CPU time (user and system) of the process so far.
func cpuTime() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

// cpuStart is the process's CPU time and collections so far.
type cpuStart struct {
	cpu float64
	gcs uint32
}

func startCPU() cpuStart {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return cpuStart{cpuTime(), ms.NumGC}
}

// reportCPU reports the process's CPU time and garbage collections per
// iteration since start: on a machine shared with other work, CPU time is
// a steadier figure than wall time.
func reportCPU(b *testing.B, start cpuStart) {
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric((cpuTime()-start.cpu)/float64(b.N), "CPU-s/op")
	b.ReportMetric(float64(ms.NumGC-start.gcs)/float64(b.N), "GCs/op")
}

// BenchmarkScanCold evaluates the whole synthetic tree for one arch with
// an empty cache (results are written to it).
func BenchmarkScanCold(b *testing.B) {
	root := syntheticTree(b)
	for b.Loop() {
		b.StopTimer()
		cache := b.TempDir()
		b.StartTimer()
		res, err := Scan(context.Background(), root, ScanOptions{Arches: []string{"x86_64"}, CacheDir: cache})
		if err != nil {
			b.Fatal(err)
		}
		if res.Evaluated != 15000 || len(res.Errors()) != 0 {
			b.Fatalf("evaluated %d, %d errors", res.Evaluated, len(res.Errors()))
		}
	}
	reportPeakRSS(b)
}

// BenchmarkScanColdNoCache is BenchmarkScanCold without a cache directory.
func BenchmarkScanColdNoCache(b *testing.B) {
	root := syntheticTree(b)
	start := startCPU()
	for b.Loop() {
		res, err := Scan(context.Background(), root, ScanOptions{Arches: []string{"x86_64"}})
		if err != nil {
			b.Fatal(err)
		}
		if res.Evaluated != 15000 {
			b.Fatalf("evaluated %d", res.Evaluated)
		}
	}
	reportCPU(b, start)
	reportPeakRSS(b)
}

// BenchmarkScanWarm scans the synthetic tree again with nothing changed:
// every result comes from the cache.
func BenchmarkScanWarm(b *testing.B) {
	root := syntheticTree(b)
	cache := os.Getenv("APKFARM_BENCH_CACHE") // filled by an earlier run
	if cache == "" {
		cache = b.TempDir()
		if _, err := Scan(context.Background(), root, ScanOptions{Arches: []string{"x86_64"}, CacheDir: cache}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for b.Loop() {
		res, err := Scan(context.Background(), root, ScanOptions{Arches: []string{"x86_64"}, CacheDir: cache})
		if err != nil {
			b.Fatal(err)
		}
		if res.Cached != 15000 {
			b.Fatalf("cached %d", res.Cached)
		}
	}
	reportPeakRSS(b)
}

// BenchmarkParse and BenchmarkEval split the cost of one aport.
func BenchmarkParse(b *testing.B) {
	src := []byte(syntheticAPKBUILD(42))
	for b.Loop() {
		if _, err := Parse("main/pkg00042", src); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	f, err := Parse("main/pkg00042", []byte(syntheticAPKBUILD(42)))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if a := f.Eval(context.Background(), "x86_64"); a.Error != "" {
			b.Fatal(a.Error)
		}
	}
}
