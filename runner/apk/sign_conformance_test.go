package apk

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/apkfarm/apkfarm/internal/alpinetest"
)

// The real apk-tools 2.14.4 client judges what the signer writes. Files go
// into one host directory mounted at /tmp/w in the Alpine rootfs.

const sigConfGuest = "/tmp/w"

type sigConfDir struct {
	t    *testing.T
	host string
}

func newSigConfDir(t *testing.T) *sigConfDir {
	t.Helper()
	alpinetest.Require(t, "x86_64")
	return &sigConfDir{t: t, host: t.TempDir()}
}

// write stores b at rel and returns the guest path.
func (d *sigConfDir) write(rel string, b []byte) string {
	d.t.Helper()
	p := filepath.Join(d.host, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		d.t.Fatal(err)
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		d.t.Fatal(err)
	}
	return sigConfGuest + "/" + rel
}

// key puts the public half of s into keys dir kd under the signer's key
// name, or under name when given.
func (d *sigConfDir) key(kd string, s *Signer, name string) string {
	d.t.Helper()
	if name == "" {
		name = s.KeyName()
	}
	d.write(kd+"/"+name, MarshalPublicKey(s.PublicKey()))
	return sigConfGuest + "/" + kd
}

func (d *sigConfDir) apk(args ...string) alpinetest.Result {
	d.t.Helper()
	return alpinetest.Apk(d.t, "x86_64", []alpinetest.Mount{{Host: d.host, Guest: sigConfGuest, Writable: true}}, args...)
}

// verifyLines runs apk verify on the files and returns its verdict line
// per file ("0 - OK", "0 - UNTRUSTED", "-129 - BAD signature", ...) and
// its exit code (the number of bad files).
func (d *sigConfDir) verifyLines(keysDir string, files ...string) (map[string]string, int) {
	d.t.Helper()
	res := d.apk(append([]string{"verify", "--keys-dir", keysDir}, files...)...)
	got := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(res.Stdout), "\n") {
		if f, v, ok := strings.Cut(l, ": "); ok {
			got[f] = v
		}
	}
	if len(got) != len(files) {
		d.t.Fatalf("apk verify printed %d verdicts for %d files\nstdout: %s\nstderr: %s", len(got), len(files), res.Stdout, res.Stderr)
	}
	return got, res.ExitCode
}

// TestConformanceApkVerifiesOurSignatures: packages and indexes we sign,
// with every signature type, key form and layout we write, pass apk verify
// and our own verifier.
func TestConformanceApkVerifiesOurSignatures(t *testing.T) {
	d := newSigConfDir(t)
	pkg := sigTestPackage(t, "hello")
	index := sigTestIndex(t, map[string][]byte{"hello-1.0-r0.apk": pkg})
	loaded := func(path string) *Signer {
		s, err := LoadSigner(path)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	longName, err := NewSigner(sigTestKey(t, 1), strings.Repeat("packager-with-a-long-address", 4)+"@example.org-6920a1b2.rsa.pub")
	if err != nil {
		t.Fatal(err)
	}
	type signCase struct {
		name   string
		signer *Signer
		keyAs  string // file name of the public key in the keys dir; "" the key name
		prefix []byte // signature members put before ours
	}
	untrusted, err := sigTestSigner(t, 2).SignPackage(pkg, "x")
	if err != nil {
		t.Fatal(err)
	}
	cases := []signCase{
		{name: "RSA (SHA-1)", signer: sigTestSigner(t, 0, WithAlgorithm(RSA))},
		{name: "RSA256 (default)", signer: sigTestSigner(t, 0)},
		{name: "RSA512", signer: sigTestSigner(t, 0, WithAlgorithm(RSA512))},
		{name: "openssl 3 PKCS#8 key file", signer: loaded(opensslPKCS8)},
		{name: "openssl PKCS#1 key file", signer: loaded(opensslPKCS1)},
		{name: "key name longer than a tar header", signer: longName},
		{name: "untrusted signature before ours", signer: sigTestSigner(t, 0), prefix: untrusted[:len(untrusted)-len(pkg)]},
	}
	var files []string // two per case: package, index
	for i, tc := range cases {
		kd := fmt.Sprintf("keys%d", i)
		d.key(kd, tc.signer, tc.keyAs)
		k, err := LoadKeyring(filepath.Join(d.host, kd))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range []struct {
			file string
			in   []byte
			sign func([]byte, string) ([]byte, error)
		}{
			{"hello-1.0-r0.apk", pkg, tc.signer.SignPackage},
			{"APKINDEX.tar.gz", index, tc.signer.SignIndex},
		} {
			signed, err := f.sign(f.in, f.file)
			if err != nil {
				t.Fatalf("%s: %v", tc.name, err)
			}
			signed = append(bytes.Clone(tc.prefix), signed...)
			if err := k.Verify(signed, f.file); err != nil {
				t.Errorf("%s: our verifier: %v", tc.name, err)
			}
			p := d.write(fmt.Sprintf("case%d/%s", i, f.file), signed)
			files = append(files, p)
		}
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			mine := []string{files[2*i], files[2*i+1]}
			got, code := d.verifyLines(fmt.Sprintf("%s/keys%d", sigConfGuest, i), mine...)
			for _, f := range mine {
				if got[f] != "0 - OK" {
					t.Errorf("apk verify %s: %q, want \"0 - OK\"", f, got[f])
				}
			}
			if code != 0 {
				t.Errorf("apk verify exit %d, want 0", code)
			}
		})
	}
}

// TestConformanceApkInstallsFromOurIndex: an index we write and sign lets
// apk add install from the repository, and without our key apk refuses the
// repository as UNTRUSTED.
func TestConformanceApkInstallsFromOurIndex(t *testing.T) {
	d := newSigConfDir(t)
	s := sigTestSigner(t, 0)
	pkgs := map[string][]byte{}
	for _, n := range []string{"hello", "other"} {
		signed, err := s.SignPackage(sigTestPackage(t, n), n)
		if err != nil {
			t.Fatal(err)
		}
		file := n + "-1.0-r0.apk"
		pkgs[file] = signed
		d.write("repo/x86_64/"+file, signed)
	}
	index, err := s.SignIndex(sigTestIndex(t, pkgs), "APKINDEX.tar.gz")
	if err != nil {
		t.Fatal(err)
	}
	d.write("repo/x86_64/APKINDEX.tar.gz", index)
	ours := d.key("keys", s, "")
	other := d.key("otherkeys", sigTestSigner(t, 1), "")
	impostor := d.key("impostor", sigTestSigner(t, 1), s.KeyName()) // another key under our key's name
	repo := sigConfGuest + "/repo"

	for _, tc := range []struct {
		name     string
		keysDir  string
		root     string
		wantCode int
		wantErr  string // in stderr
	}{
		{"with our key", ours, "r-ok", 0, ""},
		{"without our key", other, "r-untrusted", 1, "UNTRUSTED signature"},
		{"another key under our key's name", impostor, "r-impostor", 1, "BAD signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := d.apk("add", "--root", sigConfGuest+"/"+tc.root, "--initdb", "--keys-dir", tc.keysDir, "-X", repo, "hello")
			if res.ExitCode != tc.wantCode || !strings.Contains(res.Stderr, tc.wantErr) {
				t.Fatalf("apk add: exit %d, want %d and stderr with %q\nstdout: %s\nstderr: %s",
					res.ExitCode, tc.wantCode, tc.wantErr, res.Stdout, res.Stderr)
			}
			installed, err := os.ReadFile(filepath.Join(d.host, tc.root, "usr/share/hello/hello.txt"))
			if tc.wantCode == 0 {
				if err != nil || string(installed) != "hello from hello\n" {
					t.Fatalf("installed file: %q, %v", installed, err)
				}
				if !strings.Contains(res.Stdout, "Installing hello (1.0-r0)") {
					t.Fatalf("stdout: %s", res.Stdout)
				}
			} else if err == nil {
				t.Fatal("apk installed from an untrusted repository")
			}
		})
	}
}

// TestConformanceTampering: every change to a signed file that our
// verifier rejects, apk rejects too.
func TestConformanceTampering(t *testing.T) {
	d := newSigConfDir(t)
	s := sigTestSigner(t, 0)
	pkg := sigTestPackage(t, "hello")
	signedPkg, err := s.SignPackage(pkg, "p")
	if err != nil {
		t.Fatal(err)
	}
	signedIndex, err := s.SignIndex(sigTestIndex(t, map[string][]byte{"hello-1.0-r0.apk": pkg}), "i")
	if err != nil {
		t.Fatal(err)
	}
	_, m := sigTestMembers(t, signedPkg)
	_, im := sigTestMembers(t, signedIndex)
	byOther, err := sigTestSigner(t, 1).SignPackage(pkg, "p")
	if err != nil {
		t.Fatal(err)
	}
	// A signature by key 1 under key 0's name: right name, wrong key.
	forged, err := NewSigner(sigTestKey(t, 1), s.KeyName())
	if err != nil {
		t.Fatal(err)
	}
	byForger, err := forged.SignPackage(pkg, "p")
	if err != nil {
		t.Fatal(err)
	}
	keysDir := d.key("keys", s, "")
	k, err := LoadKeyring(filepath.Join(d.host, "keys"))
	if err != nil {
		t.Fatal(err)
	}
	// Byte 4 of a gzip member is the first byte of its header's MTIME:
	// changing it keeps the member valid and changes the signed bytes.
	cases := []struct {
		name    string
		file    string
		b       []byte
		ours    error
		apkSays string
	}{
		{"control member changed", "ctl.apk", sigTestFlip(signedPkg, len(m[0])+4), ErrBadSignature, "BAD signature"},
		{"data member changed", "data.apk", sigTestFlip(signedPkg, len(m[0])+len(m[1])+4), ErrDataHash, "BAD signature"},
		{"index changed", "APKINDEX.tar.gz", sigTestFlip(signedIndex, len(im[0])+4), ErrBadSignature, "BAD signature"},
		{"signed by an unknown key", "other.apk", byOther, ErrUnknownKey, "UNTRUSTED"},
		{"wrong key under a trusted name", "forged.apk", byForger, ErrBadSignature, "BAD signature"},
		{"unsigned", "unsigned.apk", pkg, ErrNoSignature, "UNTRUSTED"},
	}
	var files []string
	for _, tc := range cases {
		files = append(files, d.write("t/"+tc.file, tc.b))
	}
	got, code := d.verifyLines(keysDir, files...)
	if code != len(cases) {
		t.Errorf("apk verify exit %d, want %d (one per bad file)", code, len(cases))
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if err := k.Verify(tc.b, tc.file); !errors.Is(err, tc.ours) {
				t.Errorf("our verifier: %v, want %v", err, tc.ours)
			}
			if !strings.HasSuffix(got[files[i]], tc.apkSays) {
				t.Errorf("apk verify: %q, want %q", got[files[i]], tc.apkSays)
			}
		})
	}

	// A tampered index also keeps apk add from using the repository.
	d.write("repo/x86_64/APKINDEX.tar.gz", cases[2].b)
	d.write("repo/x86_64/hello-1.0-r0.apk", signedPkg)
	res := d.apk("add", "--root", sigConfGuest+"/r", "--initdb", "--keys-dir", keysDir, "-X", sigConfGuest+"/repo", "hello")
	if res.ExitCode == 0 || !strings.Contains(res.Stderr, "BAD signature") {
		t.Fatalf("apk add from a tampered index: exit %d\nstdout: %s\nstderr: %s", res.ExitCode, res.Stdout, res.Stderr)
	}
}

// TestConformanceAbuildSignPipeline: files signed the way abuild-sign does
// it, with the host's openssl and GNU tar (openssl dgst -sign over the
// file or control member; tar of the .SIGN entry with the end blocks cut;
// gzip -n -9), pass our verifier and apk alike. This checks what we think
// is signed against the tool chain rather than against our own signer.
func TestConformanceAbuildSignPipeline(t *testing.T) {
	for _, tool := range []string{"openssl", "tar", "gzip", "sh"} {
		alpinetest.RequireCommand(t, tool, "apt-get install "+tool)
	}
	d := newSigConfDir(t)
	pkg := sigTestPackage(t, "hello")
	_, members := sigTestMembers(t, pkg)
	index := sigTestIndex(t, map[string][]byte{"hello-1.0-r0.apk": pkg})
	work := t.TempDir()
	keyName := filepath.Base(opensslPKCS8) + ".pub"
	priv, err := filepath.Abs(opensslPKCS8)
	if err != nil {
		t.Fatal(err)
	}
	// abuildSign returns the signature member abuild-sign would prepend
	// for signed bytes.
	abuildSign := func(t *testing.T, typ, dgst string, signed []byte) []byte {
		t.Helper()
		in := filepath.Join(work, "in")
		if err := os.WriteFile(in, signed, 0o644); err != nil {
			t.Fatal(err)
		}
		sig := ".SIGN." + typ + "." + keyName
		script := `set -e; cd "$1"; rm -f .SIGN.*
openssl dgst -` + dgst + ` -sign "$2" -out "$3" in
tar -b 1 --format=posix --owner=0 --group=0 --numeric-owner -cf sig.tar "$3"
head -c -1024 sig.tar | gzip -n -9 > sig.tar.gz`
		cmd := exec.Command("sh", "-c", script, "sh", work, priv, sig)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("abuild-sign pipeline: %v\n%s", err, out)
		}
		b, err := os.ReadFile(filepath.Join(work, "sig.tar.gz"))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	ours, k := sigFuzzSigner(t)
	keysDir := d.key("keys", ours, keyName)
	var files []string
	for _, tc := range []struct {
		name, typ, dgst string
		file            []byte
		signed          []byte // what abuild-sign signs
	}{
		{"package, RSA", "RSA", "sha1", pkg, members[0]},
		{"package, RSA256", "RSA256", "sha256", pkg, members[0]},
		{"index, RSA", "RSA", "sha1", index, index},
		{"index, RSA256", "RSA256", "sha256", index, index},
	} {
		t.Run(tc.name, func(t *testing.T) {
			member := abuildSign(t, tc.typ, tc.dgst, tc.signed)
			signed := append(bytes.Clone(member), tc.file...)
			// PKCS#1 v1.5 is deterministic: our signer must produce
			// openssl's signature bytes.
			s, err := LoadSigner(opensslPKCS8, WithAlgorithm(Algorithm(tc.typ)))
			if err != nil {
				t.Fatal(err)
			}
			mine, err := s.signatureFor(tc.signed)
			if err != nil {
				t.Fatal(err)
			}
			theirName, theirSig, _, err1 := isSignatureMember(member)
			myName, mySig, _, err2 := isSignatureMember(mine)
			if err1 != nil || err2 != nil || theirName != myName || !bytes.Equal(theirSig, mySig) {
				t.Errorf("our signature differs from openssl's: %q vs %q (%v, %v)", myName, theirName, err2, err1)
			}
			if err := k.Verify(signed, tc.name); err != nil {
				t.Fatalf("our verifier rejects the abuild-sign pipeline's file: %v", err)
			}
			name := strings.ReplaceAll(strings.ReplaceAll(tc.name, ", ", "-"), " ", "")
			files = append(files, d.write("abuild/"+name, signed))
		})
	}
	got, code := d.verifyLines(keysDir, files...)
	for _, f := range files {
		if got[f] != "0 - OK" {
			t.Errorf("apk verify %s: %q", f, got[f])
		}
	}
	if code != 0 {
		t.Errorf("apk verify exit %d", code)
	}
}

// TestConformanceNoDataHash: apk agrees with our verifier on an old-style
// package without a datahash: the signature must cover control and data.
func TestConformanceNoDataHash(t *testing.T) {
	d := newSigConfDir(t)
	pkg := sigTestNoDataHash(t)
	_, members := sigTestMembers(t, pkg)
	s := sigTestSigner(t, 0)
	sign := func(signed, body []byte) ([]byte, error) {
		m, err := s.signatureFor(signed)
		return append(m, body...), err
	}
	whole, err := sign(pkg, pkg)
	if err != nil {
		t.Fatal(err)
	}
	controlOnly, err := sign(members[0], pkg)
	if err != nil {
		t.Fatal(err)
	}
	keysDir := d.key("keys", s, "")
	k := sigTestKeyring(t, 0)
	files := []string{d.write("whole.apk", whole), d.write("control-only.apk", controlOnly)}
	got, _ := d.verifyLines(keysDir, files...)
	for i, tc := range []struct {
		name    string
		b       []byte
		ours    error
		apkSays string
	}{
		{"signature over control and data", whole, nil, "0 - OK"},
		{"signature over the control member only", controlOnly, ErrBadSignature, "BAD signature"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := k.VerifyPackage(tc.b, tc.name); !errors.Is(err, tc.ours) {
				t.Errorf("our verifier: %v, want %v", err, tc.ours)
			}
			if !strings.HasSuffix(got[files[i]], tc.apkSays) {
				t.Errorf("apk verify: %q, want %q", got[files[i]], tc.apkSays)
			}
		})
	}
}

// TestConformanceAlpineKeys: the release keys Alpine ships in
// /etc/apk/keys all load as a Keyring, named by their file names.
func TestConformanceAlpineKeys(t *testing.T) {
	dir := filepath.Join(alpinetest.Rootfs(t, "x86_64"), "etc/apk/keys")
	k, err := LoadKeyring(dir)
	if err != nil {
		t.Fatal(err)
	}
	names := k.Names()
	if len(names) < 3 {
		t.Fatalf("%d keys: %q", len(names), names)
	}
	for _, n := range names {
		if !strings.HasPrefix(n, "alpine-devel@lists.alpinelinux.org-") || !strings.HasSuffix(n, ".rsa.pub") {
			t.Errorf("unexpected key name %q", n)
		}
		if bits := k.keys[n].N.BitLen(); bits < 2048 {
			t.Errorf("%s: %d bits", n, bits)
		}
	}
}
