package apkbuild

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"mvdan.cc/sh/v3/expand"
	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// EvaluatorVersion names the evaluator's semantics. Change it whenever a
// code change can change an Aport for the same APKBUILD: it is part of the
// cache key, so old cache entries are then not used.
const EvaluatorVersion = "apkbuild-eval-6"

const timeLimitMsg = "time limit"

// DefaultTimeout is the default time limit for evaluating one APKBUILD for
// one arch.
const DefaultTimeout = 2 * time.Second

// Hostspec returns the GNU triplet abuild uses for an apk arch (abuild's
// arch_to_hostspec), and false for an arch it does not know.
func Hostspec(arch string) (string, bool) {
	h, ok := hostspecs[arch]
	return h, ok
}

var hostspecs = map[string]string{
	"aarch64":      "aarch64-alpine-linux-musl",
	"armel":        "armv5-alpine-linux-musleabi",
	"armhf":        "armv6-alpine-linux-musleabihf",
	"armv7":        "armv7-alpine-linux-musleabihf",
	"loongarch32":  "loongarch32-alpine-linux-musl",
	"loongarchx32": "loongarchx32-alpine-linux-musl",
	"loongarch64":  "loongarch64-alpine-linux-musl",
	"mips":         "mips-alpine-linux-musl",
	"mips64":       "mips64-alpine-linux-musl",
	"mipsel":       "mipsel-alpine-linux-musl",
	"mips64el":     "mips64el-alpine-linux-musl",
	"ppc":          "powerpc-alpine-linux-musl",
	"ppc64":        "powerpc64-alpine-linux-musl",
	"ppc64le":      "powerpc64le-alpine-linux-musl",
	"riscv32":      "riscv32-alpine-linux-musl",
	"riscv64":      "riscv64-alpine-linux-musl",
	"s390x":        "s390x-alpine-linux-musl",
	"x86":          "i586-alpine-linux-musl",
	"x86_64":       "x86_64-alpine-linux-musl",
}

// StartDir is the directory an aport at rel (relative to the tree root)
// is evaluated in: abuild's $startdir. It is a fixed virtual path, so that
// results do not depend on where the tree is checked out; nothing is read
// from it.
func StartDir(rel string) string {
	return path.Join("/aports", filepathToSlash(rel))
}

// Environ returns the variables abuild sets before it sources an APKBUILD
// for a native build on arch, in "NAME=value" form: CARCH, CBUILD, CHOST,
// CTARGET (and their _ARCH forms), CLIBC, CTARGET_LIBC, startdir, srcdir, pkgbasedir,
// tmpdir and repo (the name of the directory above the aport).
func Environ(arch, startdir string) []string {
	host, _ := Hostspec(arch)
	return []string{
		"CARCH=" + arch,
		"CBUILD=" + host,
		"CHOST=" + host,
		"CTARGET=" + host,
		"CBUILD_ARCH=" + arch,
		"CTARGET_ARCH=" + arch,
		"CLIBC=musl",
		"CTARGET_LIBC=musl",
		"startdir=" + startdir,
		"srcdir=" + startdir + "/src",
		"pkgbasedir=" + startdir + "/pkg",
		"tmpdir=" + startdir + "/tmp",
		"repo=" + path.Base(path.Dir(startdir)),
		"HOME=/home/build",
		"PATH=/usr/bin:/bin",
	}
}

// textTools are programs that top-level $(...) commonly pipes through
// (pkgver=$(echo $_v | sed ...)). They are not run either: the command
// fails with status 127 and the aport gets a warning. Any other program is
// an error for the aport.
var textTools = map[string]bool{
	"sed": true, "tr": true, "cut": true, "awk": true, "grep": true, "head": true,
	"tail": true, "basename": true, "dirname": true, "date": true, "uname": true,
	"expr": true, "seq": true, "wc": true, "sort": true, "uniq": true, "rev": true,
	"cat": true, "od": true, "xargs": true, "nproc": true, "getconf": true,
}

// refused are builtins that would look outside the aport (PATH lookups,
// sourcing files) or reach the process; calling one is an error.
var refused = map[string]bool{
	"source": true, ".": true, "exec": true, "kill": true, "umask": true,
	"ulimit": true, "bg": true, "fg": true, "jobs": true, "wait": true,
	"fc": true, "newgrp": true, "bind": true, "enable": true,
}

// unresolved are builtins that answer from PATH: they fail (status 1) with
// a warning, as if nothing were installed.
var unresolved = map[string]bool{"command": true, "type": true, "hash": true, "which": true}

// evaluation is the state of one Eval: what the handlers saw. The handlers
// hold mu: the two sides of a pipeline run at the same time.
type evaluation struct {
	mu        sync.Mutex
	f         *File
	warnings  []string
	seen      map[string]bool
	lastLine  atomic.Int64
	split     bool // evaluating split functions: programs only warn
	calls     int
	funcCalls int
	firstCall int // line of the first function or eval call

	topDone bool         // the split stage began: top holds the top level
	top     []topVar     // CapturedVars, after the top level (see get)
	entries []Subpackage // from subpackages=, filled by the split stage
	next    int          // entries[next-1] is the subpackage whose split function runs
	current string       // its name
	fatal   error
}

func (e *evaluation) warnf(line int, format string, args ...any) {
	msg := fmt.Sprintf("%s:%d: %s", e.f.name, line, fmt.Sprintf(format, args...))
	if e.seen[msg] {
		return
	}
	if e.seen == nil {
		e.seen = map[string]bool{}
	}
	e.seen[msg] = true
	e.warnings = append(e.warnings, msg)
}

func (e *evaluation) errorf(line int, format string, args ...any) error {
	err := fmt.Errorf("%s:%d: %s", e.f.name, line, fmt.Sprintf(format, args...))
	if e.fatal == nil {
		e.fatal = err
	}
	return err
}

func (e *evaluation) call(ctx context.Context, args []string) ([]string, error) {
	e.mu.Lock() // pipelines run their left side in another goroutine
	defer e.mu.Unlock()
	if e.fatal != nil {
		return nil, e.fatal
	}
	hc := interp.HandlerCtx(ctx)
	line := int(hc.Pos.Line())
	if line > 0 && !e.split {
		e.lastLine.Store(int64(line))
	}
	if len(args) >= 2 && strings.HasPrefix(args[1], markerPrefix) {
		switch args[1] {
		case lineMarker:
			return args, nil
		case checkMarker:
		default:
			return e.marker(hc, args)
		}
		if len(args) == 2 {
			return args, e.checkSizes(hc.Env, line)
		}
		for _, n := range args[2:] {
			if err := e.checkVar(n, hc.Env.Get(n), line); err != nil {
				return nil, err
			}
		}
		return args, nil
	}
	// Output captured by $(...) grows in a buffer: a loop of echo could
	// fill memory before the time limit.
	if b, ok := hc.Stdout.(interface{ Len() int }); ok && b.Len() > 4*e.f.limits.MaxVarSize {
		return nil, e.errorf(line, "evaluate APKBUILD: command substitution output over the limit of %d bytes", 4*e.f.limits.MaxVarSize)
	}
	// Assignments are checked where they happen (see instrument); eval
	// runs code that was not instrumented, and every 64th call checks all
	// in case something else grew.
	if args[0] == "eval" {
		e.calls++
		if err := e.checkSizes(hc.Env, line); err != nil {
			return nil, err
		}
	} else if err := e.count(hc.Env, line); err != nil {
		return nil, err
	}
	name := args[0]
	if e.f.funcs.has(name) || name == "eval" || strings.HasPrefix(name, splitPrefix) {
		// The interpreter recurses on the Go stack: an endless recursion
		// would crash the process before the time limit.
		limit := maxFuncCalls
		if e.split {
			limit = 20 * maxFuncCalls // a few calls per subpackage
		}
		if e.funcCalls++; e.funcCalls == 1 {
			e.firstCall = line // where the recursion entered
		}
		if e.funcCalls > limit {
			return nil, e.errorf(e.firstCall, "evaluate APKBUILD: more than %d function calls (endless recursion?)", limit)
		}
	}
	switch {
	case refused[name]:
		if e.split {
			e.warnf(line, "%s in a split function: not run", name)
			return []string{"false"}, nil
		}
		return nil, e.errorf(line, "run %q: builtin not allowed in an APKBUILD read by apkfarm", name)
	case unresolved[name]:
		e.warnf(line, "%s %s: PATH is not searched while reading APKBUILDs; status 1", name, strings.Join(args[1:], " "))
		return []string{"false"}, nil
	case name == "pwd":
		// pwd -P resolves symbolic links on the host: the logical
		// directory is the answer here.
		return []string{"pwd"}, nil
	case name == "printf" && len(args) > 1:
		if w := printfWidth(args[1:]); w > e.f.limits.MaxVarSize {
			return nil, e.errorf(line, "evaluate printf: field width %d is over the limit of %d", w, e.f.limits.MaxVarSize)
		}
		if n := printfOutput(args[1:]); n > 4*e.f.limits.MaxVarSize {
			return nil, e.errorf(line, "evaluate printf: output of about %d bytes is over the limit of %d", n, 4*e.f.limits.MaxVarSize)
		}
	case name == "eval" && line > 1 && len(args) > 1:
		// The interpreter parses eval'd text on its own, from line 1:
		// start it at the eval's line, so that what happens in it is
		// reported there (and its later lines below it).
		return append([]string{"eval", strings.Repeat("\n", line-1)}, args[1:]...), nil
	}
	return args, nil
}

// count counts a call, and every 64th checks the size of all variables.
func (e *evaluation) count(env expand.Environ, line int) error {
	if e.calls++; e.calls%64 == 0 {
		return e.checkSizes(env, line)
	}
	return nil
}

// maxFuncCalls bounds the shell function calls of the top level (twenty
// times as many for the split stage). Real APKBUILDs call a handful.
const maxFuncCalls = 1000

// printfWidth returns the largest field width or precision printf's
// arguments can ask for: in any format (-v moves it), and any number
// argument when a format takes its width from one (%*d).
func printfWidth(args []string) int {
	m, star := 0, false
	for _, a := range args {
		m = max(m, maxWidth(a))
		star = star || strings.Contains(a, "*")
	}
	if star {
		for _, a := range args {
			if n, err := strconv.Atoi(strings.TrimSpace(a)); err == nil {
				m = max(m, n, -n)
			} else if strings.TrimLeft(strings.TrimSpace(a), "+-0123456789") == "" && strings.TrimSpace(a) != "" {
				return int(^uint(0) >> 1) // a number too large for int
			}
		}
	}
	return m
}

// printfOutput estimates an upper bound of printf's output without widths:
// the format is used again until the arguments run out.
func printfOutput(args []string) int {
	if len(args) > 0 && args[0] == "-v" {
		args = args[min(2, len(args)):]
	}
	if len(args) == 0 {
		return 0
	}
	format, rest := args[0], args[1:]
	convs := strings.Count(format, "%") - 2*strings.Count(format, "%%")
	rounds := 1
	if convs > 0 && len(rest) > convs {
		rounds = (len(rest) + convs - 1) / convs
	}
	n := rounds * len(format)
	for _, a := range rest {
		n += len(a)
	}
	return n
}

// maxWidth returns the largest field width or precision in a printf format.
func maxWidth(format string) int {
	m := 0
	for i := 0; i < len(format); i++ {
		if format[i] != '%' {
			continue
		}
		j := i + 1
		for j < len(format) && strings.IndexByte("-+ #0.123456789", format[j]) >= 0 {
			j++
		}
		for _, part := range strings.FieldsFunc(format[i+1:j], func(r rune) bool { return r < '0' || r > '9' }) {
			n, err := strconv.Atoi(part)
			if err != nil {
				return int(^uint(0) >> 1)
			}
			m = max(m, n)
		}
		i = j
	}
	return m
}

func varSize(vr expand.Variable) int {
	n := len(vr.Str)
	for _, s := range vr.List {
		n += len(s)
	}
	for _, s := range vr.Map {
		n += len(s)
	}
	return n
}

func (e *evaluation) checkVar(name string, vr expand.Variable, line int) error {
	if n := varSize(vr); n > e.f.limits.MaxVarSize {
		return e.errorf(line, "evaluate APKBUILD: variable %s holds %d bytes, over the limit of %d", name, n, e.f.limits.MaxVarSize)
	}
	return nil
}

func (e *evaluation) checkSizes(env expand.Environ, line int) error {
	total := 0
	var err error
	env.Each(func(name string, vr expand.Variable) bool {
		n := varSize(vr)
		total += n
		if n > e.f.limits.MaxVarSize {
			err = e.errorf(line, "evaluate APKBUILD: variable %s holds %d bytes, over the limit of %d", name, n, e.f.limits.MaxVarSize)
			return false
		}
		if total > 4*e.f.limits.MaxVarSize {
			err = e.errorf(line, "evaluate APKBUILD: variables hold over %d bytes", 4*e.f.limits.MaxVarSize)
			return false
		}
		return true
	})
	return err
}

func (e *evaluation) exec(ctx context.Context, args []string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	hc := interp.HandlerCtx(ctx)
	line := int(hc.Pos.Line())
	if fn, ok := strings.CutPrefix(args[0], splitPrefix); ok {
		e.warnf(e.f.lines["subpackages"], "subpackage %q: split function %s is not defined for %s", e.current, fn, hc.Env.Get("CARCH").String())
		return interp.ExitStatus(127)
	}
	if textTools[args[0]] || e.split {
		// Its stdin is not read: the writer of a pipeline gets EPIPE when
		// the pipeline ends.
		e.warnf(line, "%s: external programs are not run while reading APKBUILDs; status 127, no output", args[0])
		return interp.ExitStatus(127)
	}
	return e.errorf(line, "run %q: external programs are not run while reading APKBUILDs", strings.Join(args, " "))
}

func (e *evaluation) open(ctx context.Context, name string, flag int, perm os.FileMode) (io.ReadWriteCloser, error) {
	if name == os.DevNull || name == "/dev/null" {
		return devNull{}, nil
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	line := int(interp.HandlerCtx(ctx).Pos.Line())
	if line == 0 {
		line = int(e.lastLine.Load())
	}
	return nil, e.errorf(line, "open %q: APKBUILDs may not open files", name)
}

func (e *evaluation) readDir(ctx context.Context, name string) ([]fs.DirEntry, error) {
	// Globs match nothing, so they stay as written.
	return nil, &fs.PathError{Op: "readdir", Path: name, Err: fs.ErrPermission}
}

func (e *evaluation) stat(ctx context.Context, name string, follow bool) (fs.FileInfo, error) {
	return nil, &fs.PathError{Op: "stat", Path: name, Err: fs.ErrNotExist}
}

func (e *evaluation) access(ctx context.Context, name string, mode interp.AccessMode) error {
	return &fs.PathError{Op: "access", Path: name, Err: fs.ErrNotExist}
}

// tildeEnv answers the interpreter's "HOME name" lookups for ~name, which
// would otherwise read the host's user database (os/user): ~root is
// /root, any other name stays as written, as in a build container where
// only root has a home.
type tildeEnv struct{ expand.Environ }

func (e tildeEnv) Get(name string) expand.Variable {
	if user, ok := strings.CutPrefix(name, "HOME "); ok {
		home := "~" + user
		if user == "root" {
			home = "/root"
		}
		return expand.Variable{Set: true, Kind: expand.String, Str: home}
	}
	return e.Environ.Get(name)
}

// baseEnv holds the variables of Environ as expand.ListEnviron would,
// with the same answers (TestBaseEnv), but without parsing "NAME=value"
// on every lookup: the variables an APKBUILD reads without setting them
// are looked up here. It is sorted by name.
type baseEnv []struct{ name, value string }

// newBaseEnv returns the environment of pairs ("NAME=value"), whose names
// are distinct and not empty, as Environ's are.
func newBaseEnv(pairs []string) baseEnv {
	e := make(baseEnv, len(pairs))
	for i, p := range pairs {
		e[i].name, e[i].value, _ = strings.Cut(p, "=")
	}
	slices.SortFunc(e, func(a, b struct{ name, value string }) int { return strings.Compare(a.name, b.name) })
	return e
}

func (e baseEnv) Get(name string) expand.Variable {
	for _, v := range e {
		if v.name == name {
			return expand.Variable{Set: true, Exported: true, Kind: expand.String, Str: v.value}
		}
	}
	return expand.Variable{}
}

func (e baseEnv) Each(fn func(name string, vr expand.Variable) bool) {
	for _, v := range e {
		if !fn(v.name, expand.Variable{Set: true, Exported: true, Kind: expand.String, Str: v.value}) {
			return
		}
	}
}

type devNull struct{}

func (devNull) Read([]byte) (int, error)    { return 0, io.EOF }
func (devNull) Write(p []byte) (int, error) { return len(p), nil }
func (devNull) Close() error                { return nil }

// newRunner returns an interpreter whose every way out of the process is a
// handler of e: no program runs, no file opens, no directory is read.
func (e *evaluation) newRunner(arch, startdir string) (*interp.Runner, error) {
	r, err := interp.New(
		interp.Env(tildeEnv{newBaseEnv(Environ(arch, startdir))}),
		interp.StdIO(nil, io.Discard, io.Discard),
		interp.CallHandler(e.call),
		interp.ExecHandlers(func(next interp.ExecHandlerFunc) interp.ExecHandlerFunc { return e.exec }),
		interp.OpenHandler(e.open),
		interp.ReadDirHandler2(e.readDir),
		interp.StatHandler(e.stat),
		interp.AccessHandler(e.access),
		// Set the directory directly: interp.Dir and the default both stat
		// the host's file system.
		func(r *interp.Runner) error { r.Dir = startdir; return nil },
	)
	if err != nil {
		return nil, err
	}
	return r, nil
}

// EvalOptions are the knobs of Eval.
type EvalOptions struct {
	// Rel is the aport's path relative to the tree root, which sets
	// $startdir (see StartDir). Empty means the File's Path.
	Rel string
	// Timeout bounds the evaluation for one arch (DefaultTimeout if zero).
	Timeout time.Duration
}

// Eval evaluates the APKBUILD for arch as abuild's shell would see it
// after sourcing it, and reads the split functions of its subpackages.
// Problems are reported in the result's Error and Warnings, never as a
// panic; Eval never runs a program, opens a file or reads a directory.
func (f *File) Eval(ctx context.Context, arch string) *Aport {
	return f.EvalWith(ctx, arch, EvalOptions{})
}

// EvalWith is Eval with options.
func (f *File) EvalWith(ctx context.Context, arch string, opts EvalOptions) *Aport {
	a := &Aport{Path: f.Path, Hash: f.Hash, Arch: arch}
	e, err := f.run(ctx, arch, opts)
	if e != nil {
		a.Warnings = e.warnings
	}
	if err != nil {
		a.Error = err.Error()
		normalize(a)
		return a
	}
	fillAport(a, e.get)
	if msg := f.validate(a); msg != "" {
		a.Error = msg
	}
	a.Subpackages = e.subpackages(a)
	a.Warnings = e.warnings
	normalize(a)
	return a
}

// run evaluates the program: the prelude, the APKBUILD, then the split
// stage (see split.go), in one interpreter run.
func (f *File) run(ctx context.Context, arch string, opts EvalOptions) (*evaluation, error) {
	if f.prog == nil {
		return nil, fmt.Errorf("%s: evaluate APKBUILD: not parsed", f.name)
	}
	if _, ok := Hostspec(arch); !ok {
		return nil, fmt.Errorf("evaluate %s: unknown arch %q", f.name, arch)
	}
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	rel := opts.Rel
	if rel == "" {
		rel = f.Path
	}
	e := &evaluation{f: f}
	r, err := e.newRunner(arch, StartDir(rel))
	if err != nil {
		return e, fmt.Errorf("evaluate %s: %w", f.name, err)
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err = runSafely(ctx, r, f.prog)
	var problem error
	switch {
	case e.fatal != nil:
		problem = e.fatal
	case ctx.Err() != nil:
		line := e.lastLine.Load()
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			problem = fmt.Errorf("%s:%d: evaluate APKBUILD: %s of %v exceeded", f.name, line, timeLimitMsg, timeout)
		} else {
			problem = fmt.Errorf("%s: evaluate APKBUILD: %w", f.name, ctx.Err())
		}
	case r.Exited() && !e.topDone:
		problem = fmt.Errorf("%s:%d: evaluate APKBUILD: exit at top level", f.name, e.lastLine.Load())
	case err != nil:
		var es interp.ExitStatus
		if !errors.As(err, &es) {
			problem = fmt.Errorf("%s: evaluate APKBUILD: %w", f.name, err)
		}
		// The status of the last command does not matter: abuild sources
		// the file and goes on.
	}
	if problem != nil && e.topDone {
		// The top level was read; only split functions are missing.
		e.warnf(f.lines["subpackages"], "split functions not all evaluated: %v", problem)
		problem = nil
	}
	if problem == nil && !e.topDone {
		problem = fmt.Errorf("%s:%d: evaluate APKBUILD: evaluation stopped before the end of the file", f.name, e.lastLine.Load())
	}
	return e, problem
}

// runSafely runs node, turning an interpreter panic into an error.
func runSafely(ctx context.Context, r *interp.Runner, node syntax.Node) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("interpreter panic: %v", p)
		}
	}()
	return r.Run(ctx, node)
}

// TopLevelVars lists the variables compared with busybox ash in the
// tests, in this order.
var TopLevelVars = []string{
	"pkgname", "pkgver", "pkgrel", "pkgdesc", "url", "license", "arch",
	"depends", "depends_dev", "makedepends", "makedepends_build", "makedepends_host",
	"checkdepends", "provides", "provider_priority", "replaces", "install_if",
	"options", "source", "subpackages", "install", "triggers", "builddir",
}

// Vars evaluates the APKBUILD for arch and returns the raw string values
// of the named top-level variables, which must be among CapturedVars
// (unset ones are missing from the map), before any splitting into lists.
func (f *File) Vars(ctx context.Context, arch string, opts EvalOptions, names []string) (map[string]string, []string, error) {
	e, err := f.run(ctx, arch, opts)
	var warnings []string
	if e != nil {
		warnings = e.warnings
	}
	if err != nil {
		return nil, warnings, err
	}
	out := make(map[string]string, len(names))
	for _, n := range names {
		if !slices.Contains(CapturedVars, n) {
			return nil, warnings, fmt.Errorf("read %s: variable %q is not captured", f.name, n)
		}
		if v, ok := e.get(n); ok {
			out[n] = v
		}
	}
	return out, warnings, nil
}

func fillAport(a *Aport, get func(string) (string, bool)) {
	s := func(name string) string { x, _ := get(name); return x }
	l := func(name string) []string { return List(s(name)) }
	a.Pkgname = s("pkgname")
	a.Pkgver = s("pkgver")
	a.Pkgrel = s("pkgrel")
	a.Pkgdesc = s("pkgdesc")
	a.URL = s("url")
	a.License = s("license")
	a.Arches = l("arch")
	a.Depends = l("depends")
	a.Makedepends = l("makedepends")
	a.MakedependsBuild = l("makedepends_build")
	a.MakedependsHost = l("makedepends_host")
	a.Checkdepends = l("checkdepends")
	a.Provides = l("provides")
	a.ProviderPriority = s("provider_priority")
	a.Replaces = l("replaces")
	a.InstallIf = l("install_if")
	a.Options = l("options")
	a.Source = l("source")
	a.Applies = Applies(a.Arches, a.Arch)
}

// validate returns the first problem that makes the aport unusable.
func (f *File) validate(a *Aport) string {
	at := func(name string) string {
		if l := f.lines[name]; l > 0 {
			return fmt.Sprintf("%s:%d", f.name, l)
		}
		return f.name
	}
	switch {
	case a.Pkgname == "":
		return at("pkgname") + ": check APKBUILD: pkgname is not set"
	case strings.ContainsAny(a.Pkgname, " \t\n/") || strings.HasPrefix(a.Pkgname, "-"):
		return fmt.Sprintf("%s: check APKBUILD: invalid pkgname %q", at("pkgname"), a.Pkgname)
	case a.Pkgver == "":
		return at("pkgver") + ": check APKBUILD: pkgver is not set"
	case a.Pkgrel == "":
		return at("pkgrel") + ": check APKBUILD: pkgrel is not set"
	case !validPkgrel(a.Pkgrel):
		return fmt.Sprintf("%s: check APKBUILD: invalid pkgrel %q", at("pkgrel"), a.Pkgrel)
	case !validVersion(a.Pkgver + "-r" + a.Pkgrel):
		return fmt.Sprintf("%s: check APKBUILD: invalid version %q", at("pkgver"), a.Pkgver)
	}
	return ""
}

func validPkgrel(s string) bool {
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return s != ""
}

// List splits a list variable as abuild's unquoted $var does (on blanks
// and newlines). A word starting with # starts a comment up to the end of
// its line: the shell keeps such text inside a quoted list, but the words
// are not packages, so they are dropped here.
func List(s string) []string {
	out := []string{}
	for _, line := range strings.Split(s, "\n") {
		for _, w := range strings.Fields(line) {
			if strings.HasPrefix(w, "#") {
				break
			}
			out = append(out, w)
		}
	}
	return out
}

// Applies reports whether an aport with arch= list arches is built for
// carch, as abuild's check_arch decides: "all", "noarch" or carch listed,
// and "!carch" not listed.
func Applies(arches []string, carch string) bool {
	ok := false
	for _, a := range arches {
		switch a {
		case "all", "noarch", carch:
			ok = true
		case "!" + carch:
			return false
		}
	}
	return ok
}

// normalize makes every list non-nil, so JSON shows [] rather than null.
func normalize(a *Aport) {
	for _, p := range []*[]string{&a.Arches, &a.Depends, &a.Makedepends, &a.MakedependsBuild,
		&a.MakedependsHost, &a.Checkdepends, &a.Provides, &a.Replaces, &a.InstallIf,
		&a.Options, &a.Source} {
		if *p == nil {
			*p = []string{}
		}
	}
	if a.Subpackages == nil {
		a.Subpackages = []Subpackage{}
	}
}
