package apk

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

// TestDetachedEqualsInProcess: PrepareSigning + Detached + Attach gives a
// file our verifier accepts, byte for byte what SignPackage and SignIndex
// make (PKCS#1 v1.5 signatures are deterministic).
func TestDetachedEqualsInProcess(t *testing.T) {
	s := sigTestSigner(t, 0)
	k := sigTestKeyring(t, 0)
	pkg := sigTestPackage(t, "hello")
	idx := sigTestIndex(t, map[string][]byte{"hello-1.0-r0.apk": pkg})
	for _, tc := range []struct {
		name string
		in   []byte
		kind string
		sign func([]byte, string) ([]byte, error)
	}{
		{"package", pkg, KindPackage, s.SignPackage},
		{"index", idx, KindIndex, s.SignIndex},
	} {
		t.Run(tc.name, func(t *testing.T) {
			u, err := PrepareSigning(tc.in, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if u.Kind != tc.kind {
				t.Fatalf("kind %q, want %q", u.Kind, tc.kind)
			}
			if _, err := CheckSignable(u.Kind, u.Signed); err != nil {
				t.Fatalf("the signer side refuses what PrepareSigning gives: %v", err)
			}
			sig, err := s.Detached(u.Signed)
			if err != nil {
				t.Fatal(err)
			}
			if err := sig.Check(s.PublicKey(), u.Signed); err != nil {
				t.Fatal(err)
			}
			got, err := Attach(u.Body, sig)
			if err != nil {
				t.Fatal(err)
			}
			want, err := tc.sign(tc.in, tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Error("detached signing differs from in-process signing")
			}
			if err := k.Verify(got, tc.name); err != nil {
				t.Error(err)
			}
			// Signing again replaces the signature: prepare the signed file.
			u2, err := PrepareSigning(got, tc.name)
			if err != nil || !bytes.Equal(u2.Body, u.Body) {
				t.Errorf("prepare a signed file: body differs or %v", err)
			}
		})
	}
}

// TestRotationBothKeys: a file signed by two keys verifies with either.
func TestRotationBothKeys(t *testing.T) {
	old, next := sigTestSigner(t, 0), sigTestSigner(t, 1)
	u, err := PrepareSigning(sigTestPackage(t, "hello"), "hello")
	if err != nil {
		t.Fatal(err)
	}
	s1, _ := old.Detached(u.Signed)
	s2, _ := next.Detached(u.Signed)
	b, err := Attach(u.Body, s1, s2)
	if err != nil {
		t.Fatal(err)
	}
	for _, keys := range [][]int{{0}, {1}, {0, 1}} {
		if err := sigTestKeyring(t, keys...).Verify(b, "hello"); err != nil {
			t.Errorf("keys %v: %v", keys, err)
		}
	}
	if err := sigTestKeyring(t, 2).Verify(b, "hello"); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("unknown key: %v, want ErrUnknownKey", err)
	}
	if err := s1.Check(next.PublicKey(), u.Signed); !errors.Is(err, ErrBadSignature) {
		t.Errorf("check with the wrong key: %v, want ErrBadSignature", err)
	}
}

// TestCheckSignableRefuses: the signer side refuses what is not a control
// member or an unsigned index.
func TestCheckSignableRefuses(t *testing.T) {
	s := sigTestSigner(t, 0)
	pkg := sigTestPackage(t, "hello")
	u, err := PrepareSigning(pkg, "hello")
	if err != nil {
		t.Fatal(err)
	}
	signedIdx, err := s.SignIndex(sigTestIndex(t, map[string][]byte{"hello-1.0-r0.apk": pkg}), "APKINDEX")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, kind string
		b          []byte
		want       string
	}{
		{"whole package as control", KindPackage, u.Body, "not a control member"},
		{"control as index", KindIndex, u.Signed, "not an index"},
		{"signed index", KindIndex, signedIdx, "not an unsigned index"},
		{"garbage", KindPackage, []byte("hello"), "not a control member"},
		{"empty", KindIndex, nil, "not an index"},
		{"unknown kind", "key", u.Signed, "want"},
		{"huge", KindPackage, make([]byte, MaxControlBytes+1), "more than"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := CheckSignable(tc.kind, tc.b); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want one containing %q", err, tc.want)
			}
		})
	}
	info, err := CheckSignable(KindPackage, u.Signed)
	if err != nil || info.Name != "hello" || info.Version != "1.0-r0" || info.Origin != "hello" {
		t.Errorf("info %+v, %v", info, err)
	}
}

func FuzzCheckSignable(f *testing.F) {
	pkg := sigTestPackage(f, "hello")
	u, err := PrepareSigning(pkg, "hello")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(KindPackage, u.Signed)
	f.Add(KindIndex, sigTestIndex(f, map[string][]byte{"hello-1.0-r0.apk": pkg}))
	f.Fuzz(func(t *testing.T, kind string, b []byte) {
		info, err := CheckSignable(kind, b)
		if err == nil && info == nil {
			t.Fatal("no error and no info")
		}
	})
}
