package apkbuild

import (
	"bytes"
	"strings"

	"mvdan.cc/sh/v3/interp"
	"mvdan.cc/sh/v3/syntax"
)

// preludeSrc models what abuild defines before it sources an APKBUILD and
// that matters to subpackage metadata: its default split functions (doc,
// dev, dbg, static, libs, openrc, systemd, udev, devhelp, lang, the
// completions, pyc, nftrules) and what each assigns, as abuild 3.x does.
// APKBUILDs may redefine any of them. Only the assignments are modelled;
// abuild's functions also move files, which never happens here.
const preludeSrc = `
default_doc() { depends="$depends_doc"; pkgdesc="$pkgdesc (documentation)"; install_if="docs $pkgname=$pkgver-r$pkgrel"; }
doc() { default_doc; }
default_dbg() { depends=""; pkgdesc="$pkgdesc (debug symbols)"; }
dbg() { default_dbg; }
default_dev() { depends="$depends_dev"; pkgdesc="$pkgdesc (development files)"; }
dev() { default_dev; }
default_static() {
	local _dev _sub
	if [ -z "$depends_static" ]; then
		_dev=${subpkgname%-libs-static}
		_dev=${_dev%-static}-dev
		for _sub in $subpackages; do
			if [ "${_sub%%:*}" = "$_dev" ]; then
				depends_static=$_dev
			fi
		done
	fi
	depends="$depends_static"
	pkgdesc="$pkgdesc (static library)"
}
static() { default_static; }
default_libs() { depends="$depends_libs"; pkgdesc="$pkgdesc (libraries)"; }
libs() { default_libs; }
default_openrc() { depends="$depends_openrc"; pkgdesc="$pkgdesc (OpenRC init scripts)"; install_if="openrc ${subpkgname%-openrc}=$pkgver-r$pkgrel"; }
openrc() { default_openrc; }
default_systemd() { depends="$depends_systemd"; pkgdesc="$pkgdesc (systemd files)"; install_if="systemd ${subpkgname%-systemd}=$pkgver-r$pkgrel"; }
systemd() { default_systemd; }
default_udev() { depends="$depends_udev"; pkgdesc="$pkgdesc (udev rules)"; install_if="udev ${subpkgname%-udev}=$pkgver-r$pkgrel"; }
udev() { default_udev; }
default_devhelp() { depends=""; pkgdesc="$pkgname - devhelp files"; install_if="$pkgname=$pkgver-r$pkgrel devhelp"; }
devhelp() { default_devhelp; }
default_lang() { pkgdesc="Languages for package $pkgname"; install_if="$pkgname=$pkgver-r$pkgrel lang"; depends="$depends_lang"; }
lang() { default_lang; }
default_bashcomp() { depends=""; pkgdesc="Bash completions for $pkgname"; install_if="${subpkgname%-bash-completion}=$pkgver-r$pkgrel bash-completion"; }
bashcomp() { default_bashcomp; }
default_zshcomp() { depends=""; pkgdesc="Zsh completions for $pkgname"; install_if="${subpkgname%-zsh-completion}=$pkgver-r$pkgrel zsh"; }
zshcomp() { default_zshcomp; }
default_fishcomp() { depends=""; pkgdesc="Fish completions for $pkgname"; install_if="${subpkgname%-fish-completion}=$pkgver-r$pkgrel fish"; }
fishcomp() { default_fishcomp; }
default_pyc() { depends=""; pkgdesc="Precompiled Python bytecode for ${subpkgname%-pyc}"; install_if="${subpkgname%-pyc}=$pkgver-r$pkgrel pyc"; }
pyc() { default_pyc; }
default_nftrules() { depends=""; pkgdesc="$pkgdesc (nftables ruleset)"; install_if="nftables-rulesets ${subpkgname%-nftrules}=$pkgver-r$pkgrel"; }
nftrules() { default_nftrules; }
`

// splitStageSrc runs after the APKBUILD. The top marker captures the
// top-level variables and the subpackages; the next marker sets the
// positional parameters to the next subpackage's name, subpkgdir and arch
// (or fails after the last one), so that each subpackage runs its split
// copy in a subshell, as abuild runs the split function in a fresh shell
// that sourced the APKBUILD, after emptying provides and install_if as
// abuild's pre_split does (depends is inherited); the capture marker reads
// what the function assigned. The loop is driven by the handler rather
// than by [ "$#" -ge 5 ] and shift 5, which cost more than the rest of an
// iteration.
const splitStageSrc = `
: @top@
while : @next@; do
	(
		subpkgname=$1 subpkgdir=$2 subpkgarch=$3 provides="" install_if=""
		: @call@
		: @capture@
	)
done
`

var (
	prelude      *syntax.File
	preludeFuncs = map[string]bool{}
	splitStage   *syntax.File
)

func init() {
	var err error
	prelude, err = syntax.NewParser().Parse(strings.NewReader(preludeSrc), "abuild-prelude")
	if err != nil {
		panic("apkbuild: prelude: " + err.Error()) // a bug in this file, caught by every test
	}
	for _, st := range prelude.Stmts {
		name := st.Cmd.(*syntax.FuncDecl).Name.Value
		preludeFuncs[name] = true
		preludeKeys = append(preludeKeys, preludeKey(name))
	}
	// Only the split copies of the prelude are needed: its originals are
	// never run.
	var copies []*syntax.Stmt
	for _, st := range prelude.Stmts {
		copies = append(copies, splitCopy(st, st.Cmd.(*syntax.FuncDecl), nil))
	}
	prelude.Stmts = copies

	splitStage, err = syntax.NewParser().Parse(strings.NewReader(splitStageSrc), "split-stage")
	if err != nil {
		panic("apkbuild: split stage: " + err.Error())
	}
	markers := map[string]string{"@top@": topMarker, "@next@": nextMarker, "@call@": callMarker, "@capture@": captureMarker}
	syntax.Walk(splitStage, func(n syntax.Node) bool {
		if l, ok := n.(*syntax.Lit); ok && markers[l.Value] != "" {
			l.Value = markers[l.Value]
		}
		return true
	})
}

// preludeKeys holds, per statement of the prelude, the word whose
// presence in an APKBUILD's text makes preludeFor keep it.
var preludeKeys []string

// preludeFor returns the prelude's split copies an APKBUILD may need: those
// whose short name (doc, dev, completion, ...) its text mentions. Fewer
// functions make every subshell cheaper.
func preludeFor(src []byte) []*syntax.Stmt {
	out := make([]*syntax.Stmt, 0, len(prelude.Stmts))
	prev, has := "", false
	for i, st := range prelude.Stmts {
		if key := preludeKeys[i]; key != prev { // default_doc and doc, ...
			prev, has = key, bytes.Contains(src, []byte(key))
		}
		if has {
			out = append(out, st)
		}
	}
	return out
}

// preludeKey returns the key of the prelude function fn (see preludeFor).
func preludeKey(fn string) string {
	switch name := strings.TrimPrefix(fn, "default_"); name {
	case "bashcomp", "zshcomp", "fishcomp":
		return "completion"
	default:
		return name
	}
}

// CapturedVars are the top-level variables read after the APKBUILD ran.
var CapturedVars = append(append([]string(nil), TopLevelVars...), "pkgbasedir")

// marker handles the commands of the split stage.
func (e *evaluation) marker(hc interp.HandlerContext, args []string) ([]string, error) {
	switch args[1] {
	case topMarker:
		e.top = make([]topVar, len(CapturedVars))
		for i, n := range CapturedVars {
			if vr := hc.Env.Get(n); vr.IsSet() {
				e.top[i] = topVar{vr.String(), true}
			}
		}
		e.topDone, e.split = true, true
		for _, entry := range List(e.topValue("subpackages")) {
			name, fn, arches := SplitSpec(entry)
			e.entries = append(e.entries, Subpackage{Name: name, Func: fn, Arches: arches})
		}
		e.next = 0
		return []string{":"}, nil
	case nextMarker:
		// The loop was `while [ "$#" -ge 5 ]; do ...; shift 5; done`:
		// its test and shift count as the two calls they were, so that
		// the periodic size check (see call) falls where it did.
		line := int(hc.Pos.Line())
		if e.next > 0 {
			if err := e.count(hc.Env, line); err != nil { // shift 5
				return nil, err
			}
		}
		if err := e.count(hc.Env, line); err != nil { // [ "$#" -ge 5 ]
			return nil, err
		}
		if e.next >= len(e.entries) {
			return []string{"false"}, nil
		}
		sp := &e.entries[e.next]
		e.current = sp.Name
		e.next++
		return []string{"set", "--", sp.Name, e.topValue("pkgbasedir") + "/" + sp.Name, strings.Join(sp.Arches, " ")}, nil
	case callMarker:
		if e.next == 0 {
			return args, nil
		}
		fn := e.entries[e.next-1].Func
		if !e.f.funcs.has(fn) {
			e.warnf(e.f.lines["subpackages"], "subpackage %q: split function %s is not defined", e.current, fn)
			return []string{":"}, nil
		}
		return []string{splitName(fn)}, nil
	case captureMarker:
		if e.next == 0 {
			return args, nil
		}
		sp := &e.entries[e.next-1]
		val := func(name string) string { return hc.Env.Get(name).String() }
		sp.Pkgdesc = val("pkgdesc")
		sp.Depends = List(val("depends"))
		sp.Provides = List(val("provides"))
		sp.InstallIf = List(val("install_if"))
		if own, top := val("arch"), e.topValue("arch"); own != top && sp.Arches == nil {
			sp.Arches = List(own)
		}
		sp.captured = true
		return []string{":"}, nil
	}
	return args, nil
}

// get returns a captured top-level variable.
func (e *evaluation) get(name string) (string, bool) {
	i, ok := capturedIndex[name]
	if !ok || e.top == nil {
		return "", false
	}
	return e.top[i].val, e.top[i].set
}

func (e *evaluation) topValue(name string) string {
	v, _ := e.get(name)
	return v
}

// topVar is the value of one of CapturedVars after the top level.
type topVar struct {
	val string
	set bool
}

// capturedIndex is the index of each of CapturedVars.
var capturedIndex = func() map[string]int {
	m := make(map[string]int, len(CapturedVars))
	for i, n := range CapturedVars {
		m[n] = i
	}
	return m
}()

// subpackages returns the subpackages with what their split functions
// assigned; one whose function could not be evaluated keeps the aport's
// values.
func (e *evaluation) subpackages(a *Aport) []Subpackage {
	out := make([]Subpackage, len(e.entries))
	for i, sp := range e.entries {
		if !sp.captured {
			// What abuild would give a split function that assigns
			// nothing: the aport's depends, no provides or install_if.
			sp.Pkgdesc, sp.Depends, sp.Provides, sp.InstallIf = a.Pkgdesc, a.Depends, nil, nil
		}
		sp.captured = false
		for _, p := range []*[]string{&sp.Depends, &sp.Provides, &sp.InstallIf} {
			if *p == nil {
				*p = []string{}
			}
		}
		out[i] = sp
	}
	return out
}

// noarchSuffixes are the subpackage names abuild's subpkg_set makes noarch
// unless the entry gives an arch.
var noarchSuffixes = []string{"-doc", "-openrc", "-lang", "sh-completion", "-pyc", "-nftrules", "-systemd", "-udev"}

// SplitSpec splits one subpackages= entry ("name", "name:func" or
// "name:func:arch") the way abuild's subpkg_set does: the function
// defaults from the name's suffix, and the arch from the entry, else
// noarch for -doc, -openrc, -lang, *sh-completion, -pyc, -nftrules,
// -systemd and -udev, else none (the aport's).
func SplitSpec(entry string) (name, fn string, arches []string) {
	name, rest, hasRest := strings.Cut(entry, ":")
	if hasRest {
		fn, _, _ = strings.Cut(rest, ":")
	}
	if fn == "" {
		switch {
		case strings.HasSuffix(name, "-bash-completion"):
			fn = "bashcomp"
		case strings.HasSuffix(name, "-zsh-completion"):
			fn = "zshcomp"
		case strings.HasSuffix(name, "-fish-completion"):
			fn = "fishcomp"
		default:
			fn = name[strings.LastIndexByte(name, '-')+1:]
		}
	}
	if i := strings.LastIndexByte(rest, ':'); hasRest && i >= 0 && rest[i+1:] != "" {
		return name, fn, strings.Fields(rest[i+1:])
	}
	for _, suffix := range noarchSuffixes {
		if strings.HasSuffix(name, suffix) {
			return name, fn, []string{"noarch"}
		}
	}
	return name, fn, nil
}

// splitName is the name of a function's split copy.
func splitName(fn string) string { return splitPrefix + fn }

const splitPrefix = markerPrefix + "split-"

// splitCopy returns the declaration of fd's split copy: the same function
// keeping only what decides metadata (see filterStmt), with calls of shell
// functions turned into calls of their split copies. It is declared right
// after the original, so a function declared only for some CARCH has a
// split copy only then too.
func splitCopy(st *syntax.Stmt, fd *syntax.FuncDecl, funcs funcSet) *syntax.Stmt {
	body := filterStmt(fd.Body, funcs)
	if body == nil {
		body = &syntax.Stmt{Position: fd.Body.Position, Cmd: &syntax.Block{}}
	}
	cp := *fd
	cp.Name = &syntax.Lit{ValuePos: fd.Name.ValuePos, ValueEnd: fd.Name.ValueEnd, Value: splitName(fd.Name.Value)}
	cp.Body = body
	return &syntax.Stmt{Position: st.Position, Cmd: &cp}
}

// keptBuiltins are commands kept in split copies besides calls of shell
// functions: they only change variables or the status.
var keptBuiltins = map[string]bool{
	":": true, "true": true, "false": true, "unset": true, "return": true,
	"set": true, "shift": true, "test": true, "[": true,
}

func filterStmts(in []*syntax.Stmt, funcs funcSet) []*syntax.Stmt {
	var out []*syntax.Stmt
	for _, st := range in {
		if s := filterStmt(st, funcs); s != nil {
			out = append(out, s)
		}
	}
	return out
}

// filterStmt keeps what decides metadata: assignments, local/export
// declarations, calls of shell functions (as calls of their split
// copies), the builtins in keptBuiltins, and the if, case, for, { }, &&
// and || around them. Conditions of if stay, so [ "$CARCH" = x ] decides as in
// the shell. Every other command is dropped: programs are never run.
func filterStmt(st *syntax.Stmt, funcs funcSet) *syntax.Stmt {
	cp := *st
	cp.Redirs = nil
	cp.Background = false
	switch c := st.Cmd.(type) {
	case *syntax.CallExpr:
		if len(c.Args) == 0 {
			return &cp
		}
		w := c.Args[0].Lit()
		switch {
		case w == checkMarker, keptBuiltins[w]:
			return &cp
		case funcs.has(w):
			cc := *c
			cc.Args = append(words(c.Args[0].Pos(), splitName(w)), c.Args[1:]...)
			cp.Cmd = &cc
			return &cp
		}
		return nil
	case *syntax.DeclClause:
		return &cp
	case *syntax.Block:
		cp.Cmd = &syntax.Block{Lbrace: c.Lbrace, Rbrace: c.Rbrace, Stmts: filterStmts(c.Stmts, funcs)}
	case *syntax.IfClause:
		cp.Cmd = filterIf(c, funcs)
	case *syntax.CaseClause:
		cc := *c
		cc.Items = nil
		for _, it := range c.Items {
			ic := *it
			ic.Stmts = filterStmts(it.Stmts, funcs)
			cc.Items = append(cc.Items, &ic)
		}
		cp.Cmd = &cc
	case *syntax.ForClause:
		fc := *c
		fc.Do = filterStmts(c.Do, funcs)
		cp.Cmd = &fc
	case *syntax.BinaryCmd:
		// [ "$CARCH" = x ] && depends=y: keep the list when a side is
		// kept; a dropped side becomes true (commands are taken to
		// succeed).
		if c.Op != syntax.AndStmt && c.Op != syntax.OrStmt {
			return nil
		}
		x, y := filterStmt(c.X, funcs), filterStmt(c.Y, funcs)
		if x == nil && y == nil {
			return nil
		}
		bc := *c
		bc.X, bc.Y = orTrue(x, c.X), orTrue(y, c.Y)
		cp.Cmd = &bc
	default:
		return nil
	}
	return &cp
}

// orTrue returns st, or a `true` command where st was dropped.
func orTrue(st, orig *syntax.Stmt) *syntax.Stmt {
	if st != nil {
		return st
	}
	return command(orig.Pos(), "true")
}

func filterIf(c *syntax.IfClause, funcs funcSet) *syntax.IfClause {
	if c == nil {
		return nil
	}
	ic := *c
	ic.Then = filterStmts(c.Then, funcs)
	ic.Else = filterIf(c.Else, funcs)
	return &ic
}
