package apk

import (
	"bufio"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
)

// verConfGenerated is how many random pairs the conformance test adds to
// the fixed cases. The seed is fixed, so every run compares the same pairs.
const (
	verConfGenerated = 1500
	verConfSeed      = 20240923
)

// verGen builds random version strings from the pieces apk's grammar is
// made of, with a few broken ones mixed in.
type verGen struct{ r *rand.Rand }

func (g verGen) pick(list ...string) string { return list[g.r.IntN(len(list))] }

func (g verGen) number() string {
	switch g.r.IntN(12) {
	case 0:
		return "0"
	case 1:
		return "0" + strconv.Itoa(g.r.IntN(20)) // leading zero
	case 2:
		return strings.Repeat("0", 1+g.r.IntN(3)) + strconv.Itoa(g.r.IntN(10))
	case 3:
		return strconv.FormatUint(g.r.Uint64N(1e17), 10) // up to 17 digits
	case 4:
		if g.r.IntN(4) == 0 {
			return "1" + strings.Repeat("0", 16+g.r.IntN(3)) // 17 digits fit, 18 do not
		}
		return strconv.Itoa(20240000 + g.r.IntN(1300))
	case 5:
		return "" // an empty number, as in "1." or "1..2"
	default:
		return strconv.Itoa(g.r.IntN(12))
	}
}

func (g verGen) suffix() string {
	s := "_" + g.pick("alpha", "beta", "pre", "rc", "cvs", "svn", "git", "hg", "p", "p", "rc", "alpha")
	if g.r.IntN(12) == 0 {
		s = "_" + g.pick("foo", "r", "alphax", "pr", "") // unknown, prefix, empty
	}
	if g.r.IntN(3) > 0 {
		s += g.number()
	}
	return s
}

func (g verGen) version() string {
	var b strings.Builder
	b.WriteString(g.number())
	for range g.r.IntN(4) {
		b.WriteString("." + g.number())
	}
	if g.r.IntN(4) == 0 {
		b.WriteString(g.pick("a", "b", "c", "x", "z", "z", "a", "A", "ab"))
		if g.r.IntN(4) == 0 {
			b.WriteString(g.number())
		}
	}
	for range g.r.IntN(3) {
		b.WriteString(g.suffix())
	}
	if g.r.IntN(2) == 0 {
		b.WriteString("-r" + g.number())
	}
	if g.r.IntN(12) == 0 { // something apk does not expect
		b.WriteString(g.pick("-", "-x", ".", "_", "~abc", "-r1", ".1", "a", "é", "+", "_p1"))
	}
	return b.String()
}

// near returns a version close to v: equal up to some point, then
// different, so that comparisons get past the first token.
func (g verGen) near(v string) string {
	cut := g.r.IntN(len(v) + 1)
	head := v[:cut]
	switch g.r.IntN(6) {
	case 0:
		return head
	case 1:
		return head + g.suffix()
	case 2:
		return head + "." + g.number()
	case 3:
		return head + "-r" + g.number()
	case 4:
		return head + g.pick("0", "00", "1", "a", "z", "_", ".", "-r")
	}
	return v
}

// verConformancePairs returns the fixed hard cases followed by generated
// pairs. Pairs with a NUL are left out: a command line cannot carry one.
func verConformancePairs() [][2]string {
	var pairs [][2]string
	for _, tc := range verOrderCases {
		if !strings.ContainsRune(tc.a+tc.b, 0) {
			pairs = append(pairs, [2]string{tc.a, tc.b})
		}
	}
	g := verGen{rand.New(rand.NewPCG(verConfSeed, verConfSeed))}
	for range verConfGenerated {
		a := g.version()
		b := g.near(a)
		if g.r.IntN(5) == 0 {
			b = g.version()
		}
		if g.r.IntN(2) == 0 {
			a, b = b, a
		}
		pairs = append(pairs, [2]string{a, b})
	}
	return pairs
}

// verConfScript compares every pair in /tmp/vercheck/pairs with `apk version
// -t` (one "a|b|answer" line each) and then checks every version in
// /tmp/vercheck/versions with one `apk version -c`, which prints the invalid
// ones after a "--" line.
const verConfScript = `
set -u
while IFS='|' read -r a b; do
	printf '%s|%s|' "$a" "$b"
	/sbin/apk version -t -- "$a" "$b" || echo "exit $?"
done < /tmp/vercheck/pairs
echo --
set --
while IFS= read -r v; do set -- "$@" "$v"; done < /tmp/vercheck/versions
/sbin/apk version -c -- "$@"
echo "-- $#"
`

func TestVersionConformance(t *testing.T) {
	alpinetest.Require(t, "x86_64")
	pairs := verConformancePairs()
	seen := map[string]bool{}
	var versions []string
	var pairLines strings.Builder
	for _, p := range pairs {
		for _, v := range p {
			if strings.ContainsAny(v, "|\n") {
				t.Fatalf("version %q cannot be passed through the pair file", v)
			}
			if !seen[v] {
				seen[v] = true
				versions = append(versions, v)
			}
		}
		pairLines.WriteString(p[0] + "|" + p[1] + "\n")
	}
	for _, tc := range verValidCases {
		if !seen[tc.v] && !strings.ContainsRune(tc.v, 0) {
			seen[tc.v] = true
			versions = append(versions, tc.v)
		}
	}

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "pairs"), []byte(pairLines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "versions"), []byte(strings.Join(versions, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	res := alpinetest.Run(t, alpinetest.Cmd{
		Arch:    "x86_64",
		Mounts:  []alpinetest.Mount{{Host: dir, Guest: "/tmp/vercheck"}},
		Argv:    []string{"/bin/sh", "-c", verConfScript},
		Timeout: 5 * time.Minute,
	})
	if res.Stderr != "" {
		t.Logf("stderr: %s", res.Stderr)
	}

	sc := bufio.NewScanner(strings.NewReader(res.Stdout))
	sc.Buffer(nil, 1<<20)
	compared, mismatches := 0, 0
	for i := 0; i < len(pairs); i++ {
		if !sc.Scan() {
			t.Fatalf("apk answered %d of %d pairs; stdout ends early", i, len(pairs))
		}
		a, b := pairs[i][0], pairs[i][1]
		line := sc.Text()
		prefix := a + "|" + b + "|"
		if !strings.HasPrefix(line, prefix) {
			t.Fatalf("pair %d: apk output %q does not start with %q", i+1, line, prefix)
		}
		want, ok := map[string]int{"<": -1, "=": 0, ">": 1}[strings.TrimPrefix(line, prefix)]
		if !ok {
			t.Fatalf("pair %d (%q, %q): apk answered %q", i+1, a, b, strings.TrimPrefix(line, prefix))
		}
		compared++
		if got := CompareVersions(a, b); got != want {
			mismatches++
			t.Errorf("CompareVersions(%q, %q) = %d, apk version -t says %s", a, b, got, strings.TrimPrefix(line, prefix))
		}
	}
	if !sc.Scan() || sc.Text() != "--" {
		t.Fatalf("missing separator after the pairs in apk output")
	}
	invalid := map[string]bool{}
	for sc.Scan() && !strings.HasPrefix(sc.Text(), "-- ") {
		invalid[sc.Text()] = true
	}
	if sc.Text() != "-- "+strconv.Itoa(len(versions)) {
		t.Fatalf("apk version -c: got trailer %q, want %q (versions lost on the way)", sc.Text(), "-- "+strconv.Itoa(len(versions)))
	}
	nInvalid := 0
	for _, v := range versions {
		apkValid := !invalid[v]
		if !apkValid {
			nInvalid++
		}
		if got := ValidVersion(v); got != apkValid {
			mismatches++
			t.Errorf("ValidVersion(%q) = %v, apk version -c says %v", v, got, apkValid)
		}
	}
	t.Logf("compared %d version pairs with apk version -t and %d versions (%d invalid) with apk version -c: %d mismatches",
		compared, len(versions), nInvalid, mismatches)
	if compared < 1000 {
		t.Errorf("compared only %d pairs, want at least 1000", compared)
	}
}
