// Package apkbuild reads APKBUILD trees the way abuild's shell does, per
// arch, without running anything from the tree.
//
// # API
//
//	f, err := apkbuild.Parse(dir, src)     // parse once (syntax errors: file:line)
//	a := f.Eval(ctx, "aarch64")            // evaluate per arch: *Aport, never a panic
//	res, err := apkbuild.Scan(ctx, root, apkbuild.ScanOptions{
//		Arches: []string{"x86_64", "aarch64"}, Exclude: []string{"device/archived"},
//		CacheDir: dir, Logger: log})     // a whole tree, in parallel, cached
//
// Scan's result holds, per arch, every aport's Aport sorted by path
// (Applies says whether it is built for that arch; Error, with file:line,
// whether it could be read), the package names produced by two aports
// (Duplicates, with both paths) and Errors(). A bad APKBUILD is a result,
// never Scan's error, and the scan goes on.
//
// # Evaluation
//
// An APKBUILD is parsed with mvdan.cc/sh/v3/syntax (bash dialect: abuild's
// busybox ash accepts ${v/a/b}, local, ...) and run with
// mvdan.cc/sh/v3/interp with the variables abuild sets before sourcing it
// (Environ: CARCH, CBUILD, CHOST, CTARGET as abuild's arch_to_hostspec,
// CLIBC=musl, startdir, srcdir, pkgbasedir; CBUILD is CARCH: native builds).
// Every way out of the process is a handler of ours:
//
//   - programs: never run. Text tools (sed, tr, cut, ...) inside $(...)
//     fail with status 127 and a warning; any other program is an error for
//     the aport. Builtins (echo, printf, test, ...) run in the interpreter,
//     so $(echo ...) is evaluated.
//   - files: never opened (only /dev/null is emulated), so `. file`,
//     `> file` and `< file` are errors; stat and globbing find nothing.
//   - PATH lookups (command -v, type, hash) fail with a warning.
//
// Functions are not run. abuild runs each split function in a fresh shell
// that sourced the APKBUILD, after its pre_split emptied provides and
// install_if; here each subpackage runs a copy of its split function that
// keeps only assignments, local/export, if/case/for/&&/|| and calls of
// other shell functions (themselves reduced the same way; a dropped
// command counts as succeeding), in a subshell after the top level with
// provides and install_if emptied, and depends, provides, install_if, arch
// and pkgdesc are read after it. depends and pkgdesc are inherited from
// the top level (depends="" resets it, as in abuild). abuild's default
// split functions (doc, dev, dbg, static, libs, openrc, systemd, udev,
// devhelp, lang, the completions, pyc, nftrules) are modelled for what
// they assign (preludeSrc); the subpackage name, function and arch follow
// abuild's subpkg_set (SplitSpec).
//
// Brace expansion is disabled (ash has none). Lists are split on blanks;
// a word starting with # ends its line's words (a comment inside a quoted
// multi-line list: the shell keeps it, abuild would choke on it).
//
// # Limits
//
// Per aport and arch: a time limit (DefaultTimeout, 2 s), a file size
// limit (1 MiB), a variable size limit (1 MiB each, 4 MiB in all; checked
// after every assignment that expands something and on eval), a printf
// field width limit, and at most 256 expansions in one word, which bounds
// what a single statement can allocate before it is checked.
//
// # Tree walk and speed
//
// A directory holding an APKBUILD is an aport and is not searched further
// (each aport costs one lstat; its directory is never listed); hidden
// directories and symbolic links are not followed, and an APKBUILD that is
// a symbolic link is an error for its aport. Aports are parsed once and
// evaluated for every arch on ScanOptions.Jobs goroutines, starting while
// the tree is still being walked. Results wait for
// the end of the scan encoded (no pointers for the collector to trace), and
// Scan holds a 64 MiB pointer-free heap ballast while it runs so that the
// collector does not run every few megabytes of evaluation garbage.
//
// # Cache
//
// With ScanOptions.CacheDir, results are kept in one binary index per tree
// root (cache.go), keyed by aport path and content hash, with the file's
// stamp so that an unchanged APKBUILD is not even read. The format version
// and EvaluatorVersion are in the header: bump EvaluatorVersion whenever a
// change can change results. Results that hit the time limit are not
// cached.
//
// # Proof
//
// TestAshAgreement sources every fixture in testdata/aports with the real
// busybox ash of the Alpine minirootfs (internal/alpinetest) for x86_64,
// aarch64 and armv7 and requires the same raw value for every variable in
// TopLevelVars. TestHostile and TestNoProgramsNoFiles (strace) show that
// hostile APKBUILDs are contained.
package apkbuild
