package apkbuild

import (
	"context"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// preludeSrc models what abuild defines before it sources an APKBUILD and
// that matters to subpackage metadata: the default split functions
// (doc, dev, openrc, ...) and what they assign. APKBUILDs may redefine
// any of them. Only the assignments are modelled; abuild's functions also
// move files, which never happens here.
const preludeSrc = `
default_doc() { depends="$depends_doc"; pkgdesc="$pkgdesc (documentation)"; install_if="docs $pkgname=$pkgver-r$pkgrel"; }
doc() { default_doc; }
default_dev() { depends="$depends_dev"; pkgdesc="$pkgdesc (development files)"; }
dev() { default_dev; }
default_dbg() { depends=""; pkgdesc="$pkgdesc (debug symbols)"; }
dbg() { default_dbg; }
default_static() { depends=""; pkgdesc="$pkgdesc (static library)"; }
static() { default_static; }
default_libs() { depends="$depends_libs"; pkgdesc="$pkgdesc (libraries)"; }
libs() { default_libs; }
default_openrc() { depends="$depends_openrc"; pkgdesc="$pkgdesc (OpenRC init scripts)"; install_if="openrc ${subpkgname%-openrc}=$pkgver-r$pkgrel"; }
openrc() { default_openrc; }
default_lang() { pkgdesc="Languages for package $pkgname"; install_if="$pkgname=$pkgver-r$pkgrel lang"; }
lang() { default_lang; }
default_bashcomp() { depends=""; pkgdesc="Bash completions for $pkgname"; install_if="$pkgname=$pkgver-r$pkgrel bash-completion"; }
bashcomp() { default_bashcomp; }
default_zshcomp() { depends=""; pkgdesc="Zsh completions for $pkgname"; install_if="$pkgname=$pkgver-r$pkgrel zsh"; }
zshcomp() { default_zshcomp; }
default_fishcomp() { depends=""; pkgdesc="Fish completions for $pkgname"; install_if="$pkgname=$pkgver-r$pkgrel fish"; }
fishcomp() { default_fishcomp; }
default_pyc() { pkgdesc="Precompiled Python bytecode for ${subpkgname%-pyc}"; install_if="${subpkgname%-pyc}=$pkgver-r$pkgrel pyc"; }
pyc() { default_pyc; }
`

var prelude = func() *syntax.File {
	f, err := syntax.NewParser().Parse(strings.NewReader(preludeSrc), "abuild-prelude")
	if err != nil {
		panic("apkbuild: prelude: " + err.Error()) // a bug in this file, caught by every test
	}
	return f
}()

// SplitSpec splits one subpackages= entry ("name", "name:func" or
// "name:func:arch") the way abuild's subpkg_set does: the function
// defaults from the name's suffix, and the arch from the entry, else
// noarch for -doc, -openrc, -lang, *-completion and -pyc, else none (the
// aport's).
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
	switch {
	case strings.HasSuffix(name, "-doc"), strings.HasSuffix(name, "-openrc"),
		strings.HasSuffix(name, "-lang"), strings.HasSuffix(name, "sh-completion"),
		strings.HasSuffix(name, "-pyc"):
		return name, fn, []string{"noarch"}
	}
	return name, fn, nil
}

// subpackages reads subpackages= and runs, for each entry, only the
// assignments of its split function (see filterBody) in a copy of the
// top-level shell state, as abuild runs the function after sourcing the
// APKBUILD again.
func (f *File) subpackages(ctx context.Context, e *evaluation, v values, a *Aport) []Subpackage {
	raw, _ := v.get("subpackages")
	entries := List(raw)
	out := make([]Subpackage, 0, len(entries))
	top := func(n string) string { s, _ := v.get(n); return s }
	e.split = true
	for _, entry := range entries {
		name, fn, arches := SplitSpec(entry)
		sp := Subpackage{Name: name, Func: fn, Arches: arches}
		sp.Pkgdesc, sp.Depends, sp.Provides, sp.InstallIf = a.Pkgdesc, a.Depends, a.Provides, a.InstallIf
		if _, ok := v.runner.Funcs[fn]; !ok {
			e.warnf(f.lines["subpackages"], "subpackage %q: split function %s is not defined", name, fn)
			out = append(out, sp)
			continue
		}
		r := v.runner.Subshell()
		for n, body := range r.Funcs {
			r.Funcs[n] = f.filterBody(body)
		}
		setup := &syntax.CallExpr{Assigns: []*syntax.Assign{
			assign("subpkgname", name),
			assign("subpkgdir", top("pkgbasedir")+"/"+name),
			assign("subpkgarch", strings.Join(arches, " ")),
		}}
		call := &syntax.CallExpr{Args: []*syntax.Word{lit(syntax.Pos{}, fn)}}
		if err := r.Run(ctx, setup); err != nil {
			e.warnf(0, "subpackage %q: %v", name, err)
		}
		err := runSafely(ctx, r, call)
		if ctx.Err() != nil || e.fatal != nil {
			e.warnf(f.lines["subpackages"], "subpackage %q: split function %s not evaluated: %v", name, fn, firstErr(e.fatal, ctx.Err(), err))
			e.fatal = nil
			out = append(out, sp)
			continue
		}
		get := func(n string) string {
			vr := r.Vars[n]
			return vr.String()
		}
		sp.Pkgdesc = get("pkgdesc")
		sp.Depends = List(get("depends"))
		sp.Provides = List(get("provides"))
		sp.InstallIf = List(get("install_if"))
		if own := get("arch"); own != top("arch") && sp.Arches == nil {
			sp.Arches = List(own)
		}
		out = append(out, sp)
	}
	e.split = false
	return out
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func assign(name, value string) *syntax.Assign {
	return &syntax.Assign{
		Name:  &syntax.Lit{Value: name},
		Value: &syntax.Word{Parts: []syntax.WordPart{&syntax.SglQuoted{Value: value}}},
	}
}

// filterBody returns a copy of a function body that keeps what decides
// metadata: assignments, local/export declarations, and the if, case, for
// and { } around them; calls of other shell functions stay (they are
// filtered the same way), every other command is dropped. Conditions of if
// stay, so [ "$CARCH" = x ] decides as in the shell.
func (f *File) filterBody(body *syntax.Stmt) *syntax.Stmt {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.filtered == nil {
		f.filtered = map[*syntax.Stmt]*syntax.Stmt{}
	}
	if out, ok := f.filtered[body]; ok {
		return out
	}
	out := filterStmt(body, f.funcs)
	if out == nil {
		out = &syntax.Stmt{Position: body.Position, Cmd: &syntax.Block{}}
	}
	f.filtered[body] = out
	return out
}

func filterStmts(in []*syntax.Stmt, funcs map[string]bool) []*syntax.Stmt {
	var out []*syntax.Stmt
	for _, st := range in {
		if s := filterStmt(st, funcs); s != nil {
			out = append(out, s)
		}
	}
	return out
}

func filterStmt(st *syntax.Stmt, funcs map[string]bool) *syntax.Stmt {
	cp := *st
	cp.Redirs = nil
	cp.Background = false
	switch c := st.Cmd.(type) {
	case *syntax.CallExpr:
		if len(c.Args) == 0 {
			return &cp
		}
		if w := c.Args[0].Lit(); funcs[w] || keptBuiltins[w] {
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
	default:
		return nil
	}
	return &cp
}

func filterIf(c *syntax.IfClause, funcs map[string]bool) *syntax.IfClause {
	if c == nil {
		return nil
	}
	ic := *c
	ic.Then = filterStmts(c.Then, funcs)
	ic.Else = filterIf(c.Else, funcs)
	return &ic
}

// keptBuiltins are commands kept in filtered split functions besides
// calls of shell functions: they only change variables or the status.
var keptBuiltins = map[string]bool{
	":": true, "true": true, "false": true, "unset": true, "return": true,
	"set": true, "shift": true, "test": true, "[": true, "eval": true,
}
