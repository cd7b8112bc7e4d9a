package apk

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// testdata/keys holds one 2048-bit key written by OpenSSL 3.0 (`openssl
// genrsa`: PKCS#8; `openssl rsa -pubout`), and the same key converted with
// `openssl rsa -traditional` (PKCS#1). It is a test key: it signs nothing
// outside these tests.
const (
	opensslPKCS8 = "testdata/keys/openssl3-6920a1b2.rsa"
	opensslPKCS1 = "testdata/keys/pkcs1-6920a1b2.rsa"
)

func TestLoadOpenSSLKeys(t *testing.T) {
	pub, err := LoadPublicKey(opensslPKCS8 + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ name, path string }{
		{"PKCS#8 (openssl 3 genrsa)", opensslPKCS8},
		{"PKCS#1 (openssl rsa -traditional)", opensslPKCS1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			k, err := LoadPrivateKey(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if !k.PublicKey.Equal(pub) {
				t.Fatal("private key does not match openssl's public key")
			}
			s, err := LoadSigner(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			if want := filepath.Base(tc.path) + ".pub"; s.KeyName() != want {
				t.Fatalf("key name %q, want %q", s.KeyName(), want)
			}
		})
	}
}

func TestParseKeyErrors(t *testing.T) {
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ecDER, _ := x509.MarshalPKCS8PrivateKey(ec)
	ecPubDER, _ := x509.MarshalPKIXPublicKey(&ec.PublicKey)
	pemOf := func(typ string, der []byte, h map[string]string) []byte {
		return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der, Headers: h})
	}
	rsaPub := MarshalPublicKey(&sigTestKey(t, 0).PublicKey)
	rsaPriv := MarshalPrivateKey(sigTestKey(t, 0))
	for _, tc := range []struct {
		name    string
		in      []byte
		private bool
		want    string
	}{
		{"text file as private", []byte("hello\n"), true, `read key "f.rsa": not a PEM key file`},
		{"text file as public", []byte("hello\n"), false, `read key "f.rsa": not a PEM key file`},
		{"empty", nil, true, "not a PEM key file"},
		{"public given as private", rsaPub, true, `read private key "f.rsa": this is a public key`},
		{"private given as public", rsaPriv, false, `read public key "f.rsa": this is a PRIVATE key`},
		{"EC private key", pemOf("PRIVATE KEY", ecDER, nil), true, "need an RSA key"},
		{"EC public key", pemOf("PUBLIC KEY", ecPubDER, nil), false, "need an RSA key"},
		{"certificate", pemOf("CERTIFICATE", []byte{1, 2, 3}, nil), true, `PEM block "CERTIFICATE" is not a private key`},
		{"garbage PKCS#8", pemOf("PRIVATE KEY", []byte{1, 2, 3}, nil), true, `read private key "f.rsa": PKCS#8`},
		{"garbage PKCS#1", pemOf("RSA PRIVATE KEY", []byte{1, 2, 3}, nil), true, `read private key "f.rsa": PKCS#1`},
		{"garbage public", pemOf("PUBLIC KEY", []byte{1, 2, 3}, nil), false, `read public key "f.rsa"`},
		{"encrypted PKCS#8", pemOf("ENCRYPTED PRIVATE KEY", []byte{1}, nil), true, "the key is encrypted"},
		{"encrypted PKCS#1", pemOf("RSA PRIVATE KEY", []byte{1}, map[string]string{"Proc-Type": "4,ENCRYPTED"}), true, "the key is encrypted"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.private {
				_, err = ParsePrivateKey(tc.in, "f.rsa")
			} else {
				_, err = ParsePublicKey(tc.in, "f.rsa")
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestLoadSignerErrors(t *testing.T) {
	dir := t.TempDir()
	notKey := filepath.Join(dir, "notes.txt")
	os.WriteFile(notKey, []byte("not a key"), 0o644)
	for _, tc := range []struct{ name, path, want string }{
		{"missing file", filepath.Join(dir, "nope.rsa"), "no such file"},
		{"not a key", notKey, `read key "` + notKey + `": not a PEM key file`},
		{"public key", opensslPKCS8 + ".pub", "this is a public key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadSigner(tc.path)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
		})
	}
}

func TestKeyBaseName(t *testing.T) {
	for _, tc := range []struct {
		name string
		t    time.Time
		want string
	}{
		{"abuild-keygen form", time.Unix(0x6920a1b2, 0), "me@example.org-6920a1b2"},
		{"eight digits for today's times", time.Date(2026, 11, 22, 1, 20, 0, 0, time.UTC), "apkfarm-6b024340"},
		{"lower-case hex", time.Unix(0x6abcdef0, 0), "apkfarm-6abcdef0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			name := "apkfarm"
			if strings.HasPrefix(tc.want, "me@") {
				name = "me@example.org"
			}
			if got := KeyBaseName(name, tc.t); got != tc.want {
				t.Fatalf("KeyBaseName = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWriteKeyPair(t *testing.T) {
	old := syscall.Umask(0o077) // a strict umask must not make the public key unreadable
	defer syscall.Umask(old)
	dir := t.TempDir()
	k := sigTestKey(t, 0)
	priv, pub, err := WriteKeyPair(dir, "me-6920a1b2", k)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []struct {
		path string
		mode os.FileMode
	}{
		{filepath.Join(dir, "me-6920a1b2.rsa"), 0o600},
		{filepath.Join(dir, "me-6920a1b2.rsa.pub"), 0o644},
	} {
		st, err := os.Stat(f.path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Mode().Perm() != f.mode {
			t.Errorf("%s: mode %v, want %v", f.path, st.Mode().Perm(), f.mode)
		}
	}
	if priv != filepath.Join(dir, "me-6920a1b2.rsa") || pub != priv+".pub" {
		t.Fatalf("paths %q %q", priv, pub)
	}
	back, err := LoadPrivateKey(priv)
	if err != nil || !back.Equal(k) {
		t.Fatalf("private key does not read back: %v", err)
	}
	backPub, err := LoadPublicKey(pub)
	if err != nil || !backPub.Equal(&k.PublicKey) {
		t.Fatalf("public key does not read back: %v", err)
	}
	b, _ := os.ReadFile(priv)
	if !strings.HasPrefix(string(b), "-----BEGIN PRIVATE KEY-----\n") {
		t.Errorf("private key is not PKCS#8 PEM: %.40q", b)
	}

	// A second pair under the same name must not replace the first.
	if _, _, err := WriteKeyPair(dir, "me-6920a1b2", sigTestKey(t, 1)); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Fatalf("overwrite: err = %v", err)
	}
	if again, _ := LoadPrivateKey(priv); !again.Equal(k) {
		t.Fatal("the existing key was replaced")
	}
	for _, bad := range []string{"", "a/b", "..", "."} {
		if _, _, err := WriteKeyPair(dir, bad, k); err == nil {
			t.Errorf("WriteKeyPair(%q) wrote a key", bad)
		}
	}
}

func TestGenerateKey(t *testing.T) {
	if _, err := GenerateKey(1024); err == nil || !strings.Contains(err.Error(), "too weak") {
		t.Fatalf("1024 bits: err = %v", err)
	}
	k, err := GenerateKey(2048)
	if err != nil {
		t.Fatal(err)
	}
	if k.N.BitLen() != 2048 {
		t.Fatalf("%d bits", k.N.BitLen())
	}
}

func TestLoadKeyring(t *testing.T) {
	write := func(t *testing.T, files map[string][]byte) string {
		dir := t.TempDir()
		for name, b := range files {
			if b == nil {
				os.Mkdir(filepath.Join(dir, name), 0o755)
				continue
			}
			os.WriteFile(filepath.Join(dir, name), b, 0o644)
		}
		return dir
	}
	pub0 := MarshalPublicKey(&sigTestKey(t, 0).PublicKey)
	pub1 := MarshalPublicKey(&sigTestKey(t, 1).PublicKey)
	for _, tc := range []struct {
		name      string
		files     map[string][]byte
		wantNames []string
		want      string
	}{
		{"two keys and a subdirectory", map[string][]byte{"a.rsa.pub": pub0, "b.rsa.pub": pub1, "old": nil},
			[]string{"a.rsa.pub", "b.rsa.pub"}, ""},
		{"a file that is not a key", map[string][]byte{"a.rsa.pub": pub0, "README": []byte("keys go here\n")},
			nil, `read key "`},
		{"a private key", map[string][]byte{"a.rsa": MarshalPrivateKey(sigTestKey(t, 0))}, nil, "this is a PRIVATE key"},
		{"no keys", map[string][]byte{}, nil, "no key files in"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := write(t, tc.files)
			k, err := LoadKeyring(dir)
			if tc.want != "" {
				if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), dir) {
					t.Fatalf("err = %v, want %q and the directory", err, tc.want)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := strings.Join(k.Names(), " "); got != strings.Join(tc.wantNames, " ") {
				t.Fatalf("names %q, want %q", got, tc.wantNames)
			}
		})
	}
	if _, err := LoadKeyring(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Fatal("missing directory loaded")
	}
}
