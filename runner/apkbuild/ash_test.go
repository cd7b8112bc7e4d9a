package apkbuild

import (
	"context"
	"fmt"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
)

// fixtureRoot holds the aports written for these tests.
var fixtureRoot = filepath.Join("..", "..", "testdata", "aports")

// compareArches are the CARCH values every fixture is compared for.
var compareArches = []string{"x86_64", "aarch64", "armv7"}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// ashScript sources every fixture for every arch in a subshell of busybox
// ash, with the variables abuild sets, and prints each top-level variable
// as name RS set RS value US, one record (GS rel arch LF ...) per pair.
func ashScript(rels []string) string {
	var b strings.Builder
	b.WriteString("RS=$(printf '\\036'); US=$(printf '\\037'); GS=$(printf '\\035'); FS=$(printf '\\034')\n")
	// abuild's default split functions, as we model them, are defined
	// before the APKBUILD is sourced, as abuild does.
	b.WriteString(preludeSrc)
	for _, rel := range rels {
		for _, arch := range compareArches {
			start := StartDir(rel)
			b.WriteString("(\n")
			for _, kv := range Environ(arch, start) {
				name, val, _ := strings.Cut(kv, "=")
				fmt.Fprintf(&b, "%s=%s\n", name, shQuote(val))
			}
			fmt.Fprintf(&b, "printf '%%s%%s %%s\\n' \"$GS\" %s %s\n", shQuote(rel), arch)
			// The tree is mounted at /mnt (the rootfs is read-only, so
			// /aports cannot be created); $startdir keeps its value.
			fmt.Fprintf(&b, "cd %s || exit 1\n", shQuote(path.Join("/mnt", rel)))
			b.WriteString(". ./APKBUILD >/dev/null 2>&1\n")
			fmt.Fprintf(&b, "for __v in %s; do eval \"__s=\\${$__v+s} __x=\\${$__v-}\"; printf '%%s%%s%%s%%s%%s%%s' \"$__v\" \"$RS\" \"$__s\" \"$RS\" \"$__x\" \"$US\"; done\n", strings.Join(TopLevelVars, " "))
			b.WriteString(ashSplit)
			b.WriteString(")\n")
		}
	}
	return b.String()
}

// ashSplit runs, for every subpackage, its real split function in a
// subshell of ash after the top level (commands in it can only write to
// the sandbox's /tmp, where $subpkgdir is; there is no network), the way abuild
// derives the function's name in subpkg_set, and prints
// FS name RS func RS pkgdesc RS depends RS provides RS install_if.
const ashSplit = `for __e in $subpackages; do
	__name=${__e%%:*}
	__rest=${__e#*:}
	[ "$__rest" = "$__e" ] && __rest=""
	__fn=${__rest%%:*}
	if [ -z "$__fn" ]; then
		case $__name in
		*-bash-completion) __fn=bashcomp ;;
		*-zsh-completion) __fn=zshcomp ;;
		*-fish-completion) __fn=fishcomp ;;
		*) __fn=${__name##*-} ;;
		esac
	fi
	(
		subpkgname=$__name
		subpkgdir=/tmp/pkg/$__name # writable, as in abuild (the tree is read-only)
		provides="" install_if="" # abuild's pre_split
		$__fn >/dev/null 2>&1
		printf '%s%s%s%s%s%s%s%s%s%s%s%s' "$FS" "$__name" "$RS" "$__fn" "$RS" "$pkgdesc" "$RS" "$depends" "$RS" "$provides" "$RS" "$install_if"
	)
done
`

// TestAshAgreement sources every fixture aport with the real busybox ash
// of Alpine for x86_64, aarch64 and armv7, and requires our evaluator to
// hold exactly the same raw value (and set/unset state) for every
// top-level variable in TopLevelVars.
func TestAshAgreement(t *testing.T) {
	alpinetest.Require(t, "x86_64")
	rels, err := fixtureRels(fixtureRoot)
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) < 8 {
		t.Fatalf("found %d fixture aports in %s, want at least 8", len(rels), fixtureRoot)
	}
	abs, err := filepath.Abs(fixtureRoot)
	if err != nil {
		t.Fatal(err)
	}
	res := alpinetest.Run(t, alpinetest.Cmd{
		Arch:   "x86_64",
		Mounts: []alpinetest.Mount{{Host: abs, Guest: "/mnt"}},
		Argv:   []string{"/bin/sh", "-c", ashScript(rels)},
	})
	if res.ExitCode != 0 {
		t.Fatalf("ash exited %d: %s", res.ExitCode, res.Stderr)
	}
	records := strings.Split(res.Stdout, "\x1d")[1:]
	if want := len(rels) * len(compareArches); len(records) != want {
		t.Fatalf("ash printed %d records, want %d; stderr: %s", len(records), want, res.Stderr)
	}
	compared, subCompared := 0, 0
	for _, rec := range records {
		head, body, _ := strings.Cut(rec, "\n")
		rel, arch, _ := strings.Cut(head, " ")
		body, subs, _ := strings.Cut(body, "\x1c")
		var ashSubs [][]string
		if subs != "" {
			for _, rec := range strings.Split(subs, "\x1c") {
				ashSubs = append(ashSubs, strings.Split(rec, "\x1e"))
			}
		}
		ash := map[string]string{}
		for _, field := range strings.Split(strings.TrimSuffix(body, "\x1f"), "\x1f") {
			parts := strings.SplitN(field, "\x1e", 3)
			if len(parts) != 3 {
				t.Fatalf("%s %s: bad field %q", rel, arch, field)
			}
			if parts[1] == "s" {
				ash[parts[0]] = parts[2]
			}
		}
		t.Run(strings.ReplaceAll(rel, "/", "_")+"/"+arch, func(t *testing.T) {
			f := parseFixture(t, rel)
			ours, _, err := f.Vars(context.Background(), arch, EvalOptions{Rel: rel}, TopLevelVars)
			if err != nil {
				t.Fatalf("evaluate: %v", err)
			}
			for _, v := range TopLevelVars {
				a, aset := ash[v]
				o, oset := ours[v]
				if aset != oset || a != o {
					t.Errorf("%s: ash has %q (set %v), we have %q (set %v)", v, a, aset, o, oset)
				}
				compared++
			}
			// Subpackages: the split functions ran for real in ash.
			a := f.EvalWith(context.Background(), arch, EvalOptions{Rel: rel})
			if len(a.Subpackages) != len(ashSubs) {
				t.Fatalf("%d subpackages, ash has %d", len(a.Subpackages), len(ashSubs))
			}
			for i, sp := range a.Subpackages {
				want := ashSubs[i]
				if len(want) != 6 {
					t.Fatalf("bad ash subpackage record %q", want)
				}
				got := []string{sp.Name, sp.Func, sp.Pkgdesc, strings.Join(sp.Depends, " "), strings.Join(sp.Provides, " "), strings.Join(sp.InstallIf, " ")}
				for j, field := range []string{"name", "func", "pkgdesc", "depends", "provides", "install_if"} {
					w := want[j]
					if j >= 3 {
						w = strings.Join(List(w), " ")
					}
					if got[j] != w {
						t.Errorf("subpackage %s: %s: ash has %q, we have %q", sp.Name, field, w, got[j])
					}
					subCompared++
				}
			}
		})
	}
	t.Logf("compared %d values: %d aports x %d arches x %d variables", compared, len(rels), len(compareArches), len(TopLevelVars))
	t.Logf("compared %d subpackage values (name, func, pkgdesc, depends, provides, install_if)", subCompared)
}
