package apkbuild

import "github.com/apkfarm/apkfarm/runner/apk"

// validVersion reports whether apk accepts v (pkgver-rpkgrel), which is
// what abuild checks with `apk version --check`.
func validVersion(v string) bool { return apk.ValidVersion(v) }
