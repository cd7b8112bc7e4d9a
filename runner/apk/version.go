package apk

import "strings"

// Version order of apk-tools 2.14, as the apk 2.14.4 client of Alpine's
// 20240923 minirootfs behaves (libapk.so.2.14.0; the conformance test
// compares against it). Older apk releases read leading zeros differently
// and had no digit limit.
//
// A version is read as a chain of tokens, each compared with the token at
// the same place in the other version:
//
//	digit{.digit}...{letter{digit}}{_suffix{number}}...{-rN}...
//
//   - The first number is compared numerically: 01 == 1.
//   - A number after a dot with leading zeros is not a plain number: all
//     zeros but the last become one token worth minus their count, and the
//     rest (the last zero and the digits after it) is read as a number. So
//     1.0 > 1.00 > 1.000, 1.05 > 1.005 and 1.05 < 1.4.
//   - A number has at most 17 digits; a longer one reads as -1 and makes
//     the version invalid (100000000000000000 < 1).
//   - A letter follows a number: 1.2a < 1.2b, and 1.2a > 1.2.
//   - _alpha < _beta < _pre < _rc < (nothing) < _cvs < _svn < _git < _hg < _p.
//     A suffix name is matched as a prefix (_alphax reads _alpha and then
//     breaks at x) and suffixes chain: 1.0_alpha1_p2.
//   - -rN is the package revision, compared numerically; apk 2.14 even
//     accepts several (1-r1-r2).
//   - A NUL byte ends the version, as it ends apk's C strings.
//
// Where the tokens read so far are equal and the versions go on
// differently, apk ranks what comes next, highest first: a byte that makes
// the version invalid, a number after '.', a number after a letter or a
// zero run, a letter, a suffix, a suffix number, -rN, the end. A pre-release
// or unknown suffix ranks below all of them (1.0_rc1 < 1.0, 1_foo < 1). So
// 1.2- > 1.2 and 1A > 1a, and two versions that break at the same place
// after equal tokens are equal (1_foo == 1_bar, 1.0~abc == 1.0~abd).
// Invalid strings are ordered exactly as apk orders them, so that sorting
// never depends on validity; ValidVersion says whether apk accepts one.

// verKind is the kind of token the version reader expects next. The order
// of the values is what apk compares when one version runs out first.
type verKind int8

const (
	verInvalid     verKind = -1
	verDigitOrZero verKind = 0 // a number after '.': leading zeros are special
	verDigit       verKind = 1
	verLetter      verKind = 2
	verSuffix      verKind = 3
	verSuffixNo    verKind = 4
	verRevisionNo  verKind = 5
	verEnd         verKind = 6
)

// verMaxDigits is the longest number apk 2.14 reads; a longer one is
// invalid (it keeps the value inside int64).
const verMaxDigits = 17

// verSuffixValue matches the suffix name that starts rest and returns its
// value and length, or a length of 0 for none. Pre-release names are
// negative (alpha -4 ... rc -1), the others count up from 0 (cvs 0 ... p 4).
// As in apk 2.14 a name only has to prefix rest, and "pre" is tried before
// "p"; the names differ in their first byte otherwise, which makes that
// byte enough to pick the one candidate.
func verSuffixValue(rest string) (int64, int) {
	var name string
	var v int64
	switch rest[0] {
	case 'a':
		name, v = "alpha", -4
	case 'b':
		name, v = "beta", -3
	case 'p':
		if strings.HasPrefix(rest, "pre") {
			return -2, 3
		}
		name, v = "p", 4
	case 'r':
		name, v = "rc", -1
	case 'c':
		name, v = "cvs", 0
	case 's':
		name, v = "svn", 1
	case 'g':
		name, v = "git", 2
	case 'h':
		name, v = "hg", 3
	default:
		return 0, 0
	}
	if !strings.HasPrefix(rest, name) {
		return 0, 0
	}
	return v, len(name)
}

// verToken reads the token of kind *k at s[*pos:] and returns its value. It
// moves *pos past the token and sets *k to the kind of the token after it
// (verEnd at the end, verInvalid where the version breaks).
func verToken(s string, pos *int, k *verKind) int64 {
	p := *pos
	if p >= len(s) {
		*k = verEnd
		return 0
	}
	kind := *k
	var v int64
	n := 0             // bytes consumed
	next := verInvalid // verDigit when the next kind is known without looking
	switch kind {
	case verDigitOrZero:
		if s[p] == '0' {
			zeros := 1
			for p+zeros < len(s) && s[p+zeros] == '0' {
				zeros++
			}
			// All zeros but the last make this token; the last one
			// starts the number that follows.
			n = zeros - 1
			v = -int64(n)
			next = verDigit
			break
		}
		fallthrough
	case verDigit, verSuffixNo, verRevisionNo:
		for p+n < len(s) && s[p+n] >= '0' && s[p+n] <= '9' {
			v = v*10 + int64(s[p+n]-'0')
			n++
		}
		if n > verMaxDigits {
			*k = verInvalid
			return -1
		}
	case verLetter:
		v = int64(s[p])
		n = 1
	case verSuffix:
		v, n = verSuffixValue(s[p:])
		if n == 0 {
			*k = verInvalid
			return -1
		}
	default:
		*k = verInvalid
		return -1
	}
	p += n
	*pos = p
	switch {
	case p == len(s):
		*k = verEnd
	case next != verInvalid:
		*k = next
	default:
		*k = verNextKind(s, pos, kind)
	}
	return v
}

// verNextKind looks at the byte at s[*pos] after a token of kind prev and
// returns the kind of the next token, consuming a separator ('.', '_', "-r").
// Letters and digits are left for verToken to read.
func verNextKind(s string, pos *int, prev verKind) verKind {
	p := *pos
	c := s[p]
	switch {
	case c == 0:
		return verEnd // apk reads C strings: a NUL ends the version
	case prev <= verDigit && c >= 'a' && c <= 'z':
		return verLetter
	case prev == verLetter && c >= '0' && c <= '9':
		return verDigit
	case prev == verSuffix && c >= '0' && c <= '9':
		return verSuffixNo
	}
	n := verInvalid
	switch c {
	case '.':
		n = verDigitOrZero
	case '_':
		n = verSuffix
	case '-':
		if p+1 < len(s) && s[p+1] == 'r' {
			n = verRevisionNo
			p++
		}
	}
	*pos = p + 1
	if n < prev {
		// Going back is allowed only for a new number after a number
		// and for a new suffix after a suffix number.
		if !(n == verDigitOrZero && prev == verDigit) && !(n == verSuffix && prev == verSuffixNo) {
			n = verInvalid
		}
	}
	return n
}

// ValidVersion reports whether apk-tools 2.14 accepts v as a version
// (apk_version_validate, `apk version -c`). The empty string is valid to
// apk, and so are forms such as "1." and "1_" that nobody writes on purpose.
func ValidVersion(v string) bool {
	k, pos := verDigit, 0
	for k != verEnd && k != verInvalid {
		verToken(v, &pos, &k)
	}
	return k == verEnd
}

// CompareVersions returns -1, 0 or +1 as version a sorts before, equal to or
// after b in apk-tools 2.14 (apk_version_compare, `apk version -t a b`).
// It orders invalid versions too, the way apk does (see the top of
// version.go); it does not allocate.
func CompareVersions(a, b string) int {
	return verCompare(a, b, false)
}

// verCompare is apk_version_compare_blob_fuzzy. With fuzzy, a version that
// runs out while every token so far is equal matches the other one, in
// either direction (apk 2.14: "1" ~ "1.2" and "1.2.3" ~ "1.2").
func verCompare(a, b string, fuzzy bool) int {
	if a == b {
		return 0 // verCompareTokens(a, a) is 0 for every a (FuzzVersion checks)
	}
	return verCompareTokens(a, b, fuzzy)
}

// verCompareTokens is verCompare without the short cut for equal strings.
func verCompareTokens(a, b string, fuzzy bool) int {
	ak, bk := verDigit, verDigit
	var av, bv int64
	ap, bp := 0, 0
	for ak == bk && ak != verEnd && ak != verInvalid && av == bv {
		av = verToken(a, &ap, &ak)
		bv = verToken(b, &bp, &bk)
	}
	switch {
	case av < bv:
		return -1
	case av > bv:
		return 1
	case ak == bk || fuzzy:
		return 0
	}
	// Equal so far and one goes on: it is greater, unless it goes on with
	// a pre-release (or unknown) suffix.
	if ak == verSuffix {
		k, p := verSuffix, ap
		if verToken(a, &p, &k) < 0 {
			return -1
		}
	}
	if bk == verSuffix {
		k, p := verSuffix, bp
		if verToken(b, &p, &k) < 0 {
			return 1
		}
	}
	if ak > bk {
		return -1
	}
	return 1
}
