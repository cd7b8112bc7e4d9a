package apk

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// DefaultKeyBits is the size of the keys GenerateKey makes when asked for 0
// bits: 4096, what abuild-keygen generates by default (older abuild
// releases made 2048-bit keys).
const DefaultKeyBits = 4096

// minKeyBits is the smallest RSA key this package will generate or sign
// with. apk itself accepts any size openssl does; 1024 bits and less are
// factorable, so they are refused here.
const minKeyBits = 2048

// ParsePrivateKey reads an RSA private key from PEM: PKCS#1 ("BEGIN RSA
// PRIVATE KEY", what openssl 1.x genrsa wrote) or PKCS#8 ("BEGIN PRIVATE
// KEY", what openssl 3 genrsa and so today's abuild-keygen write). name is
// the file name used in errors. Encrypted keys are refused: the signer runs
// unattended.
func ParsePrivateKey(b []byte, name string) (*rsa.PrivateKey, error) {
	blk, err := onePEM(b, name)
	if err != nil {
		return nil, err
	}
	if _, ok := blk.Headers["Proc-Type"]; ok || blk.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, fmt.Errorf("read private key %q: the key is encrypted; decrypt it first (openssl rsa -in KEY -out PLAIN)", name)
	}
	switch blk.Type {
	case "RSA PRIVATE KEY":
		k, err := x509.ParsePKCS1PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("read private key %q: PKCS#1: %w", name, err)
		}
		return k, nil
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("read private key %q: PKCS#8: %w", name, err)
		}
		rk, ok := k.(*rsa.PrivateKey)
		if !ok {
			return nil, fmt.Errorf("read private key %q: a %T, but apk signatures need an RSA key", name, k)
		}
		return rk, nil
	case "PUBLIC KEY", "RSA PUBLIC KEY":
		return nil, fmt.Errorf("read private key %q: this is a public key (%s); pass the private key (the file without .pub)", name, blk.Type)
	}
	return nil, fmt.Errorf("read private key %q: PEM block %q is not a private key (want RSA PRIVATE KEY or PRIVATE KEY)", name, blk.Type)
}

// ParsePublicKey reads an RSA public key in the form apk reads from
// /etc/apk/keys: PEM "BEGIN PUBLIC KEY" (PKIX SubjectPublicKeyInfo), as
// `openssl rsa -pubout` writes it. A PKCS#1 "BEGIN RSA PUBLIC KEY" is
// accepted too, although apk itself would not read it.
func ParsePublicKey(b []byte, name string) (*rsa.PublicKey, error) {
	blk, err := onePEM(b, name)
	if err != nil {
		return nil, err
	}
	switch blk.Type {
	case "PUBLIC KEY":
		k, err := x509.ParsePKIXPublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("read public key %q: %w", name, err)
		}
		rk, ok := k.(*rsa.PublicKey)
		if !ok {
			return nil, fmt.Errorf("read public key %q: a %T, but apk signatures need an RSA key", name, k)
		}
		return rk, nil
	case "RSA PUBLIC KEY":
		k, err := x509.ParsePKCS1PublicKey(blk.Bytes)
		if err != nil {
			return nil, fmt.Errorf("read public key %q: PKCS#1: %w", name, err)
		}
		return k, nil
	case "RSA PRIVATE KEY", "PRIVATE KEY":
		return nil, fmt.Errorf("read public key %q: this is a PRIVATE key; never put it in a keys directory", name)
	}
	return nil, fmt.Errorf("read public key %q: PEM block %q is not a public key (want PUBLIC KEY)", name, blk.Type)
}

// onePEM returns the first PEM block of b, or an error naming the file.
func onePEM(b []byte, name string) (*pem.Block, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("read key %q: not a PEM key file (no -----BEGIN line)", name)
	}
	return blk, nil
}

// LoadPrivateKey reads the RSA private key file at path.
func LoadPrivateKey(path string) (*rsa.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read private key: %w", err)
	}
	return ParsePrivateKey(b, path)
}

// LoadPublicKey reads the RSA public key file at path.
func LoadPublicKey(path string) (*rsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read public key: %w", err)
	}
	return ParsePublicKey(b, path)
}

// MarshalPrivateKey returns k as PEM PKCS#8 ("BEGIN PRIVATE KEY"), the form
// openssl 3 writes.
func MarshalPrivateKey(k *rsa.PrivateKey) []byte {
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		panic(err) // cannot fail for an *rsa.PrivateKey
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der})
}

// MarshalPublicKey returns k as PEM PKIX ("BEGIN PUBLIC KEY"), the form apk
// reads from its keys directory.
func MarshalPublicKey(k *rsa.PublicKey) []byte {
	der, err := x509.MarshalPKIXPublicKey(k)
	if err != nil {
		panic(err) // cannot fail for an *rsa.PublicKey
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
}

// GenerateKey makes a new RSA key of the given size; 0 means DefaultKeyBits.
func GenerateKey(bits int) (*rsa.PrivateKey, error) {
	if bits == 0 {
		bits = DefaultKeyBits
	}
	if bits < minKeyBits {
		return nil, fmt.Errorf("generate key: %d bits is too weak; use at least %d", bits, minKeyBits)
	}
	k, err := rsa.GenerateKey(rand.Reader, bits)
	if err != nil {
		return nil, fmt.Errorf("generate key: %w", err)
	}
	return k, nil
}

// KeyBaseName returns the abuild-keygen name of a key made at t: the name,
// a dash and the Unix time in lower-case hex (printf "%x" $(date +%s)),
// which is 8 digits from 1978 to 2106. The private key file is this plus
// ".rsa"; the public key file, and so the key name in signatures, is this
// plus ".rsa.pub".
func KeyBaseName(name string, t time.Time) string {
	return fmt.Sprintf("%s-%x", name, t.Unix())
}

// WriteKeyPair writes k as DIR/BASE.rsa (mode 0600) and DIR/BASE.rsa.pub
// (mode 0644) and returns both paths. It never overwrites a file: an
// existing key is an error, so a second keygen in the same second cannot
// destroy the first key.
func WriteKeyPair(dir, base string, k *rsa.PrivateKey) (privPath, pubPath string, err error) {
	if base == "" || base != filepath.Base(base) || base == "." || base == ".." {
		return "", "", fmt.Errorf("write key pair: bad key name %q: it must be a plain file name", base)
	}
	privPath = filepath.Join(dir, base+".rsa")
	pubPath = privPath + ".pub"
	if err := writeNew(privPath, MarshalPrivateKey(k), 0o600); err != nil {
		return "", "", err
	}
	if err := writeNew(pubPath, MarshalPublicKey(&k.PublicKey), 0o644); err != nil {
		os.Remove(privPath)
		return "", "", err
	}
	return privPath, pubPath, nil
}

// writeNew creates path with the exact mode (whatever the umask) and
// content; it fails if path exists.
func writeNew(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("write key: %s already exists; not overwriting a key", path)
		}
		return fmt.Errorf("write key: %w", err)
	}
	err = f.Chmod(mode)
	if err == nil {
		_, err = f.Write(b)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return fmt.Errorf("write key %s: %w", path, err)
	}
	return nil
}

// Keyring is a set of trusted public keys by key name: the file names in a
// keys directory such as /etc/apk/keys, which signatures name.
type Keyring struct {
	dir  string // where the keys came from, for messages
	keys map[string]*rsa.PublicKey
}

// NewKeyring returns an empty Keyring; from says where its keys come from
// in error messages ("" for nowhere in particular).
func NewKeyring(from string) *Keyring {
	return &Keyring{dir: from, keys: map[string]*rsa.PublicKey{}}
}

// Add trusts pub under name.
func (k *Keyring) Add(name string, pub *rsa.PublicKey) error {
	if err := checkKeyName(name); err != nil {
		return fmt.Errorf("add key: %w", err)
	}
	k.keys[name] = pub
	return nil
}

// Names returns the key names, sorted.
func (k *Keyring) Names() []string {
	names := make([]string, 0, len(k.keys))
	for n := range k.keys {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// LoadKeyring reads every file of dir as a PEM public key named by its file
// name, as apk does with --keys-dir. Subdirectories are skipped; a file
// that is not a public key is an error naming it, and so is a directory
// without keys, since nothing would verify against it.
func LoadKeyring(dir string) (*Keyring, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("load keys: %w", err)
	}
	k := NewKeyring(dir)
	for _, e := range ents {
		p := filepath.Join(dir, e.Name())
		st, err := os.Stat(p) // follows symlinks, as apk's openat does
		if err != nil {
			return nil, fmt.Errorf("load keys: %w", err)
		}
		if st.IsDir() {
			continue
		}
		pub, err := LoadPublicKey(p)
		if err != nil {
			return nil, fmt.Errorf("load keys from %s: %w", dir, err)
		}
		if err := k.Add(e.Name(), pub); err != nil {
			return nil, fmt.Errorf("load keys from %s: %w", dir, err)
		}
	}
	if len(k.keys) == 0 {
		return nil, fmt.Errorf("load keys: no key files in %s", dir)
	}
	return k, nil
}
