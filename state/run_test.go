package state

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

func TestRunRecordsRoundTripAndPrune(t *testing.T) {
	dir := t.TempDir()
	t0 := time.Date(2026, 12, 4, 16, 0, 0, 0, time.UTC)
	var ids []string
	for i, at := range []time.Time{t0, t0, t0.Add(time.Minute), t0} {
		id := NewRunID(dir, at)
		start := at
		r := &Run{ID: id, Trigger: Trigger{Kind: TriggerManual}, Start: at, End: at.Add(time.Second), Result: RunOK,
			Arches: []RunArch{{Arch: "x86_64", Plan: PlanCounts{Builds: i}}},
			Builds: []RunBuild{{Arch: "x86_64", Pkgname: "hello", Version: "1-r0", Status: Built, Slot: 1, Start: &start}}}
		if err := WriteRun(dir, r); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	want := []string{"20261204T160000Z", "20261204T160000Z-2", "20261204T160100Z", "20261204T160000Z-3"}
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("ids %q, want %q", ids, want)
	}
	got, err := RunIDs(dir)
	sorted := []string{"20261204T160000Z", "20261204T160000Z-2", "20261204T160000Z-3", "20261204T160100Z"}
	if err != nil || !reflect.DeepEqual(got, sorted) {
		t.Fatalf("RunIDs %q, %v; want %q", got, err, sorted)
	}
	// A stray file and a broken record do not stop the others.
	os.WriteFile(filepath.Join(dir, RunsDir, "notes.txt"), []byte("x"), 0o644)
	os.WriteFile(RunPath(dir, "20261204T155900Z"), []byte("{"), 0o644)
	runs, errs := ReadRuns(dir, 0)
	if len(runs) != 4 || len(errs) != 1 {
		t.Fatalf("ReadRuns: %d runs, errors %v; want 4 and one error", len(runs), errs)
	}
	if runs[3].ID != "20261204T160100Z" || runs[3].Builds[0].Start == nil || !runs[3].Builds[0].Start.Equal(t0.Add(time.Minute)) {
		t.Errorf("newest run read back as %+v", runs[3])
	}
	if runs, _ := ReadRuns(dir, 2); len(runs) != 2 || runs[1].ID != "20261204T160100Z" {
		t.Errorf("ReadRuns(2) = %d runs", len(runs))
	}
	gone, err := PruneRuns(dir, 2)
	if err != nil || len(gone) != 3 {
		t.Fatalf("PruneRuns: %q, %v; want 3 gone (the broken one counts)", gone, err)
	}
	if left, _ := RunIDs(dir); !reflect.DeepEqual(left, sorted[2:]) {
		t.Errorf("left %q, want %q", left, sorted[2:])
	}
	if err := WriteRun(dir, &Run{ID: "../x"}); err == nil {
		t.Error("WriteRun accepted the id ../x")
	}
}

func TestLiveRoundTrip(t *testing.T) {
	dir := t.TempDir()
	if l, err := ReadLive(dir); l != nil || err != nil {
		t.Fatalf("no live file: %v, %v; want nil, nil", l, err)
	}
	in := &Live{RunID: "20261204T160000Z", Stage: "build", Total: 3, Done: 1,
		Building: []LiveBuild{{Arch: "x86_64", Pkgname: "hello", Version: "1-r0", Slot: 2}}}
	if err := WriteLive(dir, in); err != nil {
		t.Fatal(err)
	}
	out, err := ReadLive(dir)
	if err != nil || !reflect.DeepEqual(in, out) {
		t.Errorf("read back %+v, %v", out, err)
	}
}
