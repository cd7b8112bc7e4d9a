package site

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/metrics"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/state"
	"github.com/klauspost/compress/gzip"
)

// Size of the benchmark state: the 2,000 aports × 8 arches with
// 10,000 attempts, each with a log of benchLogLines lines (about 9 KiB).
const (
	benchAports   = 2000
	benchAttempts = 10000
	benchLogLines = 150
)

var benchArches = []string{"aarch64", "armhf", "armv7", "ppc64le", "riscv64", "s390x", "x86", "x86_64"}

// benchState writes a state of benchAports aports on every benchArches
// arch, benchAttempts attempts with logs, and 50 runs.
func benchState(b *testing.B) string {
	b.Helper()
	dir := b.TempDir()
	st := state.New()
	t0 := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	statuses := []string{state.UpToDate, state.UpToDate, state.UpToDate, state.Built, state.Failed, state.Blocked, state.Pending, state.Excluded}
	var line bytes.Buffer
	for i := range benchLogLines {
		fmt.Fprintf(&line, "[%02d:%02d] gcc -O2 -Wall -c src/file%d.c -o build/file%d.o -Iinclude -DNDEBUG\n", i/60, i%60, i, i)
	}
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(line.Bytes())
	zw.Close()
	logBytes := z.Bytes()
	attempts := 0
	for i := range benchAports {
		name := fmt.Sprintf("pkg%04d", i)
		for j, arch := range benchArches {
			a := st.Ensure(arch, name)
			a.Status = statuses[(i+j)%len(statuses)]
			a.Dir = "main/" + name
			a.Version = "1.0-r0"
			a.Published = "1.0-r0"
			if i > 0 {
				a.BuildDepends = []string{fmt.Sprintf("pkg%04d", i/2)}
			}
			if a.Status == state.Blocked {
				a.BlockedBy = fmt.Sprintf("pkg%04d", i/2)
			}
		}
	}
	for attempts < benchAttempts {
		for i := 0; i < benchAports && attempts < benchAttempts; i++ {
			arch := benchArches[(i+attempts)%len(benchArches)]
			name := fmt.Sprintf("pkg%04d", i)
			a := st.Aport(arch, name)
			n := len(a.Attempts) + 1
			log := fmt.Sprintf("logs/%s/%s/1.0-r0-%d.log.gz", arch, name, n)
			start := t0.Add(time.Duration(attempts) * time.Minute)
			at := state.Attempt{Version: "1.0-r0", Start: start, End: start.Add(90 * time.Second), DurationMS: 90000, Log: log}
			if a.Status == state.Failed {
				at.Class, at.ExitCode, at.ErrorLines = state.ClassBuildError, 2, []string{"[00:41] src/file41.c:3: error: expected ';'"}
			}
			a.AddAttempt(at)
			p := filepath.Join(dir, log)
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, logBytes, 0o644); err != nil {
				b.Fatal(err)
			}
			attempts++
		}
	}
	st.Generated = t0
	if _, err := state.Save(filepath.Join(dir, state.FileName), st); err != nil {
		b.Fatal(err)
	}
	for r := range 50 {
		start := t0.Add(time.Duration(r) * time.Hour)
		run := &state.Run{ID: start.Format("20060102T150405Z"), Trigger: state.Trigger{Kind: state.TriggerTimer},
			Start: start, End: start.Add(40 * time.Minute), Result: state.RunFailed, ExitCode: 1}
		for _, arch := range benchArches {
			run.Arches = append(run.Arches, state.RunArch{Arch: arch, Batches: 3})
			for k := range 25 {
				s, e := start.Add(time.Duration(k)*time.Minute), start.Add(time.Duration(k+2)*time.Minute)
				run.Builds = append(run.Builds, state.RunBuild{Arch: arch, Pkgname: fmt.Sprintf("pkg%04d", k*7), Version: "1.0-r0",
					Status: state.Built, Batch: 1 + k/10, Slot: 1 + k%2, Start: &s, End: &e})
			}
		}
		if err := state.WriteRun(dir, run); err != nil {
			b.Fatal(err)
		}
	}
	return dir
}

// peakHeap samples the live heap while f runs and returns the highest
// value seen, in MiB.
func peakHeap(f func()) float64 {
	var peak atomic.Uint64
	done := make(chan struct{})
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		s := make([]metrics.Sample, 1)
		copy(s, sample)
		for {
			select {
			case <-done:
				return
			case <-t.C:
				metrics.Read(s)
				if v := s[0].Value.Uint64(); v > peak.Load() {
					peak.Store(v)
				}
			}
		}
	}()
	f()
	close(done)
	return float64(peak.Load()) / (1 << 20)
}

// cpuTime is the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	u, s := cpuTimes()
	return u + s
}

func cpuTimes() (user, sys time.Duration) {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano()), time.Duration(ru.Stime.Nano())
}

func maxRSSMiB() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return float64(ru.Maxrss) / 1024
}

// benchOut is where the benchmarks render: $APKFARM_BENCH_OUT (to compare
// filesystems, e.g. /dev/shm), else a temporary directory.
func benchOut(b *testing.B) string {
	if d := os.Getenv("APKFARM_BENCH_OUT"); d != "" {
		out, err := os.MkdirTemp(d, "site-bench-")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(out) })
		return filepath.Join(out, "site")
	}
	return filepath.Join(b.TempDir(), "site")
}

// BenchmarkRenderFull renders the whole site into an empty directory:
// 16,000 aport entries, 10,000 log pages and their raw copies.
func BenchmarkRenderFull(b *testing.B) {
	dir := benchState(b)
	out := benchOut(b)
	var peak float64
	var cpu, sys time.Duration
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		os.RemoveAll(out)
		b.StartTimer()
		u0, s0 := cpuTimes()
		peak = max(peak, peakHeap(func() {
			st, err := Render(context.Background(), Options{StateDir: dir, Out: out, Now: time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC)})
			if err != nil || st.Logs != benchAttempts {
				b.Fatalf("%+v, %v", st, err)
			}
		}))
		u1, s1 := cpuTimes()
		cpu += u1 - u0
		sys += s1 - s0
	}
	b.ReportMetric(peak, "peak-heap-MiB")
	b.ReportMetric(maxRSSMiB(), "max-RSS-MiB")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "user-ms/op")
	b.ReportMetric(float64(sys.Milliseconds())/float64(b.N), "sys-ms/op")
}

// BenchmarkRenderOneChanged renders the site again after one package
// changed (a new attempt with its log), as `run` does after a small run.
//
// "memory": the state is passed in Options.Status, as `run` does; "disk":
// status.json is parsed, as `site` does.
func BenchmarkRenderOneChanged(b *testing.B) {
	dir := benchState(b)
	b.Run("memory", func(b *testing.B) { benchOneChanged(b, dir, true) })
	b.Run("disk", func(b *testing.B) { benchOneChanged(b, dir, false) })
}

// benchChanges numbers the changes of benchOneChanged, so that every one
// is a new version with a new log.
var benchChanges int

func benchOneChanged(b *testing.B, dir string, inMemory bool) {
	out := benchOut(b)
	opt := Options{StateDir: dir, Out: out, Now: time.Date(2026, 11, 5, 0, 0, 0, 0, time.UTC)}
	if _, err := Render(context.Background(), opt); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, state.FileName)
	raw, _ := os.ReadFile(path)
	st, err := state.Unmarshal(raw)
	if err != nil {
		b.Fatal(err)
	}
	logSrc, err := os.ReadFile(filepath.Join(dir, st.Aport("aarch64", "pkg0000").Attempts[0].Log))
	if err != nil {
		b.Fatal(err)
	}
	var peak float64
	var cpu time.Duration
	b.ResetTimer()
	for b.Loop() {
		b.StopTimer()
		benchChanges++
		n := benchChanges
		a := st.Aport("x86_64", "pkg0100")
		start := time.Date(2026, 11, 20, 0, 0, 0, 0, time.UTC).Add(time.Duration(n) * time.Minute)
		log := fmt.Sprintf("logs/x86_64/pkg0100/1.%d-r0-1.log.gz", n)
		os.MkdirAll(filepath.Join(dir, filepath.Dir(log)), 0o755)
		os.WriteFile(filepath.Join(dir, log), logSrc, 0o644)
		a.Version = fmt.Sprintf("1.%d-r0", n)
		a.Status = state.Failed
		a.AddAttempt(state.Attempt{Version: a.Version, Start: start, End: start.Add(time.Minute), DurationMS: 60000,
			Class: state.ClassBuildError, ExitCode: 1, Log: log})
		st.Generated = start
		if _, err := state.Save(path, st); err != nil {
			b.Fatal(err)
		}
		if inMemory {
			opt.Status = st
		}
		b.StartTimer()
		c0 := cpuTime()
		peak = max(peak, peakHeap(func() {
			rs, err := Render(context.Background(), opt)
			if err != nil || rs.Logs != 1 {
				b.Fatalf("%+v, %v", rs, err)
			}
		}))
		cpu += cpuTime() - c0
	}
	b.ReportMetric(peak, "peak-heap-MiB")
	b.ReportMetric(float64(cpu.Milliseconds())/float64(b.N), "cpu-ms/op")
}

// BenchmarkRenderLog is the CPU cost of one log page's body (150 lines),
// without any file I/O.
func BenchmarkRenderLog(b *testing.B) {
	var in bytes.Buffer
	for i := range benchLogLines {
		fmt.Fprintf(&in, "[%02d:%02d] gcc -O2 -Wall -c src/file%d.c -o build/file%d.o -Iinclude -DNDEBUG\n", i/60, i%60, i, i)
	}
	var out bytes.Buffer
	b.SetBytes(int64(in.Len()))
	for b.Loop() {
		out.Reset()
		if _, err := renderLog(&out, bytes.NewReader(in.Bytes()), []string{"[00:41] src/file41.c"}); err != nil {
			b.Fatal(err)
		}
	}
}
