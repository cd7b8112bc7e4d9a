// Package tarfs moves tar streams into and out of a root directory without
// ever touching anything outside it.
//
// Every path in a stream, and every directory a caller names, is resolved
// inside the root the way a container would see it: an absolute path or a
// symlink to "/etc" means root/etc, ".." stops at the root (openat2 with
// RESOLVE_IN_ROOT, so the kernel enforces it, symlink races included). The
// last component of an entry is never followed: an existing file or symlink
// there is replaced, not written through. Device nodes are skipped; image
// layer whiteouts (".wh.name", ".wh..wh..opq") are honoured when asked.
//
// It needs Linux 5.6 or later (openat2).
package tarfs
