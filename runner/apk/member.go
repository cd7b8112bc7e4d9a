package apk

import (
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"
)

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
