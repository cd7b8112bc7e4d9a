package apk

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"strings"
)

// Signing apart from the file: what a signer that never sees the whole
// package (or holds the key on another host) needs. A package signature
// covers the package's control member, an index signature the whole
// unsigned index; the signer returns Signatures, which Attach puts in
// front of the file's body. SignPackage and SignIndex are the same steps
// in one process.

// Signature is one signature of a package or an index, apart from the
// file: what a signer returns.
type Signature struct {
	Algorithm Algorithm
	// KeyName is the name clients keep the public key under in
	// /etc/apk/keys ("me@example.org-6920a1b2.rsa.pub").
	KeyName string
	Value   []byte
}

// Kinds of what is signed.
const (
	KindPackage = "package"
	KindIndex   = "index"
)

// Unsigned is a package or an index taken apart for signing.
type Unsigned struct {
	Kind string // KindPackage or KindIndex
	// Signed is what a signature covers: a package's control member (one
	// gzip member), an index's whole body.
	Signed []byte
	// Body is the file without its signature members.
	Body []byte
	// Package is set for a package: what it is, for logs and checks.
	Package *PackageFile
	// Index is set for an index.
	Index *Index
}

// PrepareSigning checks b, a package or an index, signed or not, as
// SignPackage and SignIndex do before signing (a package's data must match
// the datahash of its .PKGINFO, and it must have one; an index must read),
// and returns what a signer must sign. name is used in errors.
func PrepareSigning(b []byte, name string) (*Unsigned, error) {
	l, err := parseLayout(b)
	if err != nil {
		return nil, fmt.Errorf("prepare signing %q: %w", name, err)
	}
	switch l.kind {
	case kindPackage:
		if l.dataHash == nil {
			return nil, fmt.Errorf("prepare signing %q: no datahash in .PKGINFO; rebuild it with a current abuild", name)
		}
		if err := l.checkDataHash(b); err != nil {
			return nil, fmt.Errorf("prepare signing %q: %w", name, err)
		}
		pf, err := ReadPackageFile(b[l.bodyStart:], name)
		if err != nil {
			return nil, fmt.Errorf("prepare signing: %w", err)
		}
		return &Unsigned{Kind: KindPackage, Signed: b[l.bodyStart:l.controlEnd], Body: b[l.bodyStart:], Package: pf}, nil
	case kindIndex:
		idx, err := ReadIndexArchive(b[l.bodyStart:], name)
		if err != nil {
			return nil, fmt.Errorf("prepare signing: %w", err)
		}
		return &Unsigned{Kind: KindIndex, Signed: b[l.bodyStart:], Body: b[l.bodyStart:], Index: idx}, nil
	}
	return nil, fmt.Errorf("prepare signing %q: neither a package nor an index", name)
}

// Detached returns this Signer's signature over signed (Unsigned.Signed).
func (s *Signer) Detached(signed []byte) (Signature, error) {
	h, _ := s.alg.hash()
	v, err := rsa.SignPKCS1v15(rand.Reader, s.key, h, digest(h, signed))
	if err != nil {
		return Signature{}, fmt.Errorf("sign: %w", err)
	}
	return Signature{Algorithm: s.alg, KeyName: s.keyName, Value: v}, nil
}

// Check verifies sig over signed with pub: what a runner does with a
// signature a remote signer returned, before it publishes it.
func (sig Signature) Check(pub *rsa.PublicKey, signed []byte) error {
	h, ok := sig.Algorithm.hash()
	if !ok {
		return fmt.Errorf("signature type %q unknown", string(sig.Algorithm))
	}
	if err := rsa.VerifyPKCS1v15(pub, h, digest(h, signed), sig.Value); err != nil {
		return fmt.Errorf("%w (%s signature by key %q)", ErrBadSignature, sig.Algorithm, sig.KeyName)
	}
	return nil
}

// Attach returns body (Unsigned.Body) with one signature member per
// signature in front of it, in order. apk uses the first signature by a
// key it trusts, so during a key rotation a file signed by both the old
// and the new key installs for clients that know either.
func Attach(body []byte, sigs ...Signature) ([]byte, error) {
	if len(sigs) == 0 {
		return nil, errors.New("attach signatures: none")
	}
	var out bytes.Buffer
	for _, sig := range sigs {
		if _, ok := sig.Algorithm.hash(); !ok {
			return nil, fmt.Errorf("attach signatures: type %q unknown", string(sig.Algorithm))
		}
		if err := checkKeyName(sig.KeyName); err != nil {
			return nil, fmt.Errorf("attach signatures: %w", err)
		}
		m, err := signatureMember(sigPrefix+string(sig.Algorithm)+"."+sig.KeyName, sig.Value)
		if err != nil {
			return nil, fmt.Errorf("attach signatures: %w", err)
		}
		out.Write(m)
	}
	out.Grow(len(body))
	out.Write(body)
	return out.Bytes(), nil
}

// MaxControlBytes bounds a package's control member as a signer reads it:
// compressed and decompressed, a .PKGINFO and install scripts are
// kilobytes.
const MaxControlBytes = 4 << 20

// CheckSignable is the signer's side of PrepareSigning: it checks that b,
// which a client asks to have signed as kind, is what it claims to be, and
// says what it is for the signer's log. A package's control member must
// be one gzip member of at most MaxControlBytes, holding a tar of dot
// files only, .PKGINFO first, with a name, a version and a datahash; an
// index must read as an unsigned index archive. Anything else is refused.
func CheckSignable(kind string, b []byte) (*SignableInfo, error) {
	switch kind {
	case KindPackage:
		if len(b) > MaxControlBytes {
			return nil, fmt.Errorf("control member of %d bytes: more than %d", len(b), MaxControlBytes)
		}
		l, err := parseLayout(append(b[:len(b):len(b)], emptyDataMember...))
		if err != nil {
			return nil, fmt.Errorf("not a control member: %w", err)
		}
		if l.kind != kindPackage || len(l.sigs) > 0 || l.controlEnd != len(b) {
			return nil, errors.New("not a control member: want one gzip member of a tar starting with .PKGINFO")
		}
		t, _, err := gunzipHead(b)
		if err != nil {
			return nil, fmt.Errorf("not a control member: %w", err)
		}
		if len(t) > MaxControlBytes {
			return nil, fmt.Errorf("control member decompresses to more than %d bytes", MaxControlBytes)
		}
		items, err := tarReadAll(bytes.NewReader(t), func(name string) bool { return name == ".PKGINFO" })
		if err != nil {
			return nil, fmt.Errorf("not a control member: %w", err)
		}
		var info *PkgInfo
		for i, it := range items {
			name := it.Header.Name
			if !strings.HasPrefix(name, ".") || strings.Contains(name, "/") || it.Header.Typeflag != '0' {
				return nil, fmt.Errorf("control member entry %q: only regular dot files belong there", name)
			}
			if i == 0 {
				if name != ".PKGINFO" {
					return nil, fmt.Errorf("control member starts with %q, not .PKGINFO", name)
				}
				if info, err = ParsePkgInfo(it.Data, ".PKGINFO"); err != nil {
					return nil, err
				}
			}
		}
		if info == nil || info.Name == "" || info.Version == "" || info.DataHash == "" {
			return nil, errors.New(".PKGINFO lacks pkgname, pkgver or datahash")
		}
		return &SignableInfo{Kind: kind, Name: info.Name, Version: info.Version, Origin: info.Origin, Arch: info.Arch}, nil
	case KindIndex:
		l, err := parseLayout(b)
		if err != nil {
			return nil, fmt.Errorf("not an index: %w", err)
		}
		if l.kind != kindIndex || len(l.sigs) > 0 {
			return nil, errors.New("not an unsigned index")
		}
		idx, err := ReadIndexArchive(b, "index")
		if err != nil {
			return nil, err
		}
		return &SignableInfo{Kind: kind, Name: idx.Description, Packages: len(idx.Packages)}, nil
	}
	return nil, fmt.Errorf("kind %q: want %q or %q", kind, KindPackage, KindIndex)
}

// SignableInfo says what a signer was asked to sign.
type SignableInfo struct {
	Kind string
	// Name, Version, Origin and Arch of a package; Name is an index's
	// description.
	Name, Version, Origin, Arch string
	// Packages counts an index's records.
	Packages int
}

// emptyDataMember is a gzip member of an empty tar stream (two zero
// blocks): parseLayout wants a data member after the control member.
var emptyDataMember = func() []byte {
	var b bytes.Buffer
	zw, _ := gzipWriter(&b, 1)
	zw.Write(make([]byte, 1024))
	zw.Close()
	return b.Bytes()
}()

// SignatureNames returns the entry names of the signature members at the
// start of b (".SIGN.RSA256.me.rsa.pub"), in order; nil when b is
// unsigned or unreadable.
func SignatureNames(b []byte) []string {
	l, err := parseLayout(b)
	if err != nil {
		return nil
	}
	out := make([]string, len(l.sigs))
	for i, s := range l.sigs {
		out[i] = s.entry
	}
	return out
}
