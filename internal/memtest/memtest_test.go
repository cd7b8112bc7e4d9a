package memtest

import (
	"bytes"
	"io"
	"testing"

	"github.com/klauspost/compress/gzip"
)

// TestGzipBomb: the bomb is a valid gzip member that inflates to exactly
// the prefix and the zeros.
func TestGzipBomb(t *testing.T) {
	for _, n := range []int64{0, 1, 1<<20 - 1, 5<<20 + 3, 24 << 20} {
		b := GzipBomb([]byte("head"), n)
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(zr)
		if err != nil {
			t.Fatalf("%d zeros: %v", n, err)
		}
		if int64(len(got)) != 4+n || string(got[:4]) != "head" || bytes.Count(got[4:], []byte{0}) != int(n) {
			t.Fatalf("%d zeros: inflated to %d bytes", n, len(got))
		}
		if n >= 16<<20 && len(b) > int(n/500) {
			t.Errorf("%d zeros in %d bytes: not a bomb", n, len(b))
		}
	}
}

// TestPeak: a 32 MiB allocation shows in the figure, and a call that
// allocates nothing much does not.
func TestPeak(t *testing.T) {
	var keep []byte
	big := Peak(func() { keep = make([]byte, 32<<20); keep[1] = 1 })
	small := Peak(func() {})
	if big < 32<<20 || small > 1<<20 {
		t.Fatalf("peaks %d and %d, want >= 32 MiB and < 1 MiB", big, small)
	}
	_ = keep
}
