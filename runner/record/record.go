package record

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/apkfarm/apkfarm/runner/builder"
	"github.com/apkfarm/apkfarm/runner/plan"
	"github.com/apkfarm/apkfarm/runner/repo"
	"github.com/apkfarm/apkfarm/state"
)

// Results is what a run decided and did.
type Results struct {
	Plan *plan.Plan
	// Builds is nil when nothing was built.
	Builds *builder.Result
	// Publish is nil when nothing was published (--no-publish, or the
	// run stopped before).
	Publish *repo.Result
	// Mirrors are this run's pushes.
	Mirrors []state.MirrorResult
}

// Status returns the state after the run: prev (which is not changed) with
// every aport of every planned arch set from the plan's decision and the
// results. Aports of a planned arch that the plan no longer lists (gone
// from the tree) are dropped; arches that were not planned, or whose
// inputs could not be read, keep their entries.
func Status(prev *state.Status, r Results) *state.Status {
	st := clone(prev)
	outcomes := r.outcomes()
	pub := publishedBy(r.Publish)
	for _, ap := range r.Plan.Arches {
		if ap.Error != "" {
			continue
		}
		arch := ap.Arch
		old := st.Arches[arch]
		next := &state.Arch{Aports: map[string]*state.Aport{}}
		st.Arches[arch] = next
		entry := func(name string) *state.Aport {
			e := &state.Aport{}
			if old != nil && old.Aports[name] != nil {
				*e = *old.Aports[name]
				e.Attempts = slices.Clip(e.Attempts)
			}
			next.Aports[name] = e
			return e
		}
		set := func(e *state.Aport, status, dir, version, hash, reason, blockedBy string) {
			e.Status, e.Dir, e.Version, e.Reason, e.BlockedBy = status, dir, version, reason, blockedBy
			if hash != "" {
				e.Hash = hash
			}
		}
		for _, d := range ap.UpToDate {
			e := entry(d.Pkgname)
			set(e, state.UpToDate, d.Path, d.Version, d.Hash, "", "")
			e.Published = d.Version
		}
		for _, d := range ap.Excluded {
			set(entry(d.Pkgname), state.Excluded, d.Path, d.Version, d.Hash, d.Reason, "")
		}
		for _, d := range ap.NotSelected {
			if old != nil && old.Aports[d.Pkgname] != nil {
				entry(d.Pkgname) // --only left it alone: as it was
			}
		}
		for _, inv := range ap.Invalid {
			set(entry(inv.Pkgname), state.Invalid, inv.Path, "", "", inv.Error, "")
		}
		for _, b := range ap.Blocked {
			e := entry(b.Pkgname)
			if b.Reason == plan.BlockedFailed && e.Status == state.Failed {
				continue // held after failures: its failed entry stands
			}
			waits := ""
			if len(b.WaitsFor) > 0 {
				waits = b.WaitsFor[0]
			}
			set(e, state.Blocked, b.Path, b.Version, "", b.Reason+": "+b.Detail, waits)
		}
		for _, b := range ap.Builds {
			e := entry(b.Pkgname)
			e.Published = b.PublishedVersion
			e.BuildDepends = slices.Sorted(slices.Values(b.TreeDepends))
			o := outcomes[arch+"/"+b.Pkgname]
			if o == nil {
				set(e, state.Pending, b.Path, b.Version, b.Hash, "not built in this run", "")
				continue
			}
			set(e, o.Status, b.Path, b.Version, b.Hash, o.Reason, o.BlockedBy)
			if o.Attempt != nil {
				e.AddAttempt(*o.Attempt)
			}
			if o.Status == state.Built {
				published(e, pub[arch], b.Pkgname, b.Version)
			}
		}
		for _, c := range ap.Copies {
			e := entry(c.Pkgname)
			e.Published = c.PublishedVersion
			src := r.Plan.Arch(c.From)
			var path, hash string
			if src != nil {
				for _, b := range src.Builds {
					if b.Pkgname == c.Pkgname {
						path, hash = b.Path, b.Hash
					}
				}
			}
			if c.Batch == 0 {
				// Built and published on From already: only this arch's
				// index lacks it.
				set(e, state.Built, path, c.Version, hash, "noarch: published on "+c.From, "")
				published(e, pub[arch], c.Pkgname, c.Version)
				continue
			}
			o := outcomes[c.From+"/"+c.Pkgname]
			switch {
			case o == nil || o.Status == state.Pending:
				set(e, state.Pending, path, c.Version, hash, "noarch: its build on "+c.From+" did not run", "")
			case o.Status == state.Built:
				set(e, state.Built, path, c.Version, hash, "noarch: built on "+c.From, "")
				published(e, pub[arch], c.Pkgname, c.Version)
			default:
				set(e, state.Blocked, path, c.Version, hash, "noarch: its build on "+c.From+" "+o.Status, c.From+"/"+c.Pkgname)
			}
		}
	}
	for _, m := range r.Mirrors {
		if st.Mirrors == nil {
			st.Mirrors = map[string]*state.Mirror{}
		}
		prevM := st.Mirrors[m.Name]
		next := &state.Mirror{URL: m.URL, LastAttempt: m.End, Error: m.Error, Lagging: m.Lagging}
		if prevM != nil {
			next.LastSuccess = prevM.LastSuccess
		}
		if m.OK {
			next.LastSuccess = m.End
		}
		st.Mirrors[m.Name] = next
	}
	return st
}

// outcomes indexes the build outcomes by "arch/pkgname".
func (r Results) outcomes() map[string]*builder.Outcome {
	out := map[string]*builder.Outcome{}
	if r.Builds != nil {
		for i := range r.Builds.Outcomes {
			o := &r.Builds.Outcomes[i]
			out[o.Job.Arch+"/"+o.Job.Pkgname] = o
		}
	}
	return out
}

// archPublish is what publishing did on one arch, by origin.
type archPublish struct {
	res      *repo.ArchResult
	added    map[string]bool   // origins with a package added (or already there)
	rejected map[string]string // origin → why
}

func publishedBy(r *repo.Result) map[string]*archPublish {
	out := map[string]*archPublish{}
	if r == nil {
		return out
	}
	for i := range r.Arches {
		a := &r.Arches[i]
		ap := &archPublish{res: a, added: map[string]bool{}, rejected: map[string]string{}}
		for _, x := range a.Added {
			ap.added[origin(x.Origin, x.Name)] = true
		}
		for _, x := range a.Rejected {
			if x.Name != "" {
				ap.rejected[origin(x.Origin, x.Name)] = x.Reason
			}
		}
		out[a.Arch] = ap
	}
	return out
}

func origin(o, name string) string {
	if o != "" {
		return o
	}
	return name
}

// published sets what publishing did to a built aport: its version is
// published, or why not.
func published(e *state.Aport, ap *archPublish, pkgname, version string) {
	switch {
	case ap == nil:
		// Nothing was published in this run (--no-publish): staged only.
	case ap.res.Error != "":
		e.Reason = "built; not published: " + ap.res.Error
	case ap.res.Held != "":
		e.Reason = "built; not published: " + ap.res.Held
	case ap.rejected[pkgname] != "":
		e.Status, e.Reason = state.Failed, "publish: "+ap.rejected[pkgname]
	default:
		e.Published = version
	}
}

// clone copies the state deep enough that Status never changes prev: the
// maps and the entries (attempt lists are clipped before appending).
func clone(prev *state.Status) *state.Status {
	st := state.New()
	if prev == nil {
		return st
	}
	st.Generated = prev.Generated
	for arch, a := range prev.Arches {
		if a == nil {
			continue
		}
		c := &state.Arch{Aports: make(map[string]*state.Aport, len(a.Aports))}
		for name, e := range a.Aports {
			cp := *e
			cp.Attempts = slices.Clip(e.Attempts)
			c.Aports[name] = &cp
		}
		st.Arches[arch] = c
	}
	if prev.Mirrors != nil {
		st.Mirrors = map[string]*state.Mirror{}
		for n, m := range prev.Mirrors {
			cp := *m
			st.Mirrors[n] = &cp
		}
	}
	return st
}

// Meta is what a run record holds beyond the results.
type Meta struct {
	ID       string
	Trigger  state.Trigger
	Start    time.Time
	End      time.Time
	ExitCode int
	Result   string
	Error    string
	Channel  string
}

// Run returns the run's record.
func Run(m Meta, r Results) *state.Run {
	run := &state.Run{Schema: state.RunSchema, ID: m.ID, Trigger: m.Trigger, Start: m.Start.UTC(), End: m.End.UTC(),
		Result: m.Result, ExitCode: m.ExitCode, Error: m.Error, Channel: m.Channel,
		Arches: []state.RunArch{}, Builds: []state.RunBuild{}, Mirrors: slices.Clone(r.Mirrors)}
	if run.Mirrors == nil {
		run.Mirrors = []state.MirrorResult{}
	}
	if r.Plan == nil {
		return run
	}
	run.Only = r.Plan.Only
	outcomes := r.outcomes()
	pub := publishedBy(r.Publish)
	for _, ap := range r.Plan.Arches {
		c := ap.Counts
		ra := state.RunArch{Arch: ap.Arch, Error: ap.Error, Plan: state.PlanCounts{Builds: c.Builds, Copies: c.Copies,
			Blocked: c.Blocked, NotSelected: c.NotSelected, UpToDate: c.UpToDate, Excluded: c.Excluded,
			Invalid: c.Invalid, Removed: c.Removed}}
		batches := map[int]bool{}
		for _, b := range ap.Builds {
			batches[b.Batch] = true
			rb := state.RunBuild{Arch: ap.Arch, Pkgname: b.Pkgname, Version: b.Version, Batch: b.Batch, Status: state.Pending}
			if o := outcomes[ap.Arch+"/"+b.Pkgname]; o != nil {
				rb.Status, rb.Reason, rb.BlockedBy, rb.Slot = o.Status, o.Reason, o.BlockedBy, o.Slot
				rb.CPUSeconds = o.CPU.Seconds()
				run.CPUSeconds += rb.CPUSeconds
				if at := o.Attempt; at != nil {
					s, e := at.Start, at.End
					rb.Start, rb.End, rb.Class, rb.Log = &s, &e, at.Class, at.Log
				}
			}
			run.Builds = append(run.Builds, rb)
		}
		ra.Batches = len(batches)
		if p := pub[ap.Arch]; p != nil {
			if ra.Error == "" {
				ra.Error = p.res.Error
			}
			ra.Held = p.res.Held
			for _, a := range p.res.Added {
				ra.Published = append(ra.Published, a.File)
				run.BytesPublished += a.Size
			}
			ra.Retired = slices.Clone(p.res.Retired)
		}
		run.Arches = append(run.Arches, ra)
	}
	return run
}

// Summary counts what became of a run's plan, for the end of a run.
type Summary struct {
	Built, Failed, Blocked, Pending, PlanBlocked, Copied int
	Published, Rejected                                  int
	// Failures are one line each: "failed x86_64 hello 1.0-r0: why (log)".
	Failures []string
}

// Summarize counts the results.
func Summarize(r Results) Summary {
	var s Summary
	if r.Builds != nil {
		for _, o := range r.Builds.Outcomes {
			switch o.Status {
			case state.Built:
				s.Built++
			case state.Failed:
				s.Failed++
				line := fmt.Sprintf("failed  %s %s %s: %s", o.Job.Arch, o.Job.Pkgname, o.Job.Version, o.Reason)
				if o.Attempt != nil && o.Attempt.Log != "" {
					line += " (log: " + o.Attempt.Log + ")"
				}
				s.Failures = append(s.Failures, line)
			case state.Blocked:
				s.Blocked++
				s.Failures = append(s.Failures, fmt.Sprintf("blocked %s %s %s: %s", o.Job.Arch, o.Job.Pkgname, o.Job.Version, o.Reason))
			default:
				s.Pending++
			}
		}
	}
	for _, ap := range r.Plan.Arches {
		s.PlanBlocked += len(ap.Blocked)
		for _, c := range ap.Copies {
			if c.Batch > 0 {
				s.Copied++
			}
		}
	}
	if r.Publish != nil {
		for _, a := range r.Publish.Arches {
			s.Published += len(a.Added)
			s.Rejected += len(a.Rejected)
			for _, x := range a.Rejected {
				s.Failures = append(s.Failures, fmt.Sprintf("not published %s %s: %s", a.Arch, strings.TrimSpace(x.Name+" "+x.File), x.Reason))
			}
		}
	}
	return s
}
