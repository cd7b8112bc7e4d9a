package apk

import (
	"errors"
	"fmt"
	"strings"
)

// Dep is one dependency string as apk-tools 2.14 reads it (apk_blob_pull_dep)
// from depends=, makedepends=, provides=, install_if=, the D:, p: and i:
// fields of an index and the world file:
//
//	[!]name[@tag][op version]
//
// Names are whatever apk allows, so so:libc.musl-x86_64.so.1,
// cmd:foo=1.2-r0 and pc:glib-2.0>=2.70 parse like any other.
type Dep struct {
	Name string
	// Op is one of "" (any version), "=", "<", "<=", ">", ">=", "~"
	// (fuzzy: same leading tokens), "<~", ">~" (less or greater, or fuzzy
	// equal), and "><" (Version is a package checksum, Q1...). ParseDep
	// writes operators in this form: "=>" becomes ">=", "<>" becomes "><".
	Op      string
	Version string
	// Conflict is a leading '!': no package matching the rest may be
	// installed.
	Conflict bool
	// Tag is the repository tag after '@' (foo@testing), without the '@'.
	Tag string
}

// The result bits of a version comparison, as apk combines them into the
// mask of a dependency operator.
const (
	depEqual   = 1
	depLess    = 2
	depGreater = 4
	depFuzzy   = 8

	depAny      = depEqual | depLess | depGreater | depFuzzy
	depChecksum = depLess | depGreater
)

// depOps maps the mask of an operator to the form Op uses. Masks missing
// here (<=> and <=>~, which match every version) are refused by ParseDep.
var depOps = map[int]string{
	depEqual:                         "=",
	depLess:                          "<",
	depLess | depEqual:               "<=",
	depGreater:                       ">",
	depGreater | depEqual:            ">=",
	depFuzzy | depEqual:              "~",
	depLess | depEqual | depFuzzy:    "<~",
	depGreater | depEqual | depFuzzy: ">~",
	depChecksum:                      "><",
}

// depIsOpByte reports whether c is one of apk's comparison characters.
func depIsOpByte(c byte) bool {
	return c == '<' || c == '=' || c == '>' || c == '~'
}

// depOpMask returns the mask of an operator written with any of the
// characters < = > ~ in any order, as apk reads it.
func depOpMask(op string) (int, bool) {
	if op == "" {
		return depAny, true
	}
	mask := 0
	for i := 0; i < len(op); i++ {
		switch op[i] {
		case '<':
			mask |= depLess
		case '>':
			mask |= depGreater
		case '=':
			mask |= depEqual
		case '~':
			mask |= depFuzzy | depEqual
		default:
			return 0, false
		}
	}
	return mask, true
}

// ParseDep parses one dependency. It accepts what apk-tools 2.14 accepts
// for a single dependency, with three exceptions where apk takes nonsense
// without complaint: an empty name ("=1.0", "!"), an empty tag ("foo@") and
// an operator that matches every version ("foo<=>1"). The version after an
// operator must be one apk accepts (ValidVersion), except after "><", where
// it is a checksum.
func ParseDep(s string) (Dep, error) {
	var d Dep
	if s == "" {
		return d, errors.New("parse dependency: empty string")
	}
	if i := strings.IndexAny(s, " \n"); i >= 0 {
		return d, fmt.Errorf("parse dependency %q: separator %q at byte %d: one dependency expected", s, s[i], i)
	}
	rest := s
	if rest[0] == '!' {
		d.Conflict = true
		rest = rest[1:]
	}
	name := rest
	if i := strings.IndexAny(rest, "<=>~"); i >= 0 {
		name = rest[:i]
		j := i
		for j < len(rest) && depIsOpByte(rest[j]) {
			j++
		}
		op, ver := rest[i:j], rest[j:]
		at := len(s) - len(rest) + i // byte offset of the operator in s
		if ver == "" {
			return Dep{}, fmt.Errorf("parse dependency %q: no version after operator %q at byte %d", s, op, at)
		}
		mask, _ := depOpMask(op)
		canon, ok := depOps[mask]
		if !ok {
			return Dep{}, fmt.Errorf("parse dependency %q: operator %q at byte %d matches every version", s, op, at)
		}
		if mask != depChecksum && !ValidVersion(ver) {
			return Dep{}, fmt.Errorf("parse dependency %q: invalid version %q at byte %d", s, ver, j+len(s)-len(rest))
		}
		d.Op, d.Version = canon, ver
	}
	if i := strings.IndexByte(name, '@'); i >= 0 {
		name, d.Tag = name[:i], name[i+1:]
		if d.Tag == "" {
			return Dep{}, fmt.Errorf("parse dependency %q: empty repository tag after '@'", s)
		}
	}
	if name == "" {
		return Dep{}, fmt.Errorf("parse dependency %q: empty package name", s)
	}
	d.Name = name
	return d, nil
}

// String formats d the way apk writes a dependency; ParseDep(d.String())
// gives d back for every d that ParseDep returned.
func (d Dep) String() string {
	var b strings.Builder
	b.Grow(len(d.Name) + len(d.Tag) + len(d.Op) + len(d.Version) + 2)
	if d.Conflict {
		b.WriteByte('!')
	}
	b.WriteString(d.Name)
	if d.Tag != "" {
		b.WriteByte('@')
		b.WriteString(d.Tag)
	}
	if d.Op != "" {
		b.WriteString(d.Op)
		b.WriteString(d.Version)
	}
	return b.String()
}

// Satisfies reports whether a package (or provider) of the given version is
// acceptable under d, with apk-tools 2.14's rules (apk_dep_is_provided):
//
//   - No operator: every version matches.
//   - "~" matches when the versions agree token by token until either one
//     ends; in apk 2.14 that works both ways, so "1.2.5", "1.2_rc1" and
//     also "1" match ~1.2, while "1.20" and "1.3" do not.
//   - "<~" and ">~" match the fuzzy-equal versions and the lesser or
//     greater ones.
//   - "><" compares checksums: version must be the package's checksum,
//     and it matches when the two strings are equal.
//   - The empty version stands for a provider without a version (a p:
//     entry without "="): it matches only a dependency without operator.
//   - Conflict inverts the answer.
//
// A Dep with an operator ParseDep never writes satisfies nothing.
func (d Dep) Satisfies(version string) bool {
	mask, ok := depOpMask(d.Op)
	if !ok {
		return false
	}
	var match bool
	switch {
	case mask == depAny:
		match = true
	case version == "":
		match = false
	case mask == depChecksum:
		match = version == d.Version
	default:
		var r int
		switch verCompare(version, d.Version, mask&depFuzzy != 0) {
		case -1:
			r = depLess
		case 0:
			r = depEqual
		default:
			r = depGreater
		}
		match = r&mask != 0
	}
	return match != d.Conflict
}
