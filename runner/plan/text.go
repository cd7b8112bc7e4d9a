package plan

import (
	"fmt"
	"io"
	"strings"
)

// WriteText writes the plan for people: per arch the batches with
// "name old → new (reason)", copies, blocked aports with why, cycles,
// removals, invalid APKBUILDs and the counts.
func (p *Plan) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "plan of %s: %d batch(es); noarch aports build on %s\n",
		p.Generated.UTC().Format("2006-01-02 15:04:05 UTC"), p.Batches, p.NativeArch)
	if len(p.Only) > 0 {
		fmt.Fprintf(&b, "only: %s\n", strings.Join(p.Only, ", "))
	}
	for _, ap := range p.Arches {
		ap.writeText(&b)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func (ap *ArchPlan) writeText(b *strings.Builder) {
	fmt.Fprintf(b, "\n== %s\n", ap.Arch)
	if ap.Error != "" {
		fmt.Fprintf(b, "  error: %s\n", ap.Error)
		return
	}
	batch := 0
	for _, x := range ap.Builds {
		if x.Batch != batch {
			batch = x.Batch
			fmt.Fprintf(b, "  batch %d\n", batch)
		}
		old := x.PublishedVersion
		if old == "" {
			old = "-"
		}
		reason := x.Reason
		if x.Downgrade {
			reason += ", downgrade"
		}
		if len(x.MissingSubpackages) > 0 {
			reason += ": " + strings.Join(x.MissingSubpackages, " ")
		}
		if x.Attempt > 0 {
			reason += fmt.Sprintf(", attempt %d", x.Attempt)
		}
		fmt.Fprintf(b, "    %s %s → %s (%s)", x.Pkgname, old, x.Version, reason)
		if len(x.Depends) > 0 {
			fmt.Fprintf(b, " after %s", strings.Join(x.Depends, ", "))
		}
		b.WriteString("\n")
	}
	section(b, "copies (noarch)", len(ap.Copies))
	for _, c := range ap.Copies {
		when := "now"
		if c.Batch > 0 {
			when = fmt.Sprintf("after batch %d", c.Batch)
		}
		fmt.Fprintf(b, "    %s %s from %s, %s\n", c.Pkgname, c.Version, c.From, when)
	}
	section(b, "blocked", len(ap.Blocked))
	for _, x := range ap.Blocked {
		fmt.Fprintf(b, "    %s %s: %s: %s\n", x.Pkgname, x.Version, x.Reason, x.Detail)
	}
	section(b, "cycles", len(ap.Cycles))
	for _, c := range ap.Cycles {
		how := "blocked"
		if c.Bootstrap {
			how = "broken by a bootstrap order"
		}
		fmt.Fprintf(b, "    %s (%s)\n", c.Path, how)
	}
	section(b, "removed", len(ap.Removed))
	for _, r := range ap.Removed {
		fmt.Fprintf(b, "    %s %s (origin %s: %s)\n", r.Name, r.Version, r.Origin, r.Reason)
	}
	section(b, "invalid", len(ap.Invalid))
	for _, x := range ap.Invalid {
		fmt.Fprintf(b, "    %s: %s\n", x.Path, x.Error)
	}
	c := ap.Counts
	fmt.Fprintf(b, "  %d to build, %d to copy, %d blocked, %d not selected, %d up to date, %d excluded, %d invalid, %d to remove\n",
		c.Builds, c.Copies, c.Blocked, c.NotSelected, c.UpToDate, c.Excluded, c.Invalid, c.Removed)
}

func section(b *strings.Builder, title string, n int) {
	if n > 0 {
		fmt.Fprintf(b, "  %s\n", title)
	}
}
