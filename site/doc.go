// Package site renders apkfarm's state into a static status site: an
// overview, the aport × arch matrix, a page per package, per build log and
// per run, the run history, Markdown pages, and machine outputs for
// monitoring (failed.json, feed.atom, metrics.prom, SVG badges and
// shields.io endpoints). docs/site.md describes every file.
//
// Render reads only the state directory (status.json, runs/, live.json and
// the logs) and writes only the output directory. The site needs no server
// logic: every link is relative, so it works from file:// and from any
// path of any mirror, and the only script (static/site.js) adds filtering,
// relative times and the "building now" panel on top of pages that read
// well without it.
//
// Rendering is deterministic: the same state and Options.Now give the same
// bytes. A file whose bytes did not change is not rewritten, so its mtime
// stays and rsync moves only what changed; the page of a build log is
// immutable once written and is not rendered again. Templates (package
// directory templates/) and static files (static/) are embedded and can be
// overridden file by file from a directory.
package site
