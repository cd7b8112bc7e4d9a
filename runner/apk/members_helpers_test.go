package apk

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
)

// Helpers of the tests that split files into their gzip members, all in
// memory and without limits: the readers themselves stream (read.go).

// splitMembers returns the raw (compressed) bytes of each gzip member of b,
// in order. An .apk is signature?+control+data; an APKINDEX.tar.gz is
// signature?+index. Each member is decompressed to find where it ends, so a
// truncated or corrupt member is an error with its offset.
func splitMembers(b []byte) ([][]byte, error) {
	var members [][]byte
	r := bytes.NewReader(b)
	off := 0
	for r.Len() > 0 {
		zr, err := gzip.NewReader(r)
		if err != nil {
			return nil, fmt.Errorf("gzip member %d at offset %d: %w", len(members)+1, off, err)
		}
		zr.Multistream(false)
		if _, err := io.Copy(io.Discard, zr); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return nil, fmt.Errorf("gzip member %d at offset %d: %w", len(members)+1, off, err)
		}
		end := len(b) - r.Len()
		members = append(members, b[off:end])
		off = end
	}
	if len(members) == 0 {
		return nil, errors.New("empty file: no gzip member")
	}
	return members, nil
}

// gunzipMember decompresses one raw gzip member.
func gunzipMember(m []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(m))
	if err != nil {
		return nil, err
	}
	zr.Multistream(false)
	return io.ReadAll(zr)
}

// isSignatureMember reports whether the raw gzip member m is a signature
// member (see signatureTar).
func isSignatureMember(m []byte) (name string, sig []byte, ok bool, err error) {
	t, err := gunzipMember(m)
	if err != nil {
		return "", nil, false, fmt.Errorf("decompress member: %w", err)
	}
	return signatureTar(t)
}

// signOver returns a signature member by s over signed, followed by body.
func signOver(s *Signer, signed, body []byte) ([]byte, error) {
	m, err := s.signatureFor(signed)
	return append(m, body...), err
}
