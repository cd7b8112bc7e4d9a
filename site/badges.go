package site

import (
	"encoding/json"
	"fmt"
	"html"
	"strconv"

	"github.com/apkfarm/apkfarm/state"
)

func pkgBadgePath(name string) string    { return "badge/pkg/" + fileName(name) + ".svg" }
func pkgShieldsPath(name string) string  { return "badge/pkg/" + fileName(name) + ".json" }
func archBadgePath(arch string) string   { return "badge/arch/" + fileName(arch) + ".svg" }
func archShieldsPath(arch string) string { return "badge/arch/" + fileName(arch) + ".json" }

// Badge colours: shields.io's names, and the hex the SVG uses.
var badgeHex = map[string]string{
	"brightgreen": "#2e8540", "green": "#5b8c3a", "orange": "#c25e00", "red": "#c0392b",
	"blue": "#1f6fb2", "purple": "#8e44ad", "lightgrey": "#6b7280",
}

// badge is one badge's text and colour.
type badge struct{ Label, Message, Color string }

// pkgBadge sums up a package over its arches: the most alarming status,
// with how many arches have it.
func pkgBadge(p *pkg) badge {
	n, total := 0, 0
	for _, a := range p.Entries {
		if a == nil || a.Status == state.Excluded {
			continue
		}
		total++
		if a.Status == p.Worst {
			n++
		}
	}
	b := badge{Label: p.Name}
	switch p.Worst {
	case state.Built, state.UpToDate:
		b.Message, b.Color = "built", "brightgreen"
		if p.Worst == state.UpToDate {
			b.Message = "up to date"
		}
		return b
	case state.Excluded:
		return badge{p.Name, "excluded", "lightgrey"}
	case state.Failed:
		b.Color = "red"
	case state.Invalid:
		b.Color = "purple"
	case state.Blocked:
		b.Color = "orange"
	default:
		b.Color = "blue"
	}
	b.Message = fmt.Sprintf("%s %d/%d", statusLabel[p.Worst], n, total)
	return b
}

// archBadge sums up an arch.
func archBadge(arch string, c map[string]int) badge {
	switch {
	case c[state.Failed]+c[state.Invalid] > 0:
		return badge{arch, strconv.Itoa(c[state.Failed]+c[state.Invalid]) + " failing", "red"}
	case c[state.Blocked] > 0:
		return badge{arch, strconv.Itoa(c[state.Blocked]) + " blocked", "orange"}
	case c[state.Pending] > 0:
		return badge{arch, strconv.Itoa(c[state.Pending]) + " pending", "blue"}
	}
	return badge{arch, "all built", "brightgreen"}
}

func (r *renderer) packageBadge(p *pkg) error {
	return r.putBadge(pkgBadgePath(p.Name), pkgShieldsPath(p.Name), pkgBadge(p))
}

func (r *renderer) archBadges() error {
	all := map[string]int{}
	for i, c := range r.m.counts() {
		for s, n := range c {
			all[s] += n
		}
		if err := r.putBadge(archBadgePath(r.m.arches[i]), archShieldsPath(r.m.arches[i]), archBadge(r.m.arches[i], c)); err != nil {
			return err
		}
	}
	return r.putBadge("badge/all.svg", "badge/all.json", archBadge(r.opt.Title, all))
}

func (r *renderer) putBadge(svgPath, jsonPath string, b badge) error {
	if err := r.w.put(svgPath, badgeSVG(b)); err != nil {
		return err
	}
	j, err := json.Marshal(struct {
		SchemaVersion int    `json:"schemaVersion"`
		Label         string `json:"label"`
		Message       string `json:"message"`
		Color         string `json:"color"`
	}{1, b.Label, b.Message, b.Color})
	if err != nil {
		return err
	}
	return r.w.put(jsonPath, append(j, '\n'))
}

// badgeSVG draws a flat two-part badge: label on grey, message on the
// status colour. Text widths are estimated per character.
func badgeSVG(b badge) []byte {
	lw, mw := textWidth(b.Label)+12, textWidth(b.Message)+12
	w := lw + mw
	label, msg := html.EscapeString(b.Label), html.EscapeString(b.Message)
	return fmt.Appendf(nil, `<svg xmlns="http://www.w3.org/2000/svg" width="%d" height="20" role="img" aria-label="%s: %s">`+
		`<title>%s: %s</title>`+
		`<clipPath id="r"><rect width="%d" height="20" rx="3"/></clipPath>`+
		`<g clip-path="url(#r)"><rect width="%d" height="20" fill="#444c56"/><rect x="%d" width="%d" height="20" fill="%s"/></g>`+
		`<g fill="#fff" font-family="DejaVu Sans,Verdana,Geneva,sans-serif" font-size="11">`+
		`<text x="%d" y="14">%s</text><text x="%d" y="14">%s</text></g></svg>`+"\n",
		w, label, msg, label, msg, w, lw, lw, mw, badgeHex[b.Color], 6, label, lw+6, msg)
}

// textWidth estimates the width in pixels of s at 11px DejaVu Sans.
func textWidth(s string) int {
	w := 0.0
	for _, c := range s {
		switch {
		case c == 'i' || c == 'l' || c == 'j' || c == '.' || c == ',' || c == ':' || c == '\'' || c == '|' || c == '!':
			w += 3.4
		case c == ' ' || c == 'f' || c == 't' || c == 'r' || c == 'I' || c == '-' || c == '/' || c == '(' || c == ')':
			w += 4.6
		case c == 'm' || c == 'w' || c == 'M' || c == 'W':
			w += 10.2
		case c >= 'A' && c <= 'Z':
			w += 8
		default:
			w += 7
		}
	}
	return int(w + 0.5)
}
