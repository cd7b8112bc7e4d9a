package apk

// Package is one APKINDEX record: the metadata apk keeps for one package
// file. The field letters are those apk-tools writes in APKINDEX and in
// /lib/apk/db/installed.
type Package struct {
	Checksum         string   // C: "Q1" + base64(SHA-1 of the control member)
	Name             string   // P:
	Version          string   // V:
	Arch             string   // A:
	Size             int64    // S: size of the .apk file in bytes
	InstalledSize    int64    // I:
	Description      string   // T:
	URL              string   // U:
	License          string   // L:
	Origin           string   // o:
	Maintainer       string   // m:
	BuildTime        int64    // t: unix seconds
	Commit           string   // c:
	ProviderPriority string   // k: kept as text; empty when absent
	Depends          []string // D: space-separated
	Provides         []string // p: space-separated
	InstallIf        []string // i: space-separated
	// Extra holds unknown lowercase fields in the order they were read, so
	// that rewriting an index written by a newer apk loses nothing.
	Extra []Field
}

// Field is one unknown "k:value" line of a record.
type Field struct {
	Key   byte
	Value string
}

// Index is the content of an APKINDEX.tar.gz: its DESCRIPTION and records.
type Index struct {
	Description string
	Packages    []*Package
}

// OriginOrName returns the origin (o:), or the name when no origin is set.
func (p *Package) OriginOrName() string {
	if p.Origin != "" {
		return p.Origin
	}
	return p.Name
}

// Duplicate is a name with more than one record in an index: the record
// Dedupe kept and those it dropped, in index order.
type Duplicate struct {
	Name    string
	Kept    *Package
	Dropped []*Package
}

// String names the records: "hello 1.0-r0 (kept), 0.9-r0".
func (d Duplicate) String() string {
	s := d.Name + " " + d.Kept.Version + " (kept)"
	for _, p := range d.Dropped {
		s += ", " + p.Version
	}
	return s
}

// Dedupe keeps one record per package name, as apk would install it: the
// highest version (the first of equal ones). The kept records stay in
// index order, each where the first record of its name was. It returns
// what it dropped, by name in index order; nil when every name is once.
func (idx *Index) Dedupe() []Duplicate {
	at := make(map[string]int, len(idx.Packages)) // name -> position in kept
	kept := idx.Packages[:0:0]
	var dups []Duplicate
	dupAt := map[string]int{}
	for _, p := range idx.Packages {
		i, seen := at[p.Name]
		if !seen {
			at[p.Name] = len(kept)
			kept = append(kept, p)
			continue
		}
		j, ok := dupAt[p.Name]
		if !ok {
			j = len(dups)
			dupAt[p.Name] = j
			dups = append(dups, Duplicate{Name: p.Name})
		}
		if CompareVersions(p.Version, kept[i].Version) > 0 {
			dups[j].Dropped = append(dups[j].Dropped, kept[i])
			kept[i] = p
		} else {
			dups[j].Dropped = append(dups[j].Dropped, p)
		}
	}
	for j := range dups {
		dups[j].Kept = kept[at[dups[j].Name]]
	}
	if dups != nil {
		idx.Packages = kept
	}
	return dups
}
