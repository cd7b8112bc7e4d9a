package apk

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Test keys are 2048 bits (a 4096-bit key takes seconds to generate) and
// made once per test binary.
var (
	sigKeysOnce sync.Once
	sigKeys     [3]*rsa.PrivateKey
	sigKeysErr  error
)

func sigTestKey(t testing.TB, i int) *rsa.PrivateKey {
	t.Helper()
	sigKeysOnce.Do(func() {
		for j := range sigKeys {
			if sigKeys[j], sigKeysErr = GenerateKey(2048); sigKeysErr != nil {
				return
			}
		}
	})
	if sigKeysErr != nil {
		t.Fatal(sigKeysErr)
	}
	return sigKeys[i]
}

// sigTestSigner returns a signer with test key i named "test<i>.rsa.pub".
func sigTestSigner(t testing.TB, i int, opts ...SignerOption) *Signer {
	t.Helper()
	s, err := NewSigner(sigTestKey(t, i), fmt.Sprintf("test%d.rsa.pub", i), opts...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sigTestKeyring trusts the test keys given by number.
func sigTestKeyring(t testing.TB, keys ...int) *Keyring {
	t.Helper()
	k := NewKeyring("/test/keys")
	for _, i := range keys {
		if err := k.Add(fmt.Sprintf("test%d.rsa.pub", i), &sigTestKey(t, i).PublicKey); err != nil {
			t.Fatal(err)
		}
	}
	return k
}

func sigTestSpec(name string) *PackageSpec {
	return &PackageSpec{
		Info: PkgInfo{Name: name, Version: "1.0-r0", Description: "signature test", URL: "https://example.org",
			BuildDate: 1726000000, Packager: "Test <t@example.org>", Arch: "x86_64", Origin: name, License: "MIT"},
		Files: []File{{Name: "usr/share/" + name + "/hello.txt", Data: []byte("hello from " + name + "\n")}},
	}
}

// sigTestPackage returns an unsigned package.
func sigTestPackage(t testing.TB, name string) []byte {
	t.Helper()
	b, err := MarshalPackage(sigTestSpec(name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sigTestIndex returns an unsigned index of the packages.
func sigTestIndex(t testing.TB, pkgs map[string][]byte) []byte {
	t.Helper()
	idx := &Index{Description: "test repo"}
	for name, b := range pkgs {
		pf, err := ReadPackageFile(b, name)
		if err != nil {
			t.Fatal(err)
		}
		idx.Packages = append(idx.Packages, pf.IndexEntry())
	}
	b, err := MarshalIndexArchive(idx)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sigTestMembers returns the signature entry names and the raw members.
func sigTestMembers(t testing.TB, b []byte) (sigs []string, members [][]byte) {
	t.Helper()
	members, err := splitMembers(b)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range members {
		name, _, ok, err := isSignatureMember(m)
		if err != nil {
			t.Fatal(err)
		}
		if ok {
			sigs = append(sigs, name)
		}
	}
	return sigs, members
}

func TestSignAndVerify(t *testing.T) {
	pkg := sigTestPackage(t, "hello")
	index := sigTestIndex(t, map[string][]byte{"hello-1.0-r0.apk": pkg})
	for _, tc := range []struct {
		name      string
		alg       Algorithm // "" for the default
		wantEntry string
	}{
		{"default is RSA256", "", ".SIGN.RSA256.test0.rsa.pub"},
		{"RSA (SHA-1)", RSA, ".SIGN.RSA.test0.rsa.pub"},
		{"RSA256", RSA256, ".SIGN.RSA256.test0.rsa.pub"},
		{"RSA512", RSA512, ".SIGN.RSA512.test0.rsa.pub"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var opts []SignerOption
			if tc.alg != "" {
				opts = append(opts, WithAlgorithm(tc.alg))
			}
			s := sigTestSigner(t, 0, opts...)
			k := sigTestKeyring(t, 0)
			for _, f := range []struct {
				kind     string
				unsigned []byte
				sign     func([]byte, string) ([]byte, error)
				verify   func([]byte, string) error
				members  int
			}{
				{"package", pkg, s.SignPackage, k.VerifyPackage, 3},
				{"index", index, s.SignIndex, k.VerifyIndex, 2},
			} {
				signed, err := f.sign(f.unsigned, f.kind)
				if err != nil {
					t.Fatalf("%s: %v", f.kind, err)
				}
				sigs, members := sigTestMembers(t, signed)
				if len(members) != f.members || len(sigs) != 1 || sigs[0] != tc.wantEntry {
					t.Fatalf("%s: %d members, signatures %q; want %d members and one %q", f.kind, len(members), sigs, f.members, tc.wantEntry)
				}
				if !bytes.Equal(signed[len(members[0]):], f.unsigned) {
					t.Fatalf("%s: signing changed the bytes after the signature member", f.kind)
				}
				// abuild-tar --cut: one header block and the padded
				// signature, no end-of-archive blocks.
				tarBytes, err := gunzipMember(members[0])
				if err != nil {
					t.Fatal(err)
				}
				if want := 2 * 512; len(tarBytes) != want {
					t.Fatalf("%s: signature tar is %d bytes, want %d (header + the 256-byte signature padded to a block, end blocks cut)", f.kind, len(tarBytes), want)
				}
				if err := f.verify(signed, f.kind); err != nil {
					t.Fatalf("%s: %v", f.kind, err)
				}
				if err := k.Verify(signed, f.kind); err != nil {
					t.Fatalf("%s: Verify: %v", f.kind, err)
				}
			}
		})
	}
}

func TestSignReplacesSignature(t *testing.T) {
	pkg := sigTestPackage(t, "hello")
	index := sigTestIndex(t, map[string][]byte{"hello.apk": pkg})
	for _, tc := range []struct {
		name     string
		unsigned []byte
		sign     func(*Signer, []byte, string) ([]byte, error)
	}{
		{"package", pkg, (*Signer).SignPackage},
		{"index", index, (*Signer).SignIndex},
	} {
		t.Run(tc.name, func(t *testing.T) {
			byA, err := tc.sign(sigTestSigner(t, 0, WithAlgorithm(RSA)), tc.unsigned, "a")
			if err != nil {
				t.Fatal(err)
			}
			byB, err := tc.sign(sigTestSigner(t, 1), byA, "b")
			if err != nil {
				t.Fatal(err)
			}
			sigs, _ := sigTestMembers(t, byB)
			if len(sigs) != 1 || sigs[0] != ".SIGN.RSA256.test1.rsa.pub" {
				t.Fatalf("after re-signing: signatures %q, want only the new one", sigs)
			}
			if err := sigTestKeyring(t, 1).Verify(byB, "b"); err != nil {
				t.Fatal(err)
			}
			if err := sigTestKeyring(t, 0).Verify(byB, "b"); !errors.Is(err, ErrUnknownKey) {
				t.Fatalf("old key still verifies the re-signed file: %v", err)
			}
			// PKCS#1 v1.5 is deterministic: re-signing with the same key
			// gives the same bytes.
			again, err := tc.sign(sigTestSigner(t, 1), byB, "b")
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(again, byB) {
				t.Fatal("signing a file signed by the same key changed it")
			}
		})
	}
}

// sigTestFlip returns a copy of b with the byte at off changed.
func sigTestFlip(b []byte, off int) []byte {
	c := bytes.Clone(b)
	c[off] ^= 0x01
	return c
}

func TestVerifyFailures(t *testing.T) {
	pkg := sigTestPackage(t, "hello")
	index := sigTestIndex(t, map[string][]byte{"hello.apk": pkg})
	s := sigTestSigner(t, 0)
	signedPkg, err := s.SignPackage(pkg, "hello.apk")
	if err != nil {
		t.Fatal(err)
	}
	signedIndex, err := s.SignIndex(index, "APKINDEX.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	_, members := sigTestMembers(t, signedPkg)
	sigLen, ctlLen := len(members[0]), len(members[1])
	_, imembers := sigTestMembers(t, signedIndex)
	// Byte 4 of a gzip member is its header's MTIME: changing it keeps
	// the member valid but changes the signed bytes.
	otherSig, err := sigTestSigner(t, 2).signatureFor([]byte("not the control member"))
	if err != nil {
		t.Fatal(err)
	}
	dsaSig, err := signatureMember(".SIGN.DSA.test0.rsa.pub", []byte("sig"))
	if err != nil {
		t.Fatal(err)
	}
	// A whole gzip member whose tar entry is shorter than its header says.
	var short bytes.Buffer
	zw, err := gzipWriter(&short, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(tarHeader(tarEntry{Name: ".SIGN.RSA256.test0.rsa.pub", Mode: 0o644, Size: 512, Typeflag: '0', Magic: tarMagicPOSIX}))
	zw.Write(make([]byte, 256))
	zw.Close()
	k := sigTestKeyring(t, 0)
	for _, tc := range []struct {
		name    string
		file    []byte
		keyring *Keyring
		verify  func(*Keyring, []byte, string) error
		is      error
		want    string
	}{
		{"unsigned package", pkg, k, (*Keyring).VerifyPackage, ErrNoSignature, "no signature"},
		{"unsigned index", index, k, (*Keyring).VerifyIndex, ErrNoSignature, "no signature"},
		{"unknown key", signedPkg, sigTestKeyring(t, 1, 2), (*Keyring).Verify, ErrUnknownKey,
			`signed by unknown key "test0.rsa.pub" (not in /test/keys)`},
		{"wrong key under the right name", signedPkg, func() *Keyring {
			k := NewKeyring("")
			k.Add("test0.rsa.pub", &sigTestKey(t, 1).PublicKey)
			return k
		}(), (*Keyring).Verify, ErrBadSignature, `signature does not match (RSA256 signature by key "test0.rsa.pub")`},
		{"control changed", sigTestFlip(signedPkg, sigLen+4), k, (*Keyring).VerifyPackage, ErrBadSignature, "signature does not match"},
		{"data changed", sigTestFlip(signedPkg, sigLen+ctlLen+4), k, (*Keyring).VerifyPackage, ErrDataHash, "data hash mismatch"},
		{"data appended", append(bytes.Clone(signedPkg), pkg[len(pkg)-len(members[2]):]...), k, (*Keyring).VerifyPackage,
			ErrDataHash, "data hash mismatch"},
		{"index changed", sigTestFlip(signedIndex, len(imembers[0])+4), k, (*Keyring).VerifyIndex, ErrBadSignature, "signature does not match"},
		{"signature swapped for another", append(bytes.Clone(otherSig), pkg...), sigTestKeyring(t, 2), (*Keyring).Verify,
			ErrBadSignature, "signature does not match"},
		{"only an unsupported signature type", append(bytes.Clone(dsaSig), pkg...), k, (*Keyring).Verify,
			ErrNoSignature, `only signatures of unsupported types [".SIGN.DSA.test0.rsa.pub"]`},
		{"truncated signature member", signedPkg[:sigLen/2], k, (*Keyring).Verify, nil, "gzip member 1 at offset 0: unexpected EOF"},
		{"signature entry shorter than its header", append(short.Bytes(), pkg...), k, (*Keyring).Verify, nil,
			"gzip member 1 at offset 0: read tar entry"},
		{"deflate stream damaged", sigTestFlip(signedPkg, sigLen+ctlLen/2), k, (*Keyring).Verify, nil, "gzip member 2"},
		{"package given as index", signedPkg, k, (*Keyring).VerifyIndex, nil, "this is a package"},
		{"index given as package", signedIndex, k, (*Keyring).VerifyPackage, nil, "this is an index"},
		{"empty file", nil, k, (*Keyring).Verify, nil, "empty file"},
		{"only a signature", members[0], k, (*Keyring).Verify, nil, "only signatures"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.verify(tc.keyring, tc.file, "repo/x86_64/f.apk")
			if err == nil {
				t.Fatal("verified")
			}
			if tc.is != nil && !errors.Is(err, tc.is) {
				t.Errorf("err = %v, want it to wrap %v", err, tc.is)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), `"repo/x86_64/f.apk"`) {
				t.Errorf("err = %v, want it to name the file and contain %q", err, tc.want)
			}
		})
	}
}

// TestVerifyFirstTrustedSignature: like apk, the first signature by a key
// in the keyring counts, and the others are ignored.
func TestVerifyFirstTrustedSignature(t *testing.T) {
	pkg := sigTestPackage(t, "hello")
	byA, err := sigTestSigner(t, 0).SignPackage(pkg, "p")
	if err != nil {
		t.Fatal(err)
	}
	byB, err := sigTestSigner(t, 1).SignPackage(pkg, "p")
	if err != nil {
		t.Fatal(err)
	}
	sigA := byA[:len(byA)-len(pkg)]
	both := append(bytes.Clone(sigA), byB...) // sig A, sig B, control, data
	for _, tc := range []struct {
		name string
		keys []int
		is   error
	}{
		{"first key trusted", []int{0}, nil},
		{"second key trusted", []int{1}, nil},
		{"neither", []int{2}, ErrUnknownKey},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := sigTestKeyring(t, tc.keys...).VerifyPackage(both, "p")
			if !errors.Is(err, tc.is) {
				t.Fatalf("err = %v, want %v", err, tc.is)
			}
		})
	}
	// Re-signing drops both.
	re, err := sigTestSigner(t, 2).SignPackage(both, "p")
	if err != nil {
		t.Fatal(err)
	}
	if sigs, _ := sigTestMembers(t, re); len(sigs) != 1 {
		t.Fatalf("re-signed file has signatures %q, want one", sigs)
	}
}

func TestSignRefuses(t *testing.T) {
	pkg := sigTestPackage(t, "hello")
	index := sigTestIndex(t, map[string][]byte{"hello.apk": pkg})
	_, members := sigTestMembers(t, pkg)
	s := sigTestSigner(t, 0)
	for _, tc := range []struct {
		name string
		sign func([]byte, string) ([]byte, error)
		in   []byte
		is   error
		want string
	}{
		{"index as package", s.SignPackage, index, nil, `sign package "f": this is an index`},
		{"package as index", s.SignIndex, pkg, nil, `sign index "f": this is a package`},
		{"data does not match datahash", s.SignPackage, sigTestFlip(pkg, len(members[0])+4), ErrDataHash, "data hash mismatch"},
		{"control member only", s.SignPackage, members[0], nil, "no data member"},
		{"not gzip", s.SignPackage, []byte("hello"), nil, `sign package "f": gzip member 1`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := tc.sign(tc.in, "f")
			if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestSignerOptions(t *testing.T) {
	for _, tc := range []struct {
		name string
		key  *rsa.PrivateKey
		kn   string
		opts []SignerOption
		want string
	}{
		{"unknown algorithm", sigTestKey(t, 0), "k.rsa.pub", []SignerOption{WithAlgorithm("DSA")}, `signature type "DSA" unknown`},
		{"key name with slash", sigTestKey(t, 0), "../k.rsa.pub", nil, `key name "../k.rsa.pub"`},
		{"empty key name", sigTestKey(t, 0), "", nil, `key name ""`},
		{"weak key", func() *rsa.PrivateKey {
			k, err := rsa.GenerateKey(rand.Reader, 1024)
			if err != nil {
				t.Fatal(err)
			}
			return k
		}(), "k.rsa.pub", nil, "1024-bit key is too weak"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewSigner(tc.key, tc.kn, tc.opts...)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestSignatureLongKeyName: a key name too long for a tar header goes
// into a PAX header, and reads back.
func TestSignatureLongKeyName(t *testing.T) {
	long := strings.Repeat("a-very-long-packager-address", 4) + "@example.org-6920a1b2.rsa.pub"
	s, err := NewSigner(sigTestKey(t, 0), long)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := s.SignPackage(sigTestPackage(t, "hello"), "p")
	if err != nil {
		t.Fatal(err)
	}
	sigs, _ := sigTestMembers(t, signed)
	if len(sigs) != 1 || sigs[0] != ".SIGN.RSA256."+long {
		t.Fatalf("signatures %q, want the long name", sigs)
	}
	k := NewKeyring("")
	k.Add(long, &sigTestKey(t, 0).PublicKey)
	if err := k.Verify(signed, "p"); err != nil {
		t.Fatal(err)
	}
}

func TestSignPackages(t *testing.T) {
	pkgs := [][]byte{sigTestPackage(t, "a"), sigTestPackage(t, "b"), sigTestPackage(t, "c")}
	s := sigTestSigner(t, 0)
	out, err := s.SignPackages(pkgs)
	if err != nil {
		t.Fatal(err)
	}
	k := sigTestKeyring(t, 0)
	for i := range pkgs {
		want, _ := s.SignPackage(pkgs[i], "x")
		if !bytes.Equal(out[i], want) {
			t.Errorf("package %d: parallel result differs from SignPackage", i)
		}
		if err := k.VerifyPackage(out[i], "x"); err != nil {
			t.Error(err)
		}
	}
	pkgs[1] = []byte("junk")
	if _, err := s.SignPackages(pkgs); err == nil || !strings.Contains(err.Error(), `"package 1"`) {
		t.Fatalf("err = %v, want it to name package 1", err)
	}
}

// sigFuzzSigner signs with the committed openssl test key, so that the
// seed corpus (testdata/fuzz/FuzzVerify) stays valid.
func sigFuzzSigner(t testing.TB) (*Signer, *Keyring) {
	t.Helper()
	s, err := LoadSigner(opensslPKCS8)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := LoadPublicKey(opensslPKCS8 + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	k := NewKeyring("testdata/keys")
	if err := k.Add(s.KeyName(), pub); err != nil {
		t.Fatal(err)
	}
	return s, k
}

// FuzzVerify: no input makes the verifier panic, and whatever it accepts
// the signer can re-sign into a file that verifies again.
func FuzzVerify(f *testing.F) {
	s, k := sigFuzzSigner(f)
	pkg := sigTestPackage(f, "hello")
	signedPkg, err := s.SignPackage(pkg, "p")
	if err != nil {
		f.Fatal(err)
	}
	signedIndex, err := s.SignIndex(sigTestIndex(f, map[string][]byte{"hello-1.0-r0.apk": pkg}), "i")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range [][]byte{signedPkg, signedIndex, pkg, signedPkg[:200], {0x1f, 0x8b}} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		err := k.Verify(b, "fuzz.apk")
		if err == nil {
			if k.VerifyPackage(b, "f") != nil && k.VerifyIndex(b, "f") != nil {
				t.Fatal("Verify accepts what neither VerifyPackage nor VerifyIndex does")
			}
			l, err := (&source{bytes.NewReader(b), int64(len(b))}).readHead(DefaultLimits, true)
			if err != nil {
				t.Fatalf("verified but the head does not parse: %v", err)
			}
			var re []byte
			if l.kind == kindPackage {
				re, err = s.SignPackage(b, "f")
			} else {
				re, err = s.SignIndex(b, "f")
			}
			if err != nil {
				t.Fatalf("verified %s cannot be re-signed: %v", l.kind, err)
			}
			if err := k.Verify(re, "f"); err != nil {
				t.Fatalf("re-signed %s does not verify: %v", l.kind, err)
			}
			return
		}
		if !strings.Contains(err.Error(), `"fuzz.apk"`) {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}

// TestFuzzVerifyCorpus: the named seeds in testdata/fuzz/FuzzVerify still
// mean what their names say (the signed ones verify, the others do not),
// so the fuzzer starts from both sides of every check.
func TestFuzzVerifyCorpus(t *testing.T) {
	_, k := sigFuzzSigner(t)
	for _, tc := range []struct {
		seed string
		ok   bool
	}{
		{"signed-package-rsa256", true},
		{"signed-package-rsa", true},
		{"signed-package-long-key-name", false}, // its key name is not in the keyring
		{"two-signatures", true},
		{"signed-index", true},
		{"unsigned-package", false},
		{"unsigned-index", false},
		{"dsa-signature", false},
		{"truncated-signature", false},
		{"signature-only", false},
		{"data-changed", false},
	} {
		t.Run(tc.seed, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join("testdata/fuzz/FuzzVerify", tc.seed))
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.SplitN(string(raw), "\n", 3)
			if len(lines) < 2 || !strings.HasPrefix(lines[1], "[]byte(") {
				t.Fatalf("not a fuzz corpus file")
			}
			s, err := strconv.Unquote(strings.TrimSuffix(strings.TrimPrefix(lines[1], "[]byte("), ")"))
			if err != nil {
				t.Fatal(err)
			}
			if err := k.Verify([]byte(s), tc.seed); (err == nil) != tc.ok {
				t.Fatalf("Verify = %v, want ok=%v", err, tc.ok)
			}
		})
	}
}

// sigBenchSigner returns a signer with a new key of the given size.
func sigBenchSigner(b *testing.B, bits int) *Signer {
	b.Helper()
	k, err := GenerateKey(bits)
	if err != nil {
		b.Fatal(err)
	}
	s, err := NewSigner(k, "bench.rsa.pub")
	if err != nil {
		b.Fatal(err)
	}
	return s
}

// sigCPU returns the CPU time this process has used (all threads). The
// benchmarks report it per op as cpu-ns/op beside the wall time, because
// on a shared machine the wall time says more about the neighbours.
func sigCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// sigLoop runs f b.N times and reports cpu-ns/op.
func sigLoop(b *testing.B, f func() error) {
	b.Helper()
	b.ResetTimer()
	start := sigCPU()
	for b.Loop() {
		if err := f(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(sigCPU()-start)/float64(b.N), "cpu-ns/op")
}

// BenchmarkSignPackage: one small package (the cost is the RSA signature
// plus reading the package through).
func BenchmarkSignPackage(b *testing.B) {
	pkg := sigTestPackage(b, "hello")
	for _, bits := range []int{2048, 4096} {
		b.Run(fmt.Sprintf("rsa%d", bits), func(b *testing.B) {
			s := sigBenchSigner(b, bits)
			b.SetBytes(int64(len(pkg)))
			sigLoop(b, func() error {
				_, err := s.SignPackage(pkg, "p")
				return err
			})
		})
	}
}

// BenchmarkSignPackages: 1,000 small packages per op, signed on all CPUs
// (the goal is under a second per op with a 4096-bit key).
func BenchmarkSignPackages(b *testing.B) {
	pkgs := make([][]byte, 1000)
	for i := range pkgs {
		pkgs[i] = sigTestPackage(b, fmt.Sprintf("pkg%d", i))
	}
	for _, bits := range []int{2048, 4096} {
		b.Run(fmt.Sprintf("rsa%d/1000", bits), func(b *testing.B) {
			s := sigBenchSigner(b, bits)
			sigLoop(b, func() error {
				_, err := s.SignPackages(pkgs)
				return err
			})
		})
	}
}

func BenchmarkVerifyPackage(b *testing.B) {
	pkg := sigTestPackage(b, "hello")
	for _, bits := range []int{2048, 4096} {
		b.Run(fmt.Sprintf("rsa%d", bits), func(b *testing.B) {
			s := sigBenchSigner(b, bits)
			signed, err := s.SignPackage(pkg, "p")
			if err != nil {
				b.Fatal(err)
			}
			k := NewKeyring("")
			k.Add(s.KeyName(), s.PublicKey())
			b.SetBytes(int64(len(signed)))
			sigLoop(b, func() error { return k.VerifyPackage(signed, "p") })
		})
	}
}

func ExampleSigner_SignPackage() {
	key, _ := GenerateKey(2048) // LoadSigner reads a key file instead
	s, _ := NewSigner(key, "builder@example.org-6920a1b2.rsa.pub")
	pkg, _ := MarshalPackage(&PackageSpec{
		Info:  PkgInfo{Name: "hello", Version: "1.0-r0", Arch: "noarch", License: "MIT"},
		Files: []File{{Name: "usr/share/hello/greeting", Data: []byte("hello\n")}},
	})
	signed, err := s.SignPackage(pkg, "hello-1.0-r0.apk")
	if err != nil {
		fmt.Println(err)
		return
	}
	trusted := NewKeyring("/etc/apk/keys")
	trusted.Add(s.KeyName(), s.PublicKey())
	fmt.Println(trusted.Verify(signed, "hello-1.0-r0.apk"))
	fmt.Println(NewKeyring("/etc/apk/keys").Verify(signed, "hello-1.0-r0.apk"))
	// Output:
	// <nil>
	// verify "hello-1.0-r0.apk": signed by unknown key "builder@example.org-6920a1b2.rsa.pub" (not in /etc/apk/keys)
}

// sigTestNoDataHash returns an old-style package whose .PKGINFO has no
// datahash: control member (cut) and data member.
func sigTestNoDataHash(t testing.TB) []byte {
	t.Helper()
	spec := sigTestSpec("old")
	_, members := sigTestMembers(t, sigTestPackage(t, "old"))
	info := spec.Info.Marshal()
	var ctl bytes.Buffer
	zw, err := gzipWriter(&ctl, gzip.BestCompression)
	if err != nil {
		t.Fatal(err)
	}
	zw.Write(tarHeader(tarEntry{Name: ".PKGINFO", Mode: 0o644, Size: int64(len(info)), Typeflag: '0', Magic: tarMagicPOSIX}))
	zw.Write(info)
	zw.Write(tarPadding(int64(len(info))))
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return append(ctl.Bytes(), members[1]...)
}

// TestVerifyWithoutDataHash: for a package without a datahash, apk checks
// the signature over control and data together; so does our verifier. The
// signer refuses to sign such a package.
func TestVerifyWithoutDataHash(t *testing.T) {
	pkg := sigTestNoDataHash(t)
	s := sigTestSigner(t, 0)
	if _, err := s.SignPackage(pkg, "old.apk"); err == nil || !strings.Contains(err.Error(), "no datahash") {
		t.Fatalf("SignPackage: err = %v, want a refusal", err)
	}
	whole, err := signOver(s, pkg, pkg) // over control and data
	if err != nil {
		t.Fatal(err)
	}
	_, members := sigTestMembers(t, pkg)
	controlOnly, err := signOver(s, members[0], pkg)
	if err != nil {
		t.Fatal(err)
	}
	k := sigTestKeyring(t, 0)
	if err := k.VerifyPackage(whole, "old.apk"); err != nil {
		t.Fatalf("signature over control and data: %v", err)
	}
	if err := k.VerifyPackage(controlOnly, "old.apk"); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("signature over the control member only: %v, want %v", err, ErrBadSignature)
	}
}
