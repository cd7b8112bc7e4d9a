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
// file name used in errors.
//
// The signer is where trust is added, so it first checks what it vouches
// for: the data must match the datahash of .PKGINFO (else the error wraps
// ErrDataHash), a package without a datahash (which apk-tools 3 no longer
// accepts) is refused, and the whole package must pass ReadPackageFile
// (layout, tar paths, per-file checksums).
func (s *Signer) SignPackage(pkg []byte, name string) ([]byte, error) {
	l, err := parseLayout(pkg)
	if err != nil {
		return nil, fmt.Errorf("sign package %q: %w", name, err)
	}
	if l.kind != kindPackage {
		return nil, fmt.Errorf("sign package %q: this is %s (first entry %q), not a package", name, l.kind, l.firstName)
	}
	if l.dataHash == nil {
		return nil, fmt.Errorf("sign package %q: no datahash in .PKGINFO; rebuild it with a current abuild", name)
	}
	if err := l.checkDataHash(pkg); err != nil {
		return nil, fmt.Errorf("sign package %q: %w", name, err)
	}
	if _, err := ReadPackageFile(pkg[l.bodyStart:], name); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return s.sign(pkg[l.bodyStart:l.controlEnd], pkg[l.bodyStart:])
}

// SignIndex returns index (an APKINDEX.tar.gz, signed or not) with one
// signature member, by this Signer, over everything after it; old
// signature members are dropped. The index must pass ReadIndexArchive.
// name is the file name used in errors.
func (s *Signer) SignIndex(index []byte, name string) ([]byte, error) {
	l, err := parseLayout(index)
	if err != nil {
		return nil, fmt.Errorf("sign index %q: %w", name, err)
	}
	if l.kind != kindIndex {
		return nil, fmt.Errorf("sign index %q: this is %s (first entry %q), not an index", name, l.kind, l.firstName)
	}
	if _, err := ReadIndexArchive(index[l.bodyStart:], name); err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	return s.sign(index[l.bodyStart:], index[l.bodyStart:])
}

// sign returns a signature member over signed followed by body.
func (s *Signer) sign(signed, body []byte) ([]byte, error) {
	h, _ := s.alg.hash()
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, h, digest(h, signed))
	if err != nil {
		return nil, fmt.Errorf("sign: %w", err)
	}
	m, err := signatureMember(sigPrefix+string(s.alg)+"."+s.keyName, sig)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, len(m)+len(body))
	return append(append(out, m...), body...), nil
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

// layout is where the parts of a package or index file are.
type layout struct {
	sigs       []signature // from all leading signature members, in order
	bodyStart  int         // offset of the first member after the signatures
	controlEnd int         // packages: offset just after the control member
	kind       fileKind
	firstName  string // first entry after the signatures
	dataHash   []byte // packages: the .PKGINFO datahash, nil when absent
}

// parseLayout finds the signature members, the kind of file and, for a
// package, the end of the control member and its datahash. It
// decompresses each member up to the control or index member once; the
// data member, the bulk of a package, is left to the reader that checks it
// (ReadPackageFile), so that it is decompressed only there.
func parseLayout(b []byte) (*layout, error) {
	if len(b) == 0 {
		return nil, errors.New("empty file: no gzip member")
	}
	l := &layout{}
	for n := 1; ; n++ {
		if l.bodyStart == len(b) {
			return nil, errors.New("only signatures, no content")
		}
		at := func(err error) error { return fmt.Errorf("gzip member %d at offset %d: %w", n, l.bodyStart, err) }
		t, end, err := gunzipHead(b[l.bodyStart:])
		if err != nil {
			return nil, at(err)
		}
		items, err := tarReadAll(bytes.NewReader(t), func(name string) bool { return name == ".PKGINFO" })
		if err != nil {
			return nil, at(err)
		}
		if len(items) == 0 {
			return nil, at(errors.New("no tar entries"))
		}
		first := items[0].Header.Name
		if strings.HasPrefix(first, sigPrefix) {
			entry, sig, ok, err := isSignatureMember(b[l.bodyStart : l.bodyStart+end])
			if err != nil {
				return nil, at(err)
			}
			if !ok {
				return nil, at(fmt.Errorf("signature entry %q shares its member with other entries", first))
			}
			l.sigs = append(l.sigs, parseSignatureName(entry, sig))
			l.bodyStart += end
			continue
		}
		l.firstName = first
		switch {
		case first == "DESCRIPTION" || first == "APKINDEX":
			l.kind = kindIndex
			return l, nil
		case !strings.HasPrefix(first, "."):
			return nil, fmt.Errorf("neither a package nor an index: first entry %q (a package starts with .PKGINFO, an index with DESCRIPTION or APKINDEX)", first)
		}
		l.kind = kindPackage
		if l.dataHash, err = pkgInfoDataHash(items); err != nil {
			return nil, at(err)
		}
		l.controlEnd = l.bodyStart + end
		if l.controlEnd == len(b) {
			return nil, errors.New("package has a control member but no data member")
		}
		return l, nil
	}
}

// gunzipHead decompresses the gzip member at the start of b and returns
// its content and its length in b (bytes.Reader is an io.ByteReader, so
// the gzip reader reads no further than the member).
func gunzipHead(b []byte) (content []byte, n int, err error) {
	r := bytes.NewReader(b)
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, 0, err
	}
	zr.Multistream(false)
	content, err = io.ReadAll(io.LimitReader(zr, maxHeadMember+1))
	if err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return nil, 0, err
	}
	if len(content) > maxHeadMember {
		return nil, 0, fmt.Errorf("member decompresses to more than %d MiB: not a signature, control or index member", maxHeadMember>>20)
	}
	return content, len(b) - r.Len(), nil
}

// maxHeadMember bounds what gunzipHead decompresses: a control member is
// kilobytes, the largest APKINDEX tens of megabytes; more is a gzip bomb.
const maxHeadMember = 1 << 30

// pkgInfoDataHash returns the datahash of the .PKGINFO among a control
// member's entries, or nil when it has none.
func pkgInfoDataHash(items []tarItem) ([]byte, error) {
	var dataHash []byte
	for _, it := range items {
		if it.Header.Name != ".PKGINFO" {
			continue
		}
		info, err := ParsePkgInfo(it.Data, ".PKGINFO")
		if err != nil {
			return nil, err
		}
		if info.DataHash != "" {
			h, err := hex.DecodeString(info.DataHash)
			if err != nil || len(h) != sha256.Size {
				return nil, fmt.Errorf(".PKGINFO: datahash %q is not a SHA-256 in hex", info.DataHash)
			}
			dataHash = h
		}
	}
	return dataHash, nil
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
	l, err := parseLayout(b)
	if err != nil {
		return &VerifyError{name, err}
	}
	if want != 0 && l.kind != want {
		return &VerifyError{name, fmt.Errorf("this is %s (first entry %q), not %s", l.kind, l.firstName, want)}
	}
	if err := k.check(b, l); err != nil {
		return &VerifyError{name, err}
	}
	// The signature holds; now the rest of what apk checks on reading.
	if l.kind == kindPackage {
		_, err = ReadPackageFile(b[l.bodyStart:], name)
	} else {
		_, err = ReadIndexArchive(b[l.bodyStart:], name)
	}
	if err != nil {
		return &VerifyError{name, err}
	}
	return nil
}

// check verifies the signature and data hash of a parsed file.
func (k *Keyring) check(b []byte, l *layout) error {
	if len(l.sigs) == 0 {
		return ErrNoSignature
	}
	// As apk: the first signature of a known type by a trusted key counts;
	// the others are ignored.
	var use *signature
	var unknown []string
	for i := range l.sigs {
		s := &l.sigs[i]
		if s.alg == "" {
			continue
		}
		if _, ok := k.keys[s.keyName]; ok {
			use = s
			break
		}
		unknown = append(unknown, s.keyName)
	}
	if use == nil {
		if len(unknown) == 0 {
			entries := make([]string, len(l.sigs))
			for i, s := range l.sigs {
				entries[i] = s.entry
			}
			return fmt.Errorf("%w: only signatures of unsupported types %q", ErrNoSignature, entries)
		}
		from := ""
		if k.dir != "" {
			from = " (not in " + k.dir + ")"
		}
		if len(unknown) == 1 {
			return fmt.Errorf("%w %q%s", ErrUnknownKey, unknown[0], from)
		}
		return fmt.Errorf("%w: none of %q%s", ErrUnknownKey, unknown, from)
	}
	signed := b[l.bodyStart:]
	if l.kind == kindPackage && l.dataHash != nil {
		signed = b[l.bodyStart:l.controlEnd]
	}
	h, _ := use.alg.hash()
	if err := rsa.VerifyPKCS1v15(k.keys[use.keyName], h, digest(h, signed), use.sig); err != nil {
		return fmt.Errorf("%w (%s signature by key %q)", ErrBadSignature, use.alg, use.keyName)
	}
	if l.kind == kindPackage && l.dataHash != nil {
		return l.checkDataHash(b)
	}
	return nil
}

// checkDataHash compares the SHA-256 of everything after the control
// member with the datahash of .PKGINFO, as apk does.
func (l *layout) checkDataHash(b []byte) error {
	if got := sha256.Sum256(b[l.controlEnd:]); !bytes.Equal(got[:], l.dataHash) {
		return fmt.Errorf("%w: .PKGINFO says %x, the data member's SHA-256 is %x", ErrDataHash, l.dataHash, got)
	}
	return nil
}
