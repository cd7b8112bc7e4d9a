package apk

import (
	"fmt"
	"testing"
)

// verOrderCases are version pairs with the order apk-tools 2.14.4 gives
// them (`apk version -t a b`). The conformance test runs every one of them
// through the real client as well, so a wrong want here fails there.
var verOrderCases = []struct {
	name string
	a, b string
	want int
}{
	{"equal", "1.2.3", "1.2.3", 0},
	{"numeric not lexical", "1.10", "1.9", 1},
	{"more components", "1.2.3", "1.2", 1},
	{"first component leading zero is numeric", "01", "1", 0},
	{"first component zeros", "00", "0", 0},
	{"zero after dot above double zero", "1.0", "1.00", 1},
	{"double zero above triple zero", "1.00", "1.000", 1},
	{"leading zero below plain", "1.01", "1.1", -1},
	{"fewer leading zeros greater", "1.01", "1.001", 1},
	{"leading zero as fraction", "1.05", "1.4", -1},
	{"leading zero deep", "1.0.05", "1.0.4", -1},
	{"zero after dot then digits", "1.005", "1.05", -1},
	{"zero component vs none", "1.0", "1", 1},
	{"trailing dot above bare", "1.", "1", 1},
	{"trailing dot below dot zero", "1.", "1.0", -1},
	{"trailing dot above dot double zero", "1.", "1.00", 1},
	{"empty component above dot zero component", "1..1", "1.0.1", 1},
	{"empty component below one", "1..1", "1.1", -1},
	{"letter above bare", "1.2a", "1.2", 1},
	{"letters ordered", "1.2a", "1.2b", -1},
	{"letter below next number", "1.2z", "1.3", -1},
	{"letter vs dot number", "1a", "1.0", -1},
	{"letter then number", "1a1", "1a", 1},
	{"number after letter has no zero rule", "1a01", "1a1", 0},
	{"dot letter", "1.a", "1a", 1},
	{"alpha below release", "1.0_alpha", "1.0", -1},
	{"beta above alpha", "1.0_beta", "1.0_alpha", 1},
	{"pre above beta", "1.0_pre", "1.0_beta", 1},
	{"rc above pre", "1.0_rc", "1.0_pre", 1},
	{"rc below release", "1.0_rc1", "1.0", -1},
	{"cvs above release", "1.0_cvs", "1.0", 1},
	{"svn above cvs", "1.0_svn", "1.0_cvs", 1},
	{"git above svn", "1.0_git", "1.0_svn", 1},
	{"hg above git", "1.0_hg", "1.0_git", 1},
	{"p above hg", "1.0_p", "1.0_hg", 1},
	{"p above pre", "1_p", "1_pre", 1},
	{"suffix numbers numeric", "1_alpha2", "1_alpha10", -1},
	{"suffix number leading zero", "1_alpha02", "1_alpha2", 0},
	{"suffix number vs none", "1_rc", "1_rc0", -1},
	{"release above any rc", "1.0", "1.0_rc99", 1},
	{"chained p above base", "1.0_alpha1_p2", "1.0_alpha1", 1},
	{"chained pre below base", "1.2_rc1_pre2", "1.2_rc1", -1},
	{"chained p p", "1_p1_p2", "1_p1", 1},
	{"chained p vs alpha", "1_p1_p2", "1_p1_alpha", 1},
	{"suffix chain without number", "1_p_p", "1_p", 1},
	{"alpha chain below beta", "1.0_alpha_beta", "1.0_beta", -1},
	{"revision numeric", "1.0-r10", "1.0-r9", 1},
	{"revision leading zero", "1.2.3-r4", "1.2.3-r04", 0},
	{"revision above none", "1.0-r1", "1.0", 1},
	{"revision zero above none", "1.0-r0", "1.0", 1},
	{"empty revision equals zero", "1-r", "1-r0", 0},
	{"suffix beats revision", "1.0_p1-r0", "1.0-r5", 1},
	{"pre suffix below revision", "1.0_rc1-r9", "1.0-r0", -1},
	{"p0 above release revision", "1.2.3_p0-r4", "1.2.3-r4", 1},
	{"double revision", "1.2-r1-r2", "1.2-r1", 1},
	{"17 digits", "99999999999999999", "99999999999999998", 1},
	{"17 digits above small", "10000000000000000", "9", 1},
	{"18 digits invalid below one", "100000000000000000", "1", -1},
	{"18 digits invalid equal", "100000000000000000", "999999999999999999", 0},
	{"20 digits invalid", "99999999999999999999", "0", -1},
	{"long number after dot invalid", "1.1000000000000000000", "1", 1},
	{"long number after dot below dot", "1.1000000000000000000", "1.", -1},
	{"long suffix number", "1_p18446744073709551616", "1_p0", -1},
	{"long revision", "1-r18446744073709551616", "1", 1},
	{"empty below one", "", "1", -1},
	{"empty equals empty", "", "", 0},
	{"empty equals zero", "", "0", 0},
	{"letters only", "abc", "xyz", -1},
	{"letters below number", "abc", "1", -1},
	{"unknown suffixes equal", "1_foo", "1_bar", 0},
	{"unknown suffix below release", "1_foo", "1", -1},
	{"unknown suffix above alpha", "1_foo", "1_alpha", 1},
	{"suffix prefix match then junk", "1_alphax", "1_alpha", 1},
	{"short suffix p then junk", "1_pr", "1_p", 1},
	{"empty suffix above release", "1_", "1", 1},
	{"empty suffix below p", "1_", "1_p", -1},
	{"empty suffix above alpha", "1_", "1_alpha", 1},
	{"dash without r above end", "1.2.3-", "1.2.3", 1},
	{"junk after revision", "1.2.3-r4x", "1.2.3-r4", 1},
	{"uppercase letter invalid", "1A", "1a", 1},
	{"uppercase letter vs bare", "1Z", "1", 1},
	{"two letters", "1ab", "1a", 1},
	{"plus prefix", "1", "+1", 1},
	{"tilde hash is junk", "1.0~abc", "1.0", 1},
	{"tilde hashes equal", "1.0~abc", "1.0~abd", 0},
	{"date versions", "20240923", "20240922", 1},
	{"alpine style", "3.21.0_alpha20240923", "3.21.0", -1},
	{"git snapshot", "0.0_git20240101", "0.0", 1},
	{"kernel style", "6.6.52-r0", "6.6.9-r3", 1},
	{"nul ends the version", "1.2\x00zzz", "1.2", 0},
	{"rank junk above dot number", "1A", "1.0", 1},
	{"rank dot number above letter", "1.0", "1a", 1},
	{"rank digit after letter above suffix", "1a1", "1a_p", 1},
	{"rank letter above post suffix", "1a", "1_p", 1},
	{"rank post suffix above revision", "1_p", "1-r1", 1},
	{"rank suffix number above revision", "1_p1", "1_p-r1", 1},
	{"rank revision above end", "1-r0", "1", 1},
	{"rank pre suffix below end", "1_alpha", "1", -1},
	{"rank unknown suffix below revision", "1_foo", "1-r0", -1},
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range verOrderCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := CompareVersions(tc.a, tc.b); got != tc.want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
			}
			if got := CompareVersions(tc.b, tc.a); got != -tc.want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d (reversed)", tc.b, tc.a, got, -tc.want)
			}
		})
	}
}

// verValidCases are what `apk version -c` accepts; the conformance test
// checks them against the real client too.
var verValidCases = []struct {
	name string
	v    string
	want bool
}{
	{"plain", "1.2.3", true},
	{"full", "1.2.3a_rc1_p2-r4", true},
	{"empty", "", true},
	{"zero", "0", true},
	{"leading zeros", "01.002", true},
	{"trailing dot", "1.", true},
	{"double dot", "1..1", true},
	{"dot letter", "1.a", true},
	{"letters only", "a", true},
	{"two letters", "ab", false},
	{"letter digit", "1a1", true},
	{"letter digit dot", "1a1.2", true},
	{"empty suffix", "1_", true},
	{"empty revision", "1-r", true},
	{"double revision", "1-r1-r2", true},
	{"double underscore", "1__p", false},
	{"suffix number letter", "1_p1a", false},
	{"suffix after revision", "1-r1_p", false},
	{"dot after revision", "1.2-r1.3", false},
	{"dot after suffix number", "1_rc1.2", false},
	{"dot after letter", "1a.1", false},
	{"dash without r", "1-2", false},
	{"trailing dash", "1-", false},
	{"unknown suffix", "1_foo", false},
	{"suffix prefix then junk", "1_alphax", false},
	{"uppercase", "1A", false},
	{"17 digits", "12345678901234567", true},
	{"18 digits", "123456789012345678", false},
	{"18 digit suffix number", "1_p123456789012345678", false},
	{"long zero run", "1.0000000000000000000000001", true},
	{"space", "1 2", false},
	{"tilde", "1.0~abc", false},
	{"utf8", "1.0é", false},
	{"nul ends", "1\x00junk", true},
}

func TestValidVersion(t *testing.T) {
	for _, tc := range verValidCases {
		t.Run(tc.name, func(t *testing.T) {
			if got := ValidVersion(tc.v); got != tc.want {
				t.Errorf("ValidVersion(%q) = %v, want %v", tc.v, got, tc.want)
			}
		})
	}
}

// TestCompareVersionsTotalOrder checks that the order is transitive over a
// sorted chain of valid versions, each strictly above the one before.
func TestCompareVersionsTotalOrder(t *testing.T) {
	chain := []string{
		"0", "0.0.1", "0.1", "1.00", "1.0_alpha", "1.0_alpha1", "1.0_alpha2_p1",
		"1.0_beta", "1.0_pre1", "1.0_rc1", "1.0_rc1-r1", "1.0",
		"1.0-r0", "1.0-r1", "1.0-r10", "1.0_cvs", "1.0_svn", "1.0_git",
		"1.0_hg", "1.0_p", "1.0_p1", "1.0a", "1.0b", "1.0.0", "1.01",
		"1.1", "1.1a", "1.2", "1.10", "2", "10", "99999999999999999",
	}
	for i := range chain {
		for j := range chain {
			want := 0
			switch {
			case i < j:
				want = -1
			case i > j:
				want = 1
			}
			if got := CompareVersions(chain[i], chain[j]); got != want {
				t.Errorf("CompareVersions(%q, %q) = %d, want %d", chain[i], chain[j], got, want)
			}
		}
	}
}

func FuzzVersion(f *testing.F) {
	for _, tc := range verOrderCases {
		f.Add(tc.a, tc.b)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		ab, ba := CompareVersions(a, b), CompareVersions(b, a)
		if ab < -1 || ab > 1 {
			t.Fatalf("CompareVersions(%q, %q) = %d, want -1, 0 or 1", a, b, ab)
		}
		if ab != -ba {
			t.Fatalf("CompareVersions(%q, %q) = %d but CompareVersions(%q, %q) = %d", a, b, ab, b, a, ba)
		}
		// The short cut for equal strings must agree with the token reader,
		// valid version or not.
		if got := verCompareTokens(a, a, false); got != 0 {
			t.Fatalf("verCompareTokens(%q, %q) = %d, want 0", a, a, got)
		}
		if got := verCompareTokens(a, b, false); got != ab {
			t.Fatalf("verCompareTokens(%q, %q) = %d, CompareVersions = %d", a, b, got, ab)
		}
		// Fuzzy matching only turns an order into a match.
		if fz := verCompare(a, b, true); fz != ab && fz != 0 {
			t.Fatalf("fuzzy compare of %q and %q = %d, plain = %d", a, b, fz, ab)
		}
	})
}

func BenchmarkCompareVersions(b *testing.B) {
	pairs := [][2]string{
		{"1.2.3-r0", "1.2.3-r1"},
		{"6.6.52-r0", "6.6.9-r3"},
		{"3.21.0_alpha20240923", "3.21.0_alpha20240923-r1"},
		{"1.0.05_rc1_p2-r4", "1.0.05_rc1_p2-r5"},
		{"2.14.4-r1", "2.14.4-r1"}, // equal strings take the short cut
	}
	for _, p := range pairs {
		b.Run(fmt.Sprintf("%s_vs_%s", p[0], p[1]), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				CompareVersions(p[0], p[1])
			}
		})
	}
}

func BenchmarkValidVersion(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		ValidVersion("3.21.0_alpha20240923_p1-r12")
	}
}
