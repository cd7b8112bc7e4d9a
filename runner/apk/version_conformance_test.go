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
// the fixed cases; $APKFARM_VERSION_PAIRS asks for more on a deeper run.
// The seed is fixed, so every run compares the same pairs.
const (
	verConfGenerated = 1500
	verConfSeed      = 20240923
)

func verConfCount(t *testing.T) int {
	s := os.Getenv("APKFARM_VERSION_PAIRS")
	if s == "" {
		return verConfGenerated
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < 0 {
		t.Fatalf("APKFARM_VERSION_PAIRS=%q: want a count of pairs", s)
	}
	return n
}

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
func verConformancePairs(generated int) [][2]string {
	var pairs [][2]string
	for _, tc := range verOrderCases {
		if !strings.ContainsRune(tc.a+tc.b, 0) {
			pairs = append(pairs, [2]string{tc.a, tc.b})
		}
	}
	g := verGen{rand.New(rand.NewPCG(verConfSeed, verConfSeed))}
	for range generated {
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
// /tmp/vercheck/versions with `apk version -c`, which prints the invalid
// ones, between a "--" line and an "-- end" line.
const verConfScript = `
set -u
while IFS='|' read -r a b; do
	printf '%s|%s|' "$a" "$b"
	/sbin/apk version -t -- "$a" "$b" || echo "exit $?"
done < /tmp/vercheck/pairs
echo --
tr '\n' '\0' < /tmp/vercheck/versions | xargs -0 /sbin/apk version -c --
echo "-- end"
`

func TestVersionConformance(t *testing.T) {
	alpinetest.Require(t, "x86_64")
	pairs := verConformancePairs(verConfCount(t))
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
		Timeout: time.Minute + time.Duration(len(pairs))*50*time.Millisecond,
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
	if sc.Text() != "-- end" {
		t.Fatalf("apk version -c: output ends without the \"-- end\" line")
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

// depConfParseScript runs every line of /tmp/depcheck/deps through `apk add
// --simulate` in an empty root. apk says "not a valid world dependency" for
// what it cannot parse; for the rest it fails to find the package and
// prints the dependency as it formats it, in "world[...]".
const depConfParseScript = `
set -u
R=/tmp/root
/sbin/apk add --root $R --initdb --no-network --no-cache -q >/dev/null 2>&1 || echo "initdb failed"
while IFS= read -r d; do
	out=$(/sbin/apk add --root $R --no-network --no-cache -s -- "$d" 2>&1)
	case "$out" in
	*"is not a valid world dependency"*) echo "invalid" ;;
	*"world["*) w=${out#*world[}; echo "valid ${w%%]*}" ;;
	*) echo "valid" ;;
	esac
done < /tmp/depcheck/deps
`

// depConfSatisfyScript installs (in the database only) package foo of each
// version in /tmp/depcheck/satisfy and asks `apk add --simulate` to add the
// dependency next to it: apk keeps foo when it satisfies the dependency and
// reports that foo "breaks" it when not.
const depConfSatisfyScript = `
set -u
R=/tmp/root
/sbin/apk add --root $R --initdb --no-network --no-cache -q >/dev/null 2>&1 || echo "initdb failed"
while IFS='|' read -r v d; do
	printf 'C:Q1AAAAAAAAAAAAAAAAAAAAAAAAAAA=\nP:foo\nV:%s\nA:x86_64\nS:1\nI:1\nT:test\nU:http://localhost\nL:MIT\n\n' "$v" > $R/lib/apk/db/installed
	echo foo > $R/etc/apk/world
	if out=$(/sbin/apk add --root $R --no-network --no-cache -s -- "$d" 2>&1); then
		echo yes
	else
		case "$out" in
		*"breaks: world["*) echo no ;;
		*) echo "other: $out" | head -n 1 ;;
		esac
	fi
done < /tmp/depcheck/satisfy
`

// depApkFormat is how apk 2.14 prints d: it has no names for the fuzzy
// less and greater operators and prints "?" for them.
func depApkFormat(d Dep) string {
	if d.Op == "<~" || d.Op == ">~" {
		d.Op = "?"
	}
	return d.String()
}

func TestDepConformance(t *testing.T) {
	alpinetest.Require(t, "x86_64")
	dir := t.TempDir()
	run := func(script string) []string {
		t.Helper()
		res := alpinetest.Run(t, alpinetest.Cmd{
			Arch:    "x86_64",
			Mounts:  []alpinetest.Mount{{Host: dir, Guest: "/tmp/depcheck"}},
			Argv:    []string{"/bin/sh", "-c", script},
			Timeout: 5 * time.Minute,
		})
		if res.ExitCode != 0 || res.Stderr != "" {
			t.Fatalf("apk script exit %d, stderr: %s", res.ExitCode, res.Stderr)
		}
		return strings.Split(strings.TrimSuffix(res.Stdout, "\n"), "\n")
	}

	// Parsing: what ParseDep accepts apk accepts and prints the same way;
	// what it refuses apk refuses too, except the listed nonsense.
	type parseCase struct {
		in         string
		apkAccepts bool // for a string ParseDep refuses
	}
	var cases []parseCase
	for _, tc := range depParseCases {
		cases = append(cases, parseCase{in: tc.in})
	}
	for _, tc := range depBadCases {
		if tc.in != "" && !strings.Contains(tc.in, "\n") {
			cases = append(cases, parseCase{tc.in, tc.apkAccepts})
		}
	}
	var lines strings.Builder
	for _, c := range cases {
		lines.WriteString(c.in + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "deps"), []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out := run(depConfParseScript)
	if len(out) != len(cases) {
		t.Fatalf("apk answered %d of %d dependency strings:\n%s", len(out), len(cases), strings.Join(out, "\n"))
	}
	for i, c := range cases {
		d, err := ParseDep(c.in)
		apkValid := strings.HasPrefix(out[i], "valid")
		switch {
		case !apkValid && out[i] != "invalid":
			t.Errorf("apk add -s %q: unexpected answer %q", c.in, out[i])
		case err == nil && !apkValid:
			t.Errorf("ParseDep(%q) accepts it, apk refuses it", c.in)
		case err != nil && apkValid != c.apkAccepts:
			t.Errorf("ParseDep(%q) refuses it (%v); apk accepts it: %v, the case says %v", c.in, err, apkValid, c.apkAccepts)
		case err == nil && strings.HasPrefix(out[i], "valid "):
			if got, want := strings.TrimPrefix(out[i], "valid "), depApkFormat(d); got != want {
				t.Errorf("apk prints %q as %q, String gives %q", c.in, got, want)
			}
		}
	}

	// Satisfies: the fixed cases apk can answer (no conflict, no
	// checksum, a versioned package) and generated ones.
	type satCase struct{ version, dep string }
	var sats []satCase
	for _, tc := range depSatisfyCases {
		d, err := ParseDep(tc.dep)
		if err != nil {
			t.Fatal(err)
		}
		if !d.Conflict && d.Op != "><" && tc.version != "" {
			sats = append(sats, satCase{tc.version, tc.dep})
		}
	}
	g := verGen{rand.New(rand.NewPCG(verConfSeed, 2))}
	for len(sats) < 300 {
		v := g.version()
		dv := g.near(v)
		if g.r.IntN(4) == 0 {
			dv = g.version()
		}
		if !ValidVersion(v) || !ValidVersion(dv) || v == "" || dv == "" {
			continue
		}
		op := g.pick("=", "<", "<=", ">", ">=", "~", "~", "<~", ">~")
		sats = append(sats, satCase{v, "foo" + op + dv})
	}
	lines.Reset()
	for _, s := range sats {
		lines.WriteString(s.version + "|" + s.dep + "\n")
	}
	if err := os.WriteFile(filepath.Join(dir, "satisfy"), []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	out = run(depConfSatisfyScript)
	if len(out) != len(sats) {
		t.Fatalf("apk answered %d of %d satisfy checks:\n%s", len(out), len(sats), strings.Join(out, "\n"))
	}
	for i, s := range sats {
		if out[i] != "yes" && out[i] != "no" {
			t.Errorf("apk add -s %q with foo-%s installed: unexpected answer %q", s.dep, s.version, out[i])
			continue
		}
		d, err := ParseDep(s.dep)
		if err != nil {
			t.Fatal(err)
		}
		if got, want := d.Satisfies(s.version), out[i] == "yes"; got != want {
			t.Errorf("ParseDep(%q).Satisfies(%q) = %v, apk says %v", s.dep, s.version, got, want)
		}
	}
	t.Logf("compared %d dependency strings and %d (version, dependency) pairs with apk add --simulate", len(cases), len(sats))
}
