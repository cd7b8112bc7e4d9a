package signer

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"runtime"
	"sync"

	"github.com/apkfarm/apkfarm/runner/apk"
)

// Signer signs packages and indexes.
type Signer interface {
	// PublicKeys are the keys the signatures are made with, in the order
	// of the signatures: what the repository publishes for its clients.
	PublicKeys() []PublicKey
	// Sign returns one signature per key over signed, which is of kind
	// apk.KindPackage (a control member) or apk.KindIndex (an unsigned
	// index). name names the file in the signer's log and in errors.
	Sign(ctx context.Context, kind, name string, signed []byte) ([]apk.Signature, error)
	// Close releases the signer (stops signer processes).
	Close() error
}

// PublicKey is a public key the signatures are made with.
type PublicKey struct {
	// Name is the key name in signatures and in /etc/apk/keys.
	Name string
	Key  *rsa.PublicKey
}

// Keys signs with private keys the runner reads itself.
type Keys struct {
	signers []*apk.Signer
}

// LoadKeys reads the private keys at paths (PKCS#1 or PKCS#8 PEM; each
// signs as its base name plus ".pub", as abuild-sign does) and signs with
// alg ("" for apk.DefaultAlgorithm).
func LoadKeys(paths []string, alg apk.Algorithm) (*Keys, error) {
	if len(paths) == 0 {
		return nil, errors.New("load signing keys: none configured")
	}
	var opts []apk.SignerOption
	if alg != "" {
		opts = append(opts, apk.WithAlgorithm(alg))
	}
	k := &Keys{}
	seen := map[string]bool{}
	for _, p := range paths {
		s, err := apk.LoadSigner(p, opts...)
		if err != nil {
			return nil, fmt.Errorf("load signing key: %w", err)
		}
		if seen[s.KeyName()] {
			return nil, fmt.Errorf("load signing key %q: key name %q given twice", p, s.KeyName())
		}
		seen[s.KeyName()] = true
		k.signers = append(k.signers, s)
	}
	return k, nil
}

// NewKeys signs with signers already made.
func NewKeys(signers ...*apk.Signer) *Keys { return &Keys{signers: signers} }

// PublicKeys implements Signer.
func (k *Keys) PublicKeys() []PublicKey {
	out := make([]PublicKey, len(k.signers))
	for i, s := range k.signers {
		out[i] = PublicKey{Name: s.KeyName(), Key: s.PublicKey()}
	}
	return out
}

// Sign implements Signer. It checks what it signs as the signer process
// does (apk.CheckSignable).
func (k *Keys) Sign(ctx context.Context, kind, name string, signed []byte) ([]apk.Signature, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := apk.CheckSignable(kind, signed); err != nil {
		return nil, fmt.Errorf("sign %s %q: %w", kind, name, err)
	}
	out := make([]apk.Signature, len(k.signers))
	for i, s := range k.signers {
		sig, err := s.Detached(signed)
		if err != nil {
			return nil, fmt.Errorf("sign %s %q: %w", kind, name, err)
		}
		out[i] = sig
	}
	return out, nil
}

// Close implements Signer.
func (k *Keys) Close() error { return nil }

// Item is one file to sign with SignAll.
type Item struct {
	Kind, Name string
	Signed     []byte
}

// SignAll signs the items on every CPU (or with as many requests at once
// as jobs, when > 0) and returns their signatures in order. The first
// error stops the others.
func SignAll(ctx context.Context, s Signer, items []Item, jobs int) ([][]apk.Signature, error) {
	if jobs <= 0 {
		jobs = runtime.GOMAXPROCS(0)
	}
	out := make([][]apk.Signature, len(items))
	errs := make([]error, len(items))
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(jobs, len(items)) {
		wg.Go(func() {
			for i := range next {
				it := items[i]
				sigs, err := s.Sign(ctx, it.Kind, it.Name, it.Signed)
				if err != nil {
					errs[i] = err
					cancel()
					continue
				}
				out[i] = sigs
			}
		})
	}
feed:
	for i := range items {
		select {
		case next <- i:
		case <-ctx.Done():
			break feed
		}
	}
	close(next)
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, err
		}
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// checkSignatures verifies one signature per public key, in order.
func checkSignatures(sigs []apk.Signature, pubs []PublicKey, it Item) error {
	keys := map[string]*rsa.PublicKey{}
	for _, pk := range pubs {
		keys[pk.Name] = pk.Key
	}
	if len(sigs) != len(keys) {
		return fmt.Errorf("sign %s %q: %d signatures for %d keys", it.Kind, it.Name, len(sigs), len(keys))
	}
	for _, sig := range sigs {
		pub := keys[sig.KeyName]
		if pub == nil {
			return fmt.Errorf("sign %s %q: signature by key %q, which the signer did not announce", it.Kind, it.Name, sig.KeyName)
		}
		if err := sig.Check(pub, it.Signed); err != nil {
			return fmt.Errorf("sign %s %q: the signer's answer does not verify: %w", it.Kind, it.Name, err)
		}
	}
	return nil
}
