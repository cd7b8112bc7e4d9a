package apkbuild

// Aport is what one APKBUILD declares when evaluated for one arch. List
// fields keep the APKBUILD's order. JSON names are the APKBUILD's variable
// names; `run parse --json` prints this struct.
type Aport struct {
	Path string `json:"path"`  // aport directory, relative to the tree root when scanned
	Hash string `json:"hash"`  // content hash of the APKBUILD (hex SHA-256)
	Arch string `json:"carch"` // the CARCH this result was evaluated for

	Pkgname          string       `json:"pkgname"`
	Pkgver           string       `json:"pkgver"`
	Pkgrel           string       `json:"pkgrel"`
	Pkgdesc          string       `json:"pkgdesc,omitempty"`
	URL              string       `json:"url,omitempty"`
	License          string       `json:"license,omitempty"`
	Arches           []string     `json:"arch"` // the arch= list as written: "all", "noarch", names, "!name"
	Depends          []string     `json:"depends"`
	Makedepends      []string     `json:"makedepends"`
	MakedependsBuild []string     `json:"makedepends_build"`
	MakedependsHost  []string     `json:"makedepends_host"`
	Checkdepends     []string     `json:"checkdepends"`
	Provides         []string     `json:"provides"`
	ProviderPriority string       `json:"provider_priority,omitempty"`
	Replaces         []string     `json:"replaces"`
	InstallIf        []string     `json:"install_if"`
	Options          []string     `json:"options"`
	Source           []string     `json:"source"`
	Subpackages      []Subpackage `json:"subpackages"`

	// Applies says whether this aport is built for Arch (arch= has "all",
	// "noarch" or Arch, and no "!Arch").
	Applies bool `json:"applies"`
	// Warnings are constructs that were not evaluated (a $(...) that needs
	// an external program, say), each with file:line.
	Warnings []string `json:"warnings,omitempty"`
	// Error is set, with file:line, when the APKBUILD could not be read;
	// the other fields are then unreliable.
	Error string `json:"error,omitempty"`
}

// Subpackage is one entry of subpackages= ("name:func:arch") and what its
// split function assigns.
type Subpackage struct {
	Name      string   `json:"name"`
	Func      string   `json:"func,omitempty"` // split function; default derived as abuild does
	Arches    []string `json:"arch,omitempty"` // own arch ("name:func:arch" or arch= in the function)
	Pkgdesc   string   `json:"pkgdesc,omitempty"`
	Depends   []string `json:"depends"` // inherited from the aport unless the function assigns it
	Provides  []string `json:"provides"`
	InstallIf []string `json:"install_if"`

	captured bool // the split stage read it (during evaluation only)
}

// Version returns pkgver-rpkgrel, the version apk records for the aport's
// packages.
func (a *Aport) Version() string { return a.Pkgver + "-r" + a.Pkgrel }

// HasOption reports whether options= contains opt (such as "net" or "!check").
func (a *Aport) HasOption(opt string) bool {
	for _, o := range a.Options {
		if o == opt {
			return true
		}
	}
	return false
}

// Noarch reports whether the aport builds arch-independent packages.
func (a *Aport) Noarch() bool {
	for _, x := range a.Arches {
		if x == "noarch" {
			return true
		}
	}
	return false
}
