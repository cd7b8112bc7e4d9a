// Package publishedtest writes real, signed repositories for tests: index
// archives made with runner/apk and signed with a test key.
package publishedtest

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/apkfarm/apkfarm/runner/apk"
)

// KeyName is the test key's name: the file name of its public key.
const KeyName = "apkfarm-test-6920a1b2.rsa.pub"

var key = sync.OnceValues(func() (*apk.Signer, error) {
	k, err := apk.GenerateKey(2048)
	if err != nil {
		return nil, err
	}
	return apk.NewSigner(k, KeyName)
})

// Signer returns a signer with a key generated once per test binary, and
// a new keys directory that trusts it.
func Signer(t testing.TB) (*apk.Signer, string) {
	t.Helper()
	s, err := key()
	if err != nil {
		t.Fatalf("test key: %v", err)
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, KeyName), apk.MarshalPublicKey(s.PublicKey()), 0o644); err != nil {
		t.Fatal(err)
	}
	return s, dir
}

// Index returns an APKINDEX.tar.gz of pkgs, signed by s (unsigned when s is
// nil).
func Index(t testing.TB, s *apk.Signer, pkgs ...*apk.Package) []byte {
	t.Helper()
	b, err := apk.MarshalIndexArchive(&apk.Index{Description: "test", Packages: pkgs})
	if err != nil {
		t.Fatalf("write index: %v", err)
	}
	if s == nil {
		return b
	}
	b, err = s.SignIndex(b, "APKINDEX.tar.gz")
	if err != nil {
		t.Fatalf("sign index: %v", err)
	}
	return b
}

// WriteIndex writes Index(t, s, pkgs...) to path, creating its directory.
func WriteIndex(t testing.TB, path string, s *apk.Signer, pkgs ...*apk.Package) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, Index(t, s, pkgs...), 0o644); err != nil {
		t.Fatal(err)
	}
}

// Stranger returns a signer whose key no keys directory of Signer trusts,
// named name (such as "stranger-12345678.rsa.pub").
func Stranger(t testing.TB, name string) *apk.Signer {
	t.Helper()
	k, err := apk.GenerateKey(2048)
	if err != nil {
		t.Fatal(err)
	}
	s, err := apk.NewSigner(k, name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}
