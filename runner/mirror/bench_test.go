package mirror

import (
	"context"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/config"
	"github.com/apkfarm/apkfarm/runner/mirror/mirrortest"
)

// BenchmarkPushUnchanged pushes a repository of 2,000 packages over 3
// arches that each mirror already has, and reads its indexes back: the
// cost of a run that published nothing, per mirror. Goal: ≤ 0.5 s per
// local or rsync daemon mirror.
func BenchmarkPushUnchanged(b *testing.B) {
	f := newFixture(b)
	writeRepo(b, f.repo, f.signer, repoSpec{arches: []string{"x86_64", "aarch64", "armv7"}, names: names(2000, "pkg"), version: "1.0-r0", pkgBytes: 1024})
	for _, kind := range []string{"local", "daemon", "ssh"} {
		b.Run(kind, func(b *testing.B) {
			var tg Target
			switch kind {
			case "local":
				tg = target(b, kind, filepath.Join(b.TempDir(), "mirror"), nil)
			case "daemon":
				tg = target(b, kind, mirrortest.StartDaemon(b, mirrortest.DaemonOptions{}).URL(), nil)
			case "ssh":
				s := mirrortest.StartSSHD(b)
				tg = target(b, kind, s.URL(filepath.Join(b.TempDir(), "mirror")), func(m *config.Mirror) {
					m.IdentityFile, m.KnownHosts = s.IdentityFile, s.KnownHosts
				})
			}
			if r := Push(context.Background(), f.repo, []Target{tg}, f.keys)[0]; !r.OK {
				b.Fatalf("first push: %s", r.Error)
			}
			cpu0 := cpuTime(b)
			for b.Loop() {
				if r := Push(context.Background(), f.repo, []Target{tg}, f.keys)[0]; !r.OK || r.BytesSent > 1<<20 {
					b.Fatalf("unchanged push: %+v", r)
				}
			}
			// CPU seconds of this process and its rsync and ssh children a
			// push, which a busy machine does not inflate as it does the
			// wall clock (the daemon's and sshd's side are not counted).
			b.ReportMetric((cpuTime(b)-cpu0).Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

// cpuTime is the user and system time of this process and its waited-for
// children.
func cpuTime(b *testing.B) time.Duration {
	var self, kids syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &self); err != nil {
		b.Fatal(err)
	}
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &kids); err != nil {
		b.Fatal(err)
	}
	var d time.Duration
	for _, ru := range []syscall.Rusage{self, kids} {
		d += time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	return d
}
