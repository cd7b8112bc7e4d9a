// Package published loads the indexes a plan is made against: each arch's
// published APKINDEX.tar.gz (from the repository on disk or from a URL) and
// the upstream indexes that provide what the tree lacks. This is where the
// planner's I/O lives; runner/plan itself reads nothing.
//
// A published index must be signed by a configured key: one that is
// unsigned or signed by an unknown key is an error, never an empty repo. A
// missing published index (no file, HTTP 404) is an empty repo, so a new
// repository bootstraps. Downloads use conditional requests (ETag,
// Last-Modified) against a small cache, with a timeout.
package published
