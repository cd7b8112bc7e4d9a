package record

import (
	"reflect"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/builder"
	"github.com/apkfarm/apkfarm/runner/plan"
	"github.com/apkfarm/apkfarm/runner/repo"
	"github.com/apkfarm/apkfarm/state"
)

var t0 = time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)

func testPlan() *plan.Plan {
	return &plan.Plan{Arches: []*plan.ArchPlan{
		{Arch: "x86_64",
			Builds: []*plan.Build{
				{Pkgname: "built", Path: "main/built", Version: "2-r0", Hash: "h1", PublishedVersion: "1-r0", Batch: 1},
				{Pkgname: "broke", Path: "main/broke", Version: "1-r0", Hash: "h2", Batch: 1},
				{Pkgname: "after", Path: "main/after", Version: "1-r0", Hash: "h3", Batch: 2},
				{Pkgname: "clash", Path: "main/clash", Version: "1-r0", Hash: "h4", Batch: 1},
				{Pkgname: "doc", Path: "main/doc", Version: "1-r0", Hash: "h5", Batch: 1, Noarch: true},
			},
			Blocked:     []*plan.Blocked{{Pkgname: "waits", Path: "main/waits", Version: "1-r0", Reason: plan.BlockedDepWait, Detail: "needs x"}, {Pkgname: "held", Reason: plan.BlockedFailed}},
			UpToDate:    []*plan.Decided{{Pkgname: "fine", Path: "main/fine", Version: "3-r0", Hash: "h6"}},
			Excluded:    []*plan.Decided{{Pkgname: "armonly", Path: "main/armonly", Version: "1-r0", Reason: `arch="armv7" does not build for x86_64`}},
			NotSelected: []*plan.Decided{{Pkgname: "skipped", Path: "main/skipped", Version: "1-r0"}},
			Invalid:     []*plan.Invalid{{Pkgname: "bad", Path: "main/bad", Error: "APKBUILD:3: syntax"}},
		},
		{Arch: "aarch64", Copies: []*plan.Copy{{Pkgname: "doc", Version: "1-r0", From: "x86_64", Batch: 1}}},
		{Arch: "armv7", Error: "index unreadable"},
	}}
}

func testResults() Results {
	at := func(class string) *state.Attempt {
		return &state.Attempt{Version: "x", Start: t0, End: t0.Add(time.Minute), Class: class, Log: "logs/x.log.gz"}
	}
	job := func(name, version string) builder.Job {
		return builder.Job{Arch: "x86_64", Pkgname: name, Version: version}
	}
	return Results{
		Plan: testPlan(),
		Builds: &builder.Result{Outcomes: []builder.Outcome{
			{Job: job("built", "2-r0"), Status: state.Built, Attempt: at(""), Slot: 1, CPU: 3 * time.Second},
			{Job: job("broke", "1-r0"), Status: state.Failed, Reason: "build-error: exit 2", Attempt: at(state.ClassBuildError), Slot: 2},
			{Job: job("after", "1-r0"), Status: state.Blocked, Reason: "depends on broke", BlockedBy: "broke"},
			{Job: job("clash", "1-r0"), Status: state.Built, Attempt: at(""), Slot: 1},
			{Job: job("doc", "1-r0"), Status: state.Built, Attempt: at(""), Slot: 2},
		}},
		Publish: &repo.Result{Arches: []repo.ArchResult{
			{Arch: "x86_64", Added: []repo.Added{{Name: "built", Version: "2-r0", Origin: "built", File: "built-2-r0.apk", Size: 100},
				{Name: "doc", Version: "1-r0", Origin: "doc", File: "doc-1-r0.apk", Size: 10}},
				Rejected: []repo.Rejected{{Name: "clash", Origin: "clash", Reason: "clash-1-r0.apk: published with other content"}},
				Retired:  []string{"built-1-r0.apk"}},
			{Arch: "aarch64", Held: "all-or-nothing: 1 build failed"},
		}},
		Mirrors: []state.MirrorResult{{Name: "m1", URL: "/srv/m1", OK: true, End: t0}, {Name: "m2", URL: "rsync://h/m", Error: "timeout", End: t0}},
	}
}

func TestStatus(t *testing.T) {
	prev := state.New()
	old := prev.Ensure("x86_64", "gone")
	old.Status = state.UpToDate
	held := prev.Ensure("x86_64", "held")
	held.Status, held.Reason = state.Failed, "build-error: exit 1"
	prev.Ensure("x86_64", "skipped").Status = state.Built
	prev.Ensure("armv7", "kept").Status = state.Built
	prev.Ensure("x86_64", "built").Attempts = []state.Attempt{{Version: "1-r0"}}
	prevMirror := &state.Mirror{URL: "rsync://h/m", LastSuccess: t0.Add(-time.Hour)}
	prev.Mirrors = map[string]*state.Mirror{"m2": prevMirror}
	snapshot, _ := state.Marshal(prev)

	st := Status(prev, testResults())
	if after, _ := state.Marshal(prev); string(after) != string(snapshot) {
		t.Fatal("Status changed the previous state")
	}
	want := map[string][2]string{ // arch/pkg → status, reason
		"x86_64/built":   {state.Built, ""},
		"x86_64/broke":   {state.Failed, "build-error: exit 2"},
		"x86_64/after":   {state.Blocked, "depends on broke"},
		"x86_64/clash":   {state.Failed, "publish: clash-1-r0.apk: published with other content"},
		"x86_64/doc":     {state.Built, ""},
		"x86_64/waits":   {state.Blocked, "dep-wait: needs x"},
		"x86_64/held":    {state.Failed, "build-error: exit 1"},
		"x86_64/fine":    {state.UpToDate, ""},
		"x86_64/armonly": {state.Excluded, `arch="armv7" does not build for x86_64`},
		"x86_64/skipped": {state.Built, ""},
		"x86_64/bad":     {state.Invalid, "APKBUILD:3: syntax"},
		"aarch64/doc":    {state.Built, "built; not published: all-or-nothing: 1 build failed"},
		"armv7/kept":     {state.Built, ""},
	}
	got := map[string][2]string{}
	for arch, a := range st.Arches {
		for name, e := range a.Aports {
			got[arch+"/"+name] = [2]string{e.Status, e.Reason}
		}
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("statuses:\n got %v\nwant %v", got, want)
	}
	b := st.Aport("x86_64", "built")
	if b.Published != "2-r0" || b.Version != "2-r0" || b.Hash != "h1" || b.Dir != "main/built" || len(b.Attempts) != 2 {
		t.Errorf("built entry %+v", b)
	}
	if d := st.Aport("aarch64", "doc"); d.Published != "" || d.Dir != "main/doc" {
		t.Errorf("held noarch copy %+v: want not published", d)
	}
	if f := st.Aport("x86_64", "fine"); f.Published != "3-r0" {
		t.Errorf("up-to-date entry %+v", f)
	}
	if m := st.Mirrors["m2"]; m.Error != "timeout" || !m.LastSuccess.Equal(t0.Add(-time.Hour)) || !m.LastAttempt.Equal(t0) {
		t.Errorf("failed mirror %+v: want its last success kept", m)
	}
	if m := st.Mirrors["m1"]; !m.LastSuccess.Equal(t0) {
		t.Errorf("mirror m1 %+v", m)
	}
	if err := st.Check(); err != nil {
		t.Error(err)
	}
}

func TestRun(t *testing.T) {
	r := Run(Meta{ID: "20261204T120000Z", Trigger: state.Trigger{Kind: state.TriggerManual}, Start: t0, End: t0.Add(time.Hour),
		ExitCode: 1, Result: state.RunFailed}, testResults())
	if len(r.Builds) != 5 || r.Builds[0].Slot != 1 || r.Builds[0].Start == nil || r.Builds[0].CPUSeconds != 3 || r.Builds[1].Class != state.ClassBuildError {
		t.Errorf("builds %+v", r.Builds)
	}
	if r.BytesPublished != 110 || r.CPUSeconds != 3 || len(r.Mirrors) != 2 {
		t.Errorf("totals: %v bytes, %v cpu, %d mirrors", r.BytesPublished, r.CPUSeconds, len(r.Mirrors))
	}
	x := r.Arches[0]
	if x.Arch != "x86_64" || x.Batches != 2 || len(x.Published) != 2 || x.Retired[0] != "built-1-r0.apk" || x.Plan.Builds != 0 {
		t.Errorf("x86_64 %+v", x)
	}
	if r.Arches[1].Held == "" || r.Arches[2].Error != "index unreadable" {
		t.Errorf("arches %+v", r.Arches)
	}
	if _, err := state.MarshalRun(r); err != nil {
		t.Fatal(err)
	}
	s := Summarize(testResults())
	if s.Built != 3 || s.Failed != 1 || s.Blocked != 1 || s.Published != 2 || s.Rejected != 1 || s.Copied != 1 || len(s.Failures) != 3 {
		t.Errorf("summary %+v", s)
	}
}
