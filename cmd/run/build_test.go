package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/runner/apkbuild"
	"github.com/apkfarm/apkfarm/runner/builder"
	"github.com/apkfarm/apkfarm/runner/plan"
	"github.com/apkfarm/apkfarm/state"
)

// TestRecord: what a build run writes to the state for each kind of
// decision, and what it leaves alone.
func TestRecord(t *testing.T) {
	ap := func(path, name, ver string, applies bool, arches ...string) *apkbuild.Aport {
		return &apkbuild.Aport{Path: path, Pkgname: name, Pkgver: ver, Pkgrel: "0", Applies: applies, Arches: arches, Hash: "h-" + name}
	}
	aports := map[string][]*apkbuild.Aport{"x86_64": {
		ap("main/built", "built", "1", true, "all"),
		ap("main/held", "held", "1", true, "all"),
		ap("main/dep-wait", "dep-wait", "1", true, "all"),
		ap("main/stable", "stable", "2", true, "all"),
		ap("main/armonly", "armonly", "1", false, "aarch64"),
		{Path: "main/broken", Pkgname: "broken", Error: "main/broken/APKBUILD:3: parse error"},
	}}
	p := &plan.Plan{Arches: []*plan.ArchPlan{
		{Arch: "x86_64",
			Builds: []*plan.Build{{Pkgname: "built", Path: "main/built", Version: "1-r0", PublishedVersion: "0.9-r0"}},
			Blocked: []*plan.Blocked{
				{Pkgname: "held", Path: "main/held", Version: "1-r0", Reason: plan.BlockedFailed, Detail: "failed 1 time(s)"},
				{Pkgname: "dep-wait", Path: "main/dep-wait", Version: "1-r0", Reason: plan.BlockedDepWait, Detail: "found nowhere: x"},
			},
			Invalid: []*plan.Invalid{{Pkgname: "broken", Path: "main/broken", Error: "main/broken/APKBUILD:3: parse error"}},
		},
		{Arch: "aarch64", Error: "load published index: 500"},
	}}
	res := &builder.Result{Outcomes: []builder.Outcome{{Job: builder.Job{Arch: "x86_64", Pkgname: "built", Version: "1-r0", Dir: "/t/main/built"},
		Status: state.Built, Attempt: &state.Attempt{Version: "1-r0", Start: time.Unix(1, 0), End: time.Unix(2, 0)}}}}

	tests := []struct {
		name string
		only bool
		want map[string]string // pkgname → status ("" absent)
	}{
		{"a whole run", false, map[string]string{"built": state.Built, "held": state.Failed,
			"dep-wait": state.Blocked, "stable": state.UpToDate, "armonly": state.Excluded, "broken": state.Invalid, "kept": state.Built}},
		{"with --only nothing is called up to date", true, map[string]string{"built": state.Built, "held": state.Failed,
			"dep-wait": state.Blocked, "stable": "", "armonly": state.Excluded, "broken": state.Invalid, "kept": state.Built}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := state.New()
			st.Ensure("x86_64", "held").Status = state.Failed
			st.Ensure("x86_64", "kept").Status = state.Built // not in the tree any more: left alone
			st.Ensure("aarch64", "built").Status = state.Failed
			recordPlan(st, p)
			recordTree(st, p, aports, tt.only)
			res.Record(st)
			for name, want := range tt.want {
				got := ""
				if a := st.Aport("x86_64", name); a != nil {
					got = a.Status
				}
				if got != want {
					t.Errorf("%s: status %q, want %q", name, got, want)
				}
			}
			if a := st.Aport("aarch64", "built"); a == nil || a.Status != state.Failed {
				t.Errorf("aarch64, whose plan failed, changed: %+v", a)
			}
			if a := st.Aport("x86_64", "dep-wait"); a.Reason != "dep-wait: found nowhere: x" || a.Dir != "main/dep-wait" {
				t.Errorf("dep-wait: %+v", a)
			}
			if a := st.Aport("x86_64", "built"); a.Published != "0.9-r0" || len(a.Attempts) != 1 || a.Dir != "main/built" {
				t.Errorf("built: %+v", a)
			}
			if a := st.Aport("x86_64", "armonly"); a.Reason != `arch="aarch64" does not build for x86_64` {
				t.Errorf("armonly: reason %q", a.Reason)
			}
		})
	}
}

// TestStageCopies: a noarch aport built on the native arch is staged for
// every arch that takes it, and recorded there; one whose build failed is
// blocked there; one already published on the native arch is left to
// publishing.
func TestStageCopies(t *testing.T) {
	dir := t.TempDir()
	native := filepath.Join(dir, "staging", "x86_64", "doc-1-r0.apk")
	if err := os.MkdirAll(filepath.Dir(native), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(native, []byte("apk"), 0o644); err != nil {
		t.Fatal(err)
	}
	p := &plan.Plan{Arches: []*plan.ArchPlan{
		{Arch: "x86_64"},
		{Arch: "aarch64", Copies: []*plan.Copy{
			{Pkgname: "doc", Version: "1-r0", From: "x86_64", Batch: 1},
			{Pkgname: "bad", Version: "1-r0", From: "x86_64", Batch: 1},
			{Pkgname: "old", Version: "1-r0", From: "x86_64", Batch: 0},
		}},
	}}
	res := &builder.Result{Outcomes: []builder.Outcome{
		{Job: builder.Job{Arch: "x86_64", Pkgname: "doc", Version: "1-r0", Hash: "h"}, Status: state.Built,
			Packages: []string{"staging/x86_64/doc-1-r0.apk"}},
		{Job: builder.Job{Arch: "x86_64", Pkgname: "bad", Version: "1-r0"}, Status: state.Failed},
	}}
	copies, err := stageCopies(dir, p, res)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "staging", "aarch64", "doc-1-r0.apk")); err != nil || string(b) != "apk" {
		t.Errorf("doc not staged for aarch64: %q, %v", b, err)
	}
	st := state.New()
	st.Ensure("x86_64", "doc").Dir = "main/doc"
	recordCopies(st, copies)
	if a := st.Aport("aarch64", "doc"); a == nil || a.Status != state.Built || a.Dir != "main/doc" || a.Version != "1-r0" {
		t.Errorf("aarch64 doc: %+v", a)
	}
	if a := st.Aport("aarch64", "bad"); a == nil || a.Status != state.Blocked || a.BlockedBy != "bad" {
		t.Errorf("aarch64 bad: %+v", a)
	}
	if a := st.Aport("aarch64", "old"); a != nil {
		t.Errorf("aarch64 old, published on x86_64 already: %+v, want no entry", a)
	}
	if s := summarize(p, res, copies); s.copied != 1 || s.pkgs["aarch64"] != 1 || s.failed != 1 {
		t.Errorf("summary %+v", s)
	}
}

func TestLockState(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	unlock, err := lockState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lockState(dir); err == nil || !strings.Contains(err.Error(), "held by another run") {
		t.Errorf("second lock: %v, want held by another run", err)
	}
	unlock()
	unlock2, err := lockState(dir)
	if err != nil {
		t.Fatalf("lock after unlock: %v", err)
	}
	unlock2()
}
