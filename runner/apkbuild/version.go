package apkbuild

import "regexp"

// versionRE is apk's version grammar: digits separated by dots, an
// optional letter, suffixes (_alpha, _rc2, _p1, ...), an optional ~hash
// and -rN.
//
// TODO: use apk.ValidVersion once runner/apk has it.
var versionRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)*[a-z]?(_(alpha|beta|pre|rc|cvs|svn|git|hg|p)[0-9]*)*(~[0-9a-f]+)?(-r[0-9]+)?$`)

func validVersion(v string) bool { return versionRE.MatchString(v) }
