package site

import (
	"fmt"
	"strings"
)

// fileName turns a name from the state (a pkgname, an arch) into one path
// element: letters, digits and "._+-" stay, every other byte becomes "~"
// and two hex digits (as does a leading "."), so different names never
// share a file and no name climbs out of its directory.
func fileName(name string) string {
	ok := name != "" && name[0] != '.'
	for i := 0; ok && i < len(name); i++ {
		ok = plainByte(name[i])
	}
	if ok {
		return name
	}
	var b strings.Builder
	for i := 0; i < len(name); i++ {
		c := name[i]
		if plainByte(c) && (i > 0 || c != '.') {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "~%02x", c)
		}
	}
	return b.String()
}

func plainByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '+' || c == '-' || c == '_'
}

// pkgPath is the site path of a package page.
func pkgPath(name string) string { return "pkg/" + fileName(name) + ".html" }

// runPath is the site path of a run page.
func runPath(id string) string { return "run/" + id + ".html" }

// logPaths maps an attempt's log (relative to the state directory,
// "logs/<arch>/<pkgname>/<version>-<n>.log.gz") to the site paths of its
// page and of its raw copy. ok is false for anything else: a path from the
// state that leaves logs/ is never read.
func logPaths(log string) (page, raw string, ok bool) {
	rest, ok := strings.CutPrefix(log, "logs/")
	if !ok {
		return "", "", false
	}
	stem, ok := strings.CutSuffix(rest, ".log.gz")
	if !ok {
		return "", "", false
	}
	parts := strings.Split(rest, "/")
	if len(parts) != 3 {
		return "", "", false
	}
	for _, p := range parts {
		if p == "" || p[0] == '.' {
			return "", "", false
		}
		for i := 0; i < len(p); i++ {
			if !plainByte(p[i]) {
				return "", "", false
			}
		}
	}
	return "log/" + stem + ".html", log, true
}
