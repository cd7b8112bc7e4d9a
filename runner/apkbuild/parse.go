package apkbuild

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"strings"
	"sync"

	"mvdan.cc/sh/v3/syntax"
)

// Limits bound what evaluating one APKBUILD may cost. The zero value of a
// field means its default.
type Limits struct {
	// MaxFileSize is the largest APKBUILD accepted, in bytes (default 1 MiB;
	// the largest real APKBUILDs are well under 100 KiB).
	MaxFileSize int
	// MaxVarSize is the largest value one shell variable may hold, and
	// 4 times it the largest total of all variables, in bytes (default 1 MiB).
	MaxVarSize int
	// MaxWordExpansions is the most parameter expansions and command
	// substitutions one word may hold (default 256). With MaxVarSize it
	// bounds what a single expansion can allocate before it is checked.
	MaxWordExpansions int
}

func (l Limits) withDefaults() Limits {
	if l.MaxFileSize <= 0 {
		l.MaxFileSize = 1 << 20
	}
	if l.MaxVarSize <= 0 {
		l.MaxVarSize = 1 << 20
	}
	if l.MaxWordExpansions <= 0 {
		l.MaxWordExpansions = 256
	}
	return l
}

// File is a parsed APKBUILD, ready to be evaluated for any number of arches
// (see Eval). It is safe for concurrent use.
type File struct {
	// Path is the aport directory as given to Parse; messages name the
	// APKBUILD as Path + "/APKBUILD".
	Path string
	// Hash is the hex SHA-256 of the APKBUILD's bytes.
	Hash string

	name   string // Path/APKBUILD, for messages
	prog   *syntax.File
	limits Limits
	// lines holds, per variable, the line of its last assignment outside
	// functions, to point errors at.
	lines map[string]int

	funcs funcSet // names of all functions declared, and the prelude's
}

// Markers are arguments of commands that Parse inserts; the call handler
// acts on them. They start with a NUL byte, which an APKBUILD cannot hold,
// so a script cannot forge them. checkMarker follows assignments, so that
// the call handler checks variable sizes there; the others run the split
// stage (split.go).
const (
	markerPrefix  = "\x00apkfarm-"
	checkMarker   = markerPrefix + "check"
	lineMarker    = markerPrefix + "line"
	topMarker     = markerPrefix + "top"
	nextMarker    = markerPrefix + "next"
	callMarker    = markerPrefix + "call"
	captureMarker = markerPrefix + "capture"
)

var parserPool = sync.Pool{New: func() any {
	return syntax.NewParser(syntax.Variant(syntax.LangBash))
}}

// Parse parses the APKBUILD of the aport in directory dir. Nothing is run.
// A syntax error, a file over the size limit, or a construct that the
// evaluator will not run (process substitution, coprocesses) is an error
// naming the file and line.
func Parse(dir string, src []byte) (*File, error) {
	return ParseLimits(dir, src, Limits{})
}

// ParseLimits is Parse with explicit limits.
func ParseLimits(dir string, src []byte, limits Limits) (*File, error) {
	sum := sha256.Sum256(src)
	return parse(dir, src, hex.EncodeToString(sum[:]), limits)
}

// parse is ParseLimits for src whose hash is known. The File does not
// keep src.
func parse(dir string, src []byte, hash string, limits Limits) (*File, error) {
	limits = limits.withDefaults()
	f := &File{
		Path:   dir,
		Hash:   hash,
		name:   path.Join(filepathToSlash(dir), "APKBUILD"),
		limits: limits,
	}
	if len(src) > limits.MaxFileSize {
		return f, fmt.Errorf("%s: read APKBUILD: %d bytes is over the limit of %d", f.name, len(src), limits.MaxFileSize)
	}
	if bytes.IndexByte(src, 0) >= 0 {
		line := bytes.Count(src[:bytes.IndexByte(src, 0)], []byte("\n")) + 1
		return f, fmt.Errorf("%s:%d: read APKBUILD: NUL byte in a shell script", f.name, line)
	}
	p := parserPool.Get().(*syntax.Parser)
	prog, err := p.Parse(bytes.NewReader(src), f.name)
	parserPool.Put(p)
	if err != nil {
		var pe syntax.ParseError
		if errors.As(err, &pe) {
			return f, fmt.Errorf("%s:%d: parse APKBUILD: %s", f.name, pe.Pos.Line(), pe.Text)
		}
		var le syntax.LangError
		if errors.As(err, &le) {
			return f, fmt.Errorf("%s:%d: parse APKBUILD: %s is not POSIX shell", f.name, le.Pos.Line(), le.Feature)
		}
		return f, fmt.Errorf("%s: parse APKBUILD: %w", f.name, err)
	}
	if err := f.prepareSafely(prog); err != nil {
		return f, err
	}
	// abuild defines its functions before it sources the APKBUILD; the
	// split stage runs after it.
	pre := preludeFor(src)
	stmts := make([]*syntax.Stmt, 0, len(pre)+len(prog.Stmts)+len(splitStage.Stmts))
	stmts = append(stmts, pre...)
	stmts = append(stmts, prog.Stmts...)
	prog.Stmts = append(stmts, splitStage.Stmts...)
	f.prog = prog
	return f, nil
}

func filepathToSlash(p string) string { return strings.ReplaceAll(p, "\\", "/") }

// prepareSafely is prepare, with a panic (a bug, never an input's fault)
// turned into an error for this file.
func (f *File) prepareSafely(prog *syntax.File) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%s: parse APKBUILD: internal error: %v", f.name, p)
		}
	}()
	return f.prepare(prog)
}

// prepare checks prog for constructs the evaluator refuses, neutralises
// brace expansion (busybox ash has none), inserts size checks after
// assignments and records where top-level variables are assigned.
func (f *File) prepare(prog *syntax.File) error {
	var err error
	f.lines = map[string]int{}
	fail := func(n syntax.Node, format string, args ...any) {
		if err == nil {
			err = fmt.Errorf("%s:%d: %s", f.name, n.Pos().Line(), fmt.Sprintf(format, args...))
		}
	}
	// One pass for the functions declared at the top level (or in its if,
	// case, ...) and the lines of top-level assignments.
	f.funcs = funcSet{}
	syntax.Walk(prog, func(node syntax.Node) bool {
		switch n := node.(type) {
		case *syntax.FuncDecl:
			if n.Name != nil {
				f.funcs[n.Name.Value] = true
			}
			return false
		case *syntax.Assign:
			if n.Name != nil {
				f.lines[n.Name.Value] = int(n.Pos().Line())
			}
		case *syntax.Word:
			return false // no assignments or functions in words that matter here
		}
		return true
	})

	syntax.Walk(prog, func(node syntax.Node) bool {
		if err != nil {
			return false
		}
		switch n := node.(type) {
		case *syntax.ProcSubst:
			fail(n, "evaluate APKBUILD: process substitution is not supported")
		case *syntax.ParamExp:
			if msg := checkReplaceAll(n); msg != "" {
				fail(n, "evaluate APKBUILD: %s", msg)
			}
		case *syntax.Stmt:
			if n.Background {
				fail(n, "evaluate APKBUILD: background commands (&) are not supported")
			}
		case *syntax.CoprocClause:
			fail(n, "evaluate APKBUILD: coprocesses are not supported")
		case *syntax.Word:
			if c := countExpansions(n.Parts); c > f.limits.MaxWordExpansions {
				fail(n, "evaluate APKBUILD: %d expansions in one word is over the limit of %d", c, f.limits.MaxWordExpansions)
			}
			quoteBraces(n)
			// Nothing below a literal word is checked or changed.
			return !literalWord(n.Parts)
		case *syntax.File:
			n.Stmts = instrument(n.Stmts, f.funcs)
		case *syntax.Block:
			n.Stmts = instrument(n.Stmts, f.funcs)
		case *syntax.Subshell:
			n.Stmts = instrument(n.Stmts, f.funcs)
		case *syntax.IfClause:
			n.Then = instrument(n.Then, f.funcs)
		case *syntax.WhileClause:
			n.Do = append([]*syntax.Stmt{lineStmt(n.Pos())}, instrument(n.Do, f.funcs)...)
		case *syntax.ForClause:
			n.Do = append([]*syntax.Stmt{lineStmt(n.Pos())}, instrument(n.Do, f.funcs)...)
		case *syntax.CaseItem:
			n.Stmts = instrument(n.Stmts, f.funcs)
		case *syntax.CmdSubst:
			n.Stmts = instrument(n.Stmts, f.funcs)
		}
		return true
	})
	return err
}

// countExpansions counts the parameter expansions, command substitutions
// and arithmetic expansions of a word's parts, inside double quotes too
// (words nested in them are words of their own, checked separately).
func countExpansions(parts []syntax.WordPart) int {
	n := 0
	for _, p := range parts {
		switch p := p.(type) {
		case *syntax.CmdSubst, *syntax.ArithmExp:
			n++
		case *syntax.ParamExp:
			// ${a:-$b$c} expands its inner word where it stands: count it
			// here, or nesting would multiply the limit.
			n++
			if p.Exp != nil && p.Exp.Word != nil {
				n += countExpansions(p.Exp.Word.Parts)
			}
			if p.Repl != nil && p.Repl.With != nil {
				n += countExpansions(p.Repl.With.Parts)
			}
		case *syntax.DblQuoted:
			n += countExpansions(p.Parts)
		}
	}
	return n
}

// maxReplaceAll is the longest replacement ${v//pattern/replacement} may
// have: each character of v can become the replacement.
const maxReplaceAll = 64

// checkReplaceAll returns a problem with a ${v//pattern/replacement}: its
// replacement must be literal and short, or one statement could multiply
// a value's size by the size of another.
func checkReplaceAll(pe *syntax.ParamExp) string {
	if pe.Repl == nil || !pe.Repl.All || pe.Repl.With == nil {
		return ""
	}
	if !literalWord(pe.Repl.With.Parts) {
		return "a replacement with expansions in ${v//pattern/replacement} is not supported"
	}
	if n := int(pe.Repl.With.End().Offset() - pe.Repl.With.Pos().Offset()); n > maxReplaceAll {
		return fmt.Sprintf("a replacement of %d bytes in ${v//pattern/replacement} is over the limit of %d", n, maxReplaceAll)
	}
	return ""
}

// quoteBraces makes the braces of w literal when the interpreter would
// brace-expand it: busybox ash, which abuild uses, has no brace expansion.
func quoteBraces(w *syntax.Word) {
	braces := false
	for _, p := range w.Parts {
		if l, ok := p.(*syntax.Lit); ok && strings.IndexByte(l.Value, '{') >= 0 {
			braces = true
			break
		}
	}
	if !braces {
		return
	}
	probe := *w
	probe.Parts = append([]syntax.WordPart(nil), w.Parts...)
	if !syntax.SplitBraces(&probe) {
		return
	}
	parts := make([]syntax.WordPart, 0, len(w.Parts)+2)
	for _, p := range w.Parts {
		lit, ok := p.(*syntax.Lit)
		if !ok || !strings.ContainsAny(lit.Value, "{}") {
			parts = append(parts, p)
			continue
		}
		start := 0
		for i := 0; i < len(lit.Value); i++ {
			c := lit.Value[i]
			if c != '{' && c != '}' {
				continue
			}
			if i > start {
				parts = append(parts, &syntax.Lit{ValuePos: lit.ValuePos, ValueEnd: lit.ValuePos, Value: lit.Value[start:i]})
			}
			parts = append(parts, &syntax.SglQuoted{Left: lit.ValuePos, Right: lit.ValuePos, Value: string(c)})
			start = i + 1
		}
		if start < len(lit.Value) {
			parts = append(parts, &syntax.Lit{ValuePos: lit.ValuePos, ValueEnd: lit.ValuePos, Value: lit.Value[start:]})
		}
	}
	w.Parts = parts
}

// instrument inserts a size check after every statement that assigns
// variables without running a command, the only way a script can grow a
// value without passing through the call handler, and before every
// statement with redirections. After every function declaration it
// declares the function's split copy (see splitCopy).
func instrument(stmts []*syntax.Stmt, funcs funcSet) []*syntax.Stmt {
	need := 0
	for _, st := range stmts {
		if _, ok := st.Cmd.(*syntax.FuncDecl); ok {
			need++
		}
		if assigns(st) && grows(st) {
			need++
		}
		if len(st.Redirs) > 0 {
			need++
		}
	}
	if need == 0 {
		return stmts
	}
	out := make([]*syntax.Stmt, 0, len(stmts)+need)
	for _, st := range stmts {
		if len(st.Redirs) > 0 {
			// So that the open handler knows the line (it gets no position).
			out = append(out, checkStmt(st.Pos(), nil))
		}
		out = append(out, st)
		if assigns(st) && grows(st) {
			out = append(out, checkStmt(st.Pos(), assignedNames(st)))
		}
		if fd, ok := st.Cmd.(*syntax.FuncDecl); ok && fd.Name != nil && fd.Body != nil {
			out = append(out, splitCopy(st, fd, funcs))
		}
	}
	return out
}

// grows reports whether an assignment statement may build a value larger
// than its own text: one with an expansion. A literal value is bounded by
// the file's size.
func grows(st *syntax.Stmt) bool {
	as, ok := assignsOf(st)
	if !ok {
		return true
	}
	for _, a := range as {
		if a.Array != nil || a.Index != nil {
			return true
		}
		if a.Value != nil && !literalWord(a.Value.Parts) {
			return true
		}
	}
	return false
}

func literalWord(parts []syntax.WordPart) bool {
	for _, p := range parts {
		switch p := p.(type) {
		case *syntax.Lit, *syntax.SglQuoted:
		case *syntax.DblQuoted:
			if !literalWord(p.Parts) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

func assigns(st *syntax.Stmt) bool {
	switch c := st.Cmd.(type) {
	case *syntax.CallExpr:
		return len(c.Args) == 0 && len(c.Assigns) > 0
	case *syntax.DeclClause:
		return true
	case *syntax.ArithmCmd:
		return true
	}
	return false
}

// words returns literal words at pos, allocated together.
func words(pos syntax.Pos, vals ...string) []*syntax.Word {
	lits := make([]syntax.Lit, len(vals))
	parts := make([]syntax.WordPart, len(vals))
	ws := make([]syntax.Word, len(vals))
	out := make([]*syntax.Word, len(vals))
	for i, v := range vals {
		lits[i] = syntax.Lit{ValuePos: pos, ValueEnd: pos, Value: v}
		parts[i] = &lits[i]
		ws[i] = syntax.Word{Parts: parts[i : i+1 : i+1]}
		out[i] = &ws[i]
	}
	return out
}

// command returns the statement running the literal words vals at pos,
// in one allocation when there are at most three: Parse makes many of them
// (checkStmt).
func command(pos syntax.Pos, vals ...string) *syntax.Stmt {
	const n = 3
	if len(vals) > n {
		return &syntax.Stmt{Position: pos, Cmd: &syntax.CallExpr{Args: words(pos, vals...)}}
	}
	c := &struct {
		stmt  syntax.Stmt
		call  syntax.CallExpr
		lits  [n]syntax.Lit
		parts [n]syntax.WordPart
		words [n]syntax.Word
		args  [n]*syntax.Word
	}{}
	for i, v := range vals {
		c.lits[i] = syntax.Lit{ValuePos: pos, ValueEnd: pos, Value: v}
		c.parts[i] = &c.lits[i]
		c.words[i] = syntax.Word{Parts: c.parts[i : i+1 : i+1]}
		c.args[i] = &c.words[i]
	}
	c.call.Args = c.args[:len(vals):len(vals)]
	c.stmt = syntax.Stmt{Position: pos, Cmd: &c.call}
	return &c.stmt
}

// checkStmt returns `: checkMarker NAME...`: the call handler checks the
// size of the named variables (all of them when none is named).
func checkStmt(pos syntax.Pos, names []string) *syntax.Stmt {
	if len(names) == 1 {
		return command(pos, ":", checkMarker, names[0])
	}
	return command(pos, append([]string{":", checkMarker}, names...)...)
}

// funcSet holds the names of the functions an APKBUILD declares; the
// prelude's are always in it.
type funcSet map[string]bool

func (s funcSet) has(name string) bool { return s[name] || preludeFuncs[name] }

// assignsOf returns the assignments of a simple command or declaration;
// false for other statements.
func assignsOf(st *syntax.Stmt) ([]*syntax.Assign, bool) {
	switch c := st.Cmd.(type) {
	case *syntax.CallExpr:
		return c.Assigns, true
	case *syntax.DeclClause:
		return c.Args, true
	}
	return nil, false
}

// lineStmt returns `: lineMarker`, which only records the line for
// messages (the body of a loop that may never end).
func lineStmt(pos syntax.Pos) *syntax.Stmt {
	return command(pos, ":", lineMarker)
}

// assignedNames returns the variables a statement assigns, or nil when it
// cannot tell (arithmetic commands), meaning all.
func assignedNames(st *syntax.Stmt) []string {
	as, ok := assignsOf(st)
	if !ok {
		return nil
	}
	names := make([]string, 0, len(as))
	for _, a := range as {
		if a.Name == nil {
			return nil
		}
		names = append(names, a.Name.Value)
	}
	return names
}
