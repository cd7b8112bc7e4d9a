package builder

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/apk"
	"github.com/apkfarm/apkfarm/runner/executor"
	"github.com/apkfarm/apkfarm/state"
)

// buildsNoarch is buildsOK for a noarch aport: its packages say noarch.
func buildsNoarch(t testing.TB, pkgs ...string) fakeBehavior {
	return func(ctx context.Context, s sess, req executor.ExecRequest) (int, error) {
		if isBuild(req) {
			for _, p := range pkgs {
				v := env(req, "PKGVER")
				if err := s.put(p+"-"+v+".apk", makeAPK(t, p, v, "noarch")); err != nil {
					return -1, err
				}
			}
		}
		return 0, nil
	}
}

// TestCrossArchDependency: an aarch64 job that needs a noarch package built
// in the run on x86_64 ("x86_64/greet-data") starts only once that build is
// done, gets its package in the local repository (listed under aarch64),
// and is blocked, with the arch in blocked_by, when it does not build.
func TestCrossArchDependency(t *testing.T) {
	tests := []struct {
		name   string
		failed string            // the x86_64 job that fails, "" none
		want   map[string]string // arch/pkgname → status
		// blocked: arch/pkgname → "blocked_by|reason"
		blocked map[string]string
	}{
		{
			name: "built after its noarch dependency on the other arch",
			want: map[string]string{"x86_64/lib": state.Built, "x86_64/greet-data": state.Built,
				"aarch64/reader": state.Built, "aarch64/after": state.Built},
		},
		{
			name:   "blocked when the noarch dependency fails",
			failed: "greet-data",
			want: map[string]string{"x86_64/lib": state.Built, "x86_64/greet-data": state.Failed,
				"aarch64/reader": state.Blocked, "aarch64/after": state.Blocked},
			blocked: map[string]string{
				"aarch64/reader": "x86_64/greet-data|depends on x86_64/greet-data, which failed",
				"aarch64/after":  "x86_64/greet-data|depends on reader, which blocked by x86_64/greet-data",
			},
		},
		{
			name:   "blocked through the other arch's chain",
			failed: "lib",
			want: map[string]string{"x86_64/lib": state.Failed, "x86_64/greet-data": state.Blocked,
				"aarch64/reader": state.Blocked, "aarch64/after": state.Blocked},
			blocked: map[string]string{
				"x86_64/greet-data": "lib|depends on lib, which failed",
				"aarch64/reader":    "x86_64/lib|depends on x86_64/greet-data, which blocked by lib",
				"aarch64/after":     "x86_64/lib|depends on reader, which blocked by x86_64/lib",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fe := newFakeExec(t)
			var mu sync.Mutex
			var events []string
			event := func(s string) {
				mu.Lock()
				events = append(events, s)
				mu.Unlock()
			}
			var readerRepo []string
			var readerIndex []byte
			fe.behavior["lib"] = buildsOK(t, "lib")
			slow := buildsNoarch(t, "greet-data")
			fe.behavior["greet-data"] = func(ctx context.Context, s sess, req executor.ExecRequest) (int, error) {
				if !isBuild(req) {
					return 0, nil
				}
				time.Sleep(50 * time.Millisecond) // time for reader to jump the gun, if it would
				defer event("greet-data ended")
				return slow(ctx, s, req)
			}
			reader := buildsOK(t, "reader")
			fe.behavior["reader"] = func(ctx context.Context, s sess, req executor.ExecRequest) (int, error) {
				event("reader ran")
				if isBuild(req) {
					local := filepath.Join(s.root, guestLocal, "aarch64")
					readerRepo = filesUnder(local)
					slices.Sort(readerRepo)
					readerIndex, _ = os.ReadFile(filepath.Join(local, "APKINDEX.tar.gz"))
				}
				return reader(ctx, s, req)
			}
			fe.behavior["after"] = buildsOK(t, "after")
			if tt.failed != "" {
				fe.behavior[tt.failed] = failsWith(1, "error: boom")
			}

			lib := job(t, "lib", 1, 4)
			data := job(t, "greet-data", 2, 3, "lib")
			rd := job(t, "reader", 3, 2, "x86_64/greet-data")
			rd.Arch, rd.BuildDeps = "aarch64", []string{"greet-data"}
			after := job(t, "after", 4, 1, "reader")
			after.Arch, after.BuildDeps = "aarch64", []string{"reader"}
			opts := testOptions(t)
			opts.Jobs = 2
			res, err := Run(context.Background(), []Job{after, rd, data, lib}, opts, fe, nil)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range res.Outcomes {
				key := o.Job.Arch + "/" + o.Job.Pkgname
				if o.Status != tt.want[key] {
					t.Errorf("%s: %s (%s); want %s", key, o.Status, o.Reason, tt.want[key])
				}
				if want, ok := tt.blocked[key]; ok {
					if got := o.BlockedBy + "|" + o.Reason; got != want {
						t.Errorf("%s: blocked %q; want %q", key, got, want)
					}
					if o.Attempt != nil {
						t.Errorf("%s: blocked, but attempted", key)
					}
				}
			}
			if tt.failed != "" {
				return
			}
			if i, j := slices.Index(events, "greet-data ended"), slices.Index(events, "reader ran"); i < 0 || j < i {
				t.Errorf("events %q: reader ran before its x86_64 dependency ended", events)
			}
			if want := []string{"APKINDEX.tar.gz", "greet-data-1.0-r0.apk"}; !slices.Equal(readerRepo, want) {
				t.Errorf("reader's local repository = %v; want %v (the noarch package, not x86_64's lib)", readerRepo, want)
			}
			idx, err := apk.ReadIndexArchive(readerIndex, "APKINDEX.tar.gz")
			if err != nil || len(idx.Packages) != 1 || idx.Packages[0].Name != "greet-data" || idx.Packages[0].Arch != "aarch64" {
				t.Errorf("reader's local index: %v, %+v; want greet-data listed under aarch64", err, idx)
			}
			staged := filesUnder(filepath.Join(opts.StateDir, "staging", "x86_64"))
			slices.Sort(staged)
			if want := []string{"greet-data-1.0-r0.apk", "lib-1.0-r0.apk"}; !slices.Equal(staged, want) {
				t.Errorf("x86_64 staging = %v; want %v", staged, want)
			}
		})
	}
}

func TestCrossArchDependencyMustBeEarlier(t *testing.T) {
	data := job(t, "greet-data", 2, 1)
	rd := job(t, "reader", 2, 0, "x86_64/greet-data")
	rd.Arch = "aarch64"
	bad := job(t, "bad", 3, 0, "x86_64/")
	bad.Arch = "aarch64"
	_, err := Run(context.Background(), []Job{data, rd, bad}, testOptions(t), newFakeExec(t), nil)
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{"depends on x86_64/greet-data in batch 2", `dependency "x86_64/"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}
