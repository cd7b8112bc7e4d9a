package apk

import (
	"bytes"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Algorithm is the signature type in a signature entry's name,
// ".SIGN.<Algorithm>.<key name>": RSA PKCS#1 v1.5 over one digest.
type Algorithm string

// The signature types apk-tools 2.x reads (DSA, which it also reads, has
// not been written by anyone for a decade and is not supported here).
const (
	RSA    Algorithm = "RSA"    // SHA-1: what abuild-sign writes unless told -t RSA256
	RSA256 Algorithm = "RSA256" // SHA-256
	RSA512 Algorithm = "RSA512" // SHA-512
)

// DefaultAlgorithm is the signature type a Signer writes unless told
// otherwise: RSA256 (SHA-256).
//
// Why not RSA (SHA-1), which abuild-sign still writes by default and which
// Alpine's own repositories use: SHA-1 is broken for collisions (SHAttered
// 2017, a chosen-prefix collision in 2020), and this signer signs bytes
// that untrusted builds produced, which is the setting where a collision
// attack applies. Every apk client postmarketOS and Alpine ship reads
// RSA256: apk-tools 2.x has listed it in its signature type table (RSA512,
// RSA256, RSA, DSA) since at least 2017, apk-tools 3 keeps the table for
// v2 packages, Wolfi switched its repositories to RSA256 in 2025, and the
// conformance tests prove that apk 2.14.4 accepts packages and indexes
// signed this way. What it costs: a client too old to know the type, or a
// third-party reader that knows only SHA-1 (chainguard's go-apk before
// 2024), sees our files as unsigned and refuses them as untrusted; it does
// not install anything unverified. WithAlgorithm(RSA) serves such clients.
const DefaultAlgorithm = RSA256

func (a Algorithm) hash() (crypto.Hash, bool) {
	switch a {
	case RSA:
		return crypto.SHA1, true
	case RSA256:
		return crypto.SHA256, true
	case RSA512:
		return crypto.SHA512, true
	}
	return 0, false
}

func digest(h crypto.Hash, b []byte) []byte {
	switch h {
	case crypto.SHA1:
		d := sha1.Sum(b)
		return d[:]
	case crypto.SHA256:
		d := sha256.Sum256(b)
		return d[:]
	}
	d := sha512.Sum512(b)
	return d[:]
}

// The checks a verification can fail; test with errors.Is. The error
// returned wraps one of these and names the file.
var (
	ErrNoSignature  = errors.New("no signature")
	ErrUnknownKey   = errors.New("signed by unknown key")
	ErrBadSignature = errors.New("signature does not match")
	ErrDataHash     = errors.New("data hash mismatch")
)

// sigPrefix starts the name of every signature entry.
const sigPrefix = ".SIGN."

// Signer makes apk signatures with one RSA private key. It is safe for
// concurrent use.
type Signer struct {
	key     *rsa.PrivateKey
	keyName string
	alg     Algorithm
}

// SignerOption changes a Signer made by NewSigner or LoadSigner.
type SignerOption func(*Signer) error

// WithAlgorithm chooses the signature type (default DefaultAlgorithm).
func WithAlgorithm(a Algorithm) SignerOption {
	return func(s *Signer) error {
		if _, ok := a.hash(); !ok {
			return fmt.Errorf("signature type %q unknown (want RSA, RSA256 or RSA512)", string(a))
		}
		s.alg = a
		return nil
	}
}

// WithKeyName sets the key name written into signatures: the file name
// under which clients keep the public key in /etc/apk/keys. LoadSigner
// defaults it, as abuild-sign does, to the private key's base name plus
// ".pub".
func WithKeyName(name string) SignerOption {
	return func(s *Signer) error {
		if err := checkKeyName(name); err != nil {
			return err
		}
		s.keyName = name
		return nil
	}
}

func checkKeyName(name string) error {
	if name == "" || name == "." || name == ".." || strings.ContainsAny(name, "/\x00") {
		return fmt.Errorf("key name %q: must be a plain file name", name)
	}
	return nil
}

// NewSigner returns a Signer for key, whose public half clients know as
// keyName.
func NewSigner(key *rsa.PrivateKey, keyName string, opts ...SignerOption) (*Signer, error) {
	if key.N.BitLen() < minKeyBits {
		return nil, fmt.Errorf("new signer: a %d-bit key is too weak; use at least %d bits", key.N.BitLen(), minKeyBits)
	}
	s := &Signer{key: key, alg: DefaultAlgorithm}
	if err := WithKeyName(keyName)(s); err != nil {
		return nil, fmt.Errorf("new signer: %w", err)
	}
	for _, o := range opts {
		if err := o(s); err != nil {
			return nil, fmt.Errorf("new signer: %w", err)
		}
	}
	return s, nil
}

// LoadSigner reads the private key at privPath (PKCS#1 or PKCS#8 PEM). The
// key name in signatures is its base name plus ".pub"
// ("me@example.org-6920a1b2.rsa" signs as "me@example.org-6920a1b2.rsa.pub").
func LoadSigner(privPath string, opts ...SignerOption) (*Signer, error) {
	k, err := LoadPrivateKey(privPath)
	if err != nil {
		return nil, err
	}
	s, err := NewSigner(k, filepath.Base(privPath)+".pub", opts...)
	if err != nil {
		return nil, fmt.Errorf("load signer %q: %w", privPath, err)
	}
	return s, nil
}

// KeyName returns the key name written into signatures.
func (s *Signer) KeyName() string { return s.keyName }

// Algorithm returns the signature type the Signer writes.
func (s *Signer) Algorithm() Algorithm { return s.alg }

// PublicKey returns the public half of the signing key.
func (s *Signer) PublicKey() *rsa.PublicKey { return &s.key.PublicKey }

// SignPackage returns pkg (an .apk: control and data members, with or
// without signature members) with one signature member, by this Signer,
// over the control member; old signature members are dropped. name is the
// file name used in errors. See WritePackage for what it checks.
func (s *Signer) SignPackage(pkg []byte, name string) ([]byte, error) {
	var out bytes.Buffer
	out.Grow(len(pkg) + 1024)
	if err := s.WritePackage(&out, bytes.NewReader(pkg), int64(len(pkg)), name); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// WritePackage writes the package of size bytes that r holds to w, with
// one signature member by this Signer over its control member; old
// signature members are dropped. The package is streamed: only its
// signature and control members are held in memory.
//
// The signer is where trust is added, so it first checks what it vouches
// for: the data must match the datahash of .PKGINFO (else the error wraps
// ErrDataHash), a package without a datahash (which apk-tools 3 no longer
// accepts) is refused, and the whole package must pass ReadPackage
// (layout, tar paths, per-file checksums). Nothing is written to w unless
// the package passes.
func (s *Signer) WritePackage(w io.Writer, r io.ReaderAt, size int64, name string) error {
	src := &source{r, size}
	lim := DefaultLimits
	h, err := src.readHead(lim, true)
	if err != nil {
		return fmt.Errorf("sign package %q: %w", name, err)
	}
	if h.kind != kindPackage {
		return fmt.Errorf("sign package %q: this is %s (first entry %q), not a package", name, h.kind, h.firstName)
	}
	pf, err := readPackage(src, lim, nil, h)
	if err != nil {
		return fmt.Errorf("sign package %q: %w", name, err)
	}
	if pf.Info.DataHash == "" {
		return fmt.Errorf("sign package %q: no datahash in .PKGINFO; rebuild it with a current abuild", name)
	}
	m, err := s.signatureFor(pf.Control)
	if err != nil {
		return err
	}
	if _, err := w.Write(m); err != nil {
		return fmt.Errorf("sign package %q: %w", name, err)
	}
	if _, err := io.Copy(w, io.NewSectionReader(r, pf.ControlOffset, size-pf.ControlOffset)); err != nil {
		return fmt.Errorf("sign package %q: %w", name, err)
	}
	return nil
}

// SignIndex returns index (an APKINDEX.tar.gz, signed or not) with one
// signature member, by this Signer, over everything after it; old
// signature members are dropped. The index must pass ReadIndex.
// name is the file name used in errors.
func (s *Signer) SignIndex(index []byte, name string) ([]byte, error) {
	src := &source{bytes.NewReader(index), int64(len(index))}
	lim := DefaultLimits
	h, err := src.readHead(lim, true)
	if err != nil {
		return nil, fmt.Errorf("sign index %q: %w", name, err)
	}
	if h.kind != kindIndex {
		return nil, fmt.Errorf("sign index %q: this is %s (first entry %q), not an index", name, h.kind, h.firstName)
	}
	if _, err := readIndexBody(src, h, name, lim); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	body := index[h.bodyStart:]
	m, err := s.signatureFor(body)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(m)+len(body))
	return append(append(out, m...), body...), nil
}

// signatureFor returns a signature member over signed.
func (s *Signer) signatureFor(signed []byte) ([]byte, error) {
	h, _ := s.alg.hash()
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, h, digest(h, signed))
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return signatureMember(sigPrefix+string(s.alg)+"."+s.keyName, sig)
}

// SignPackages signs every package with SignPackage, on all CPUs, and
// returns the results in order. Errors name a package by its position
// ("package 3"); the first one is returned.
func (s *Signer) SignPackages(pkgs [][]byte) ([][]byte, error) {
	out := make([][]byte, len(pkgs))
	errs := make([]error, len(pkgs))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(pkgs)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				out[i], errs[i] = s.SignPackage(pkgs[i], fmt.Sprintf("package %d", i))
			}
		}()
	}
	for i := range pkgs {
		next <- i
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// signatureMember returns a gzip member holding a tar archive of one
// regular file, name, with content sig, and without the two zero blocks
// that end an archive: what abuild-sign writes (tar | abuild-tar --cut |
// gzip -n -9), so that apk reads the signature, control and data members
// as one tar stream. The header is fixed (mode 0644, owner 0:0, time 0),
// so the same key and input give the same bytes. A name longer than the
// 100 bytes of a tar header goes into a PAX header before it, as GNU tar
// --format=posix writes it.
func signatureMember(name string, sig []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw, _ := sigGzipPool.Get().(*gzip.Writer)
	if zw == nil {
		var err error
		if zw, err = gzipWriter(&buf, gzip.BestCompression); err != nil {
			return nil, err
		}
	} else {
		// Reset clears the header: set it as gzipWriter does.
		zw.Reset(&buf)
		zw.OS, zw.ModTime = 3, time.Unix(0, 0)
	}
	defer sigGzipPool.Put(zw)
	var blocks [][]byte
	if len(name) > 100 {
		rec := []byte(tarPAXRecord("path", name))
		blocks = append(blocks, tarHeader(tarEntry{Name: tarPAXName(name)[:min(100, len(tarPAXName(name)))],
			Mode: 0o644, Size: int64(len(rec)), Typeflag: 'x', Magic: tarMagicPOSIX}),
			rec, tarPadding(int64(len(rec))))
	}
	blocks = append(blocks, tarHeader(tarEntry{Name: name[:min(100, len(name))], Mode: 0o644,
		Size: int64(len(sig)), Typeflag: '0', Magic: tarMagicPOSIX}), sig, tarPadding(int64(len(sig))))
	for _, b := range blocks {
		if _, err := zw.Write(b); err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// sigGzipPool keeps gzip writers for signature members: a best-compression
// writer allocates about a megabyte of tables, far more than the member.
var sigGzipPool sync.Pool

// signature is one .SIGN.* entry.
type signature struct {
	entry   string    // the entry name, ".SIGN.RSA256.me.rsa.pub"
	alg     Algorithm // "" when apk would not know the type either
	keyName string
	sig     []byte
}

// parseSignatureName splits ".SIGN.<type>.<key name>" as apk does: a type
// it does not know leaves alg empty, and the entry is skipped.
func parseSignatureName(entry string, sig []byte) signature {
	s := signature{entry: entry, sig: sig}
	rest := strings.TrimPrefix(entry, sigPrefix)
	typ, key, found := strings.Cut(rest, ".")
	if !found {
		return s
	}
	if _, ok := Algorithm(typ).hash(); ok && checkKeyName(key) == nil {
		s.alg, s.keyName = Algorithm(typ), key
	}
	return s
}

type fileKind int

const (
	kindPackage fileKind = iota + 1
	kindIndex
)

func (k fileKind) String() string {
	switch k {
	case kindPackage:
		return "a package"
	case kindIndex:
		return "an index"
	}
	return "unknown"
}

// VerifyPackage checks an .apk as apk does: a signature by a key of k over
// the control member, and the data members against the datahash in
// .PKGINFO (for an old package without a datahash, a signature over
// control and data together). name is the file name used in errors; the
// error wraps ErrNoSignature, ErrUnknownKey, ErrBadSignature, ErrDataHash
// or describes a damaged file.
func (k *Keyring) VerifyPackage(b []byte, name string) error {
	return k.verify(b, name, kindPackage)
}

// VerifyIndex checks an APKINDEX.tar.gz as apk does: a signature by a key
// of k over everything after the signature member.
func (k *Keyring) VerifyIndex(b []byte, name string) error {
	return k.verify(b, name, kindIndex)
}

// Verify checks a package or an index, whichever b is: a package's first
// entry after the signatures is a dot file (.PKGINFO), an index's is not
// (DESCRIPTION or APKINDEX).
func (k *Keyring) Verify(b []byte, name string) error {
	return k.verify(b, name, 0)
}

// VerifyError is what a failed verification returns: the file and why.
// Err wraps one of ErrNoSignature, ErrUnknownKey, ErrBadSignature and
// ErrDataHash, or describes a damaged file.
type VerifyError struct {
	File string
	Err  error
}

func (e *VerifyError) Error() string { return fmt.Sprintf("verify %q: %v", e.File, e.Err) }
func (e *VerifyError) Unwrap() error { return e.Err }

func (k *Keyring) verify(b []byte, name string, want fileKind) error {
	_, _, err := k.read(&source{bytes.NewReader(b), int64(len(b))}, name, want, DefaultLimits)
	return err
}

// VerifyAt is Verify on the file of size bytes that r holds, inflating
// no more than lim allows (zero fields: DefaultLimits).
func (k *Keyring) VerifyAt(r io.ReaderAt, size int64, name string, lim Limits) error {
	_, _, err := k.read(&source{r, size}, name, 0, lim.withDefaults())
	return err
}

// ReadPackage is ReadPackage that first checks the signature, as
// VerifyPackage does, on the compressed bytes: the control member (capped
// by lim.Control) is inflated before, the data member only after its
// bytes matched the datahash. Errors are *VerifyError.
func (k *Keyring) ReadPackage(r io.ReaderAt, size int64, name string, lim Limits) (*PackageFile, error) {
	pf, _, err := k.read(&source{r, size}, name, kindPackage, lim.withDefaults())
	return pf, err
}

// ReadIndex is ReadIndex that first checks the signature, as VerifyIndex
// does, on the compressed bytes: nothing after the signature members is
// inflated before it holds. Errors are *VerifyError.
func (k *Keyring) ReadIndex(r io.ReaderAt, size int64, name string, lim Limits) (*Index, error) {
	_, idx, err := k.read(&source{r, size}, name, kindIndex, lim.withDefaults())
	return idx, err
}

// read verifies and reads a package or an index (want 0: whichever it
// is).
func (k *Keyring) read(src *source, name string, want fileKind, lim Limits) (*PackageFile, *Index, error) {
	h, err := src.readHead(lim, true)
	if err != nil {
		return nil, nil, &VerifyError{name, err}
	}
	if want != 0 && h.kind != want {
		return nil, nil, &VerifyError{name, fmt.Errorf("this is %s (first entry %q), not %s", h.kind, h.firstName, want)}
	}
	if h.kind == kindPackage {
		pf, err := readPackage(src, lim, k, h)
		if err != nil {
			return nil, nil, &VerifyError{name, err}
		}
		pf.Name = name
		return pf, nil, nil
	}
	if err := k.checkIndex(src, h); err != nil {
		return nil, nil, &VerifyError{name, err}
	}
	idx, err := readIndexBody(src, h, name, lim)
	if err != nil {
		return nil, nil, &VerifyError{name, err}
	}
	return nil, idx, nil
}

// checkIndex verifies the signature of an index over everything after
// the signature members, read as it is on disk.
func (k *Keyring) checkIndex(src *source, h *head) error {
	use, err := k.pick(h.sigs)
	if err != nil {
		return err
	}
	alg, _ := use.alg.hash()
	d, err := src.digest(alg, h.bodyStart)
	if err != nil {
		return err
	}
	return k.checkSignature(use, alg, d)
}

// checkPackage verifies the signature of a package whose control member
// has been read: over the control member when .PKGINFO has a datahash
// (and then the data member against it), else over control and data.
func (k *Keyring) checkPackage(src *source, sigs []signature, pf *PackageFile) error {
	use, err := k.pick(sigs)
	if err != nil {
		return err
	}
	alg, _ := use.alg.hash()
	var d []byte
	if pf.Info.DataHash != "" {
		d = digest(alg, pf.Control)
	} else if d, err = src.digest(alg, pf.ControlOffset); err != nil {
		return err
	}
	if err := k.checkSignature(use, alg, d); err != nil {
		return err
	}
	if pf.Info.DataHash == "" {
		return nil
	}
	want, _ := hex.DecodeString(pf.Info.DataHash) // checked by readControl
	got, err := src.digest(crypto.SHA256, pf.DataOffset)
	if err != nil {
		return err
	}
	if !bytes.Equal(got, want) {
		return fmt.Errorf("%w: .PKGINFO says %x, the data member's SHA-256 is %x", ErrDataHash, want, got)
	}
	return nil
}

func (k *Keyring) checkSignature(use *signature, alg crypto.Hash, d []byte) error {
	if err := rsa.VerifyPKCS1v15(k.keys[use.keyName], alg, d, use.sig); err != nil {
		return fmt.Errorf("%w (%s signature by key %q)", ErrBadSignature, use.alg, use.keyName)
	}
	return nil
}
