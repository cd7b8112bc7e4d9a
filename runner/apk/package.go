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
