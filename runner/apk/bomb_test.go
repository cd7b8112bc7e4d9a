package apk

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/apkfarm/apkfarm/internal/memtest"
)

// maxPeak is the most heap any reader may take, whatever its input.
const maxPeak = 100 << 20

// bombHeader is the tar header of a file of size bytes.
func bombHeader(name string, size int64) []byte {
	return tarHeader(tarEntry{Name: name, Mode: 0o644, Size: size, Typeflag: '0', Magic: tarMagicGNU})
}

// emptyBlocks is a gzip member of n empty stored deflate blocks: it
// inflates to nothing however long it is.
func emptyBlocks(n int) []byte {
	b := []byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3}
	b = append(b, bytes.Repeat([]byte{0, 0, 0, 0xff, 0xff}, n)...)
	return append(b, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0)
}

// TestBombs: small files that inflate to gigabytes, or hold more than
// their share of memory, are refused at their cap, inflating no more
// than it and keeping the heap under 100 MB; signed files are refused
// before anything large is inflated.
func TestBombs(t *testing.T) {
	const huge = 5 << 30
	okData := gz(t, string(arcTar([]arcEntry{{name: "f", data: "x"}}, true)))
	sum := sha256.Sum256(okData)
	ctlFor := func(info string) []byte {
		return gz(t, string(arcTar([]arcEntry{{name: ".PKGINFO", data: info}}, false)))
	}
	goodCtl := ctlFor("pkgname = x\npkgver = 1-r0\ndatahash = " + hex.EncodeToString(sum[:]) + "\n")
	dataBomb := memtest.GzipBomb(bombHeader("big", huge), huge)
	// A signed package whose data is a bomb its datahash does not match.
	s := sigTestSigner(t, 0)
	signedBomb, err := signOver(s, goodCtl, append(bytes.Clone(goodCtl), dataBomb...))
	if err != nil {
		t.Fatal(err)
	}
	keys := sigTestKeyring(t, 0)
	// An index of records of 16 bytes each, inflating to 5 GiB.
	records := memtest.GzipFill(bombHeader("APKINDEX", huge), []byte("P:a\nV:1\n\n\n\n\n\n\n\n\n"[:16]), huge)
	signedRecords, err := signOver(s, records, records)
	if err != nil {
		t.Fatal(err)
	}
	sigs := bytes.Repeat(arcSig(t, ".SIGN.RSA.k.rsa.pub"), maxSignatures+1)
	for _, tc := range []struct {
		name     string
		in       []byte
		read     func(r io.ReaderAt, size int64) error
		is       error
		want     string
		inflates int64 // at most this many bytes inflated
	}{
		{"control member inflates to 5 GiB", append(memtest.GzipBomb(bombHeader(".PKGINFO", huge), huge), okData...),
			readPkg(Limits{}), ErrTooLarge, "control member inflates to more than 4 MiB", 4<<20 + 64<<10},
		{"signature member inflates to 5 GiB", append(memtest.GzipBomb(bombHeader(".SIGN.RSA.k.rsa.pub", huge), huge), goodCtl...),
			readPkg(Limits{}), ErrTooLarge, "signature member inflates to more than 4 MiB", 4<<20 + 64<<10},
		{"control member of empty deflate blocks", append(emptyBlocks(1<<20), okData...),
			readPkg(Limits{}), ErrTooLarge, "is more than 4 MiB compressed", 64 << 10},
		{"data member inflates to 5 GiB", append(ctlFor("pkgname = x\npkgver = 1-r0\n"), dataBomb...),
			readPkg(Limits{Data: 256 << 20}), ErrTooLarge, "data member inflates to more than 256 MiB", 256<<20 + 1<<20},
		{"signed package, data bomb against its datahash", signedBomb,
			func(r io.ReaderAt, size int64) error {
				_, err := keys.ReadPackage(r, size, "x.apk", Limits{})
				return err
			},
			ErrDataHash, "data hash mismatch", 64 << 10},
		{"too many signature members", append(bytes.Clone(sigs), goodCtl...),
			readPkg(Limits{}), nil, "more than 16 signature members", 64 << 10},
		{"index of 5 GiB of records", records,
			readIdx, ErrTooLarge, "index inflates to more than 64 MiB", 64 << 20},
		{"index of 5 GiB of zeros", memtest.GzipBomb(bombHeader("APKINDEX", huge), huge),
			readIdx, nil, "line longer than", 1 << 20},
		{"index with another entry of 5 GiB", memtest.GzipBomb(bombHeader("README", huge), huge),
			readIdx, ErrTooLarge, "index inflates to more than 64 MiB", 64<<20 + 64<<10},
		{"unsigned index bomb, verified", records,
			func(r io.ReaderAt, size int64) error {
				_, err := keys.ReadIndex(r, size, "APKINDEX.tar.gz", Limits{})
				return err
			},
			ErrNoSignature, "no signature", 64 << 10},
		{"index bomb signed by a trusted key", signedRecords,
			func(r io.ReaderAt, size int64) error {
				_, err := keys.ReadIndex(r, size, "APKINDEX.tar.gz", Limits{})
				return err
			},
			ErrTooLarge, "index inflates to more than 64 MiB", 64 << 20},
		{"index bomb signed by an unknown key", append(arcSig(t, ".SIGN.RSA256.stranger.rsa.pub"), records...),
			func(r io.ReaderAt, size int64) error { return keys.VerifyAt(r, size, "APKINDEX.tar.gz", Limits{}) },
			ErrUnknownKey, "stranger.rsa.pub", 64 << 10},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := InflatedBytes()
			var err error
			peak := memtest.Peak(func() { err = tc.read(bytes.NewReader(tc.in), int64(len(tc.in))) })
			n := InflatedBytes() - before
			t.Logf("%d-byte file: inflated %d bytes (%.1f MiB), peak heap %.1f MiB", len(tc.in), n, float64(n)/(1<<20), memtest.MiB(peak))
			if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("err = %v, want %q", err, tc.want)
			}
			if n > tc.inflates {
				t.Errorf("inflated %d bytes, want at most %d", n, tc.inflates)
			}
			if peak > maxPeak {
				t.Errorf("peak heap %.1f MiB, want under %d MiB", memtest.MiB(peak), maxPeak>>20)
			}
		})
	}
}

func readPkg(lim Limits) func(r io.ReaderAt, size int64) error {
	return func(r io.ReaderAt, size int64) error {
		_, err := ReadPackage(r, size, "x.apk", lim)
		return err
	}
}

func readIdx(r io.ReaderAt, size int64) error {
	_, err := ReadIndex(r, size, "APKINDEX.tar.gz", Limits{})
	return err
}

// TestParseIndexRecordBomb: records that take more memory parsed than
// their text (a minimal record is 8 bytes of text and 300 of Package)
// count against the index limit.
func TestParseIndexRecordBomb(t *testing.T) {
	text := strings.Repeat("P:a\nV:1\n\n", 1<<20)
	var err error
	peak := memtest.Peak(func() { _, err = ParseIndex(strings.NewReader(text), "APKINDEX") })
	t.Logf("%d records of %d bytes: peak heap %.1f MiB", 1<<20, len(text), memtest.MiB(peak))
	if !errors.Is(err, ErrTooLarge) || !strings.HasPrefix(err.Error(), "APKINDEX:") {
		t.Fatalf("err = %v, want ErrTooLarge with file and line", err)
	}
	if peak > maxPeak {
		t.Errorf("peak heap %.1f MiB, want under %d MiB", memtest.MiB(peak), maxPeak>>20)
	}
}

// TestLargePackageStreams: a package with 1 GiB of data reads with the
// default limits in constant memory: the data member is streamed.
func TestLargePackageStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("inflates 1 GiB")
	}
	const size = 1 << 30
	// The header, 1 GiB of zeros, and the two zero blocks that end a tar.
	data := memtest.GzipBomb(bombHeader("usr/share/big", size), size+2*tarBlock)
	sum := sha256.Sum256(data)
	ctl := gz(t, string(arcTar([]arcEntry{{name: ".PKGINFO", data: "pkgname = big\npkgver = 1-r0\ndatahash = " + hex.EncodeToString(sum[:]) + "\n"}}, false)))
	pkg := append(ctl, data...)
	var pf *PackageFile
	var err error
	peak := memtest.Peak(func() { pf, err = ReadPackage(bytes.NewReader(pkg), int64(len(pkg)), "big.apk", Limits{}) })
	t.Logf("%d-byte package of 1 GiB: peak heap %.1f MiB", len(pkg), memtest.MiB(peak))
	if err != nil {
		t.Fatal(err)
	}
	if len(pf.Files) != 1 || pf.Files[0].Size != size {
		t.Fatalf("files %+v", pf.Files)
	}
	if peak > 16<<20 {
		t.Errorf("peak heap %.1f MiB reading a 1 GiB package, want under 16 MiB", memtest.MiB(peak))
	}
}

// FuzzReadLimits reads arbitrary bytes as a package and as an index with
// small limits: no panic, and never more inflated than the caps allow
// (each signature member and each peek at a member's first header counts
// against Control, the index against Index, a package's data against
// Data).
func FuzzReadLimits(f *testing.F) {
	pkg, err := MarshalPackage(pkgSpec())
	if err != nil {
		f.Fatal(err)
	}
	idx, err := MarshalIndexArchive(&Index{Description: "d", Packages: []*Package{idxFullPkg}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(pkg, uint16(1), uint16(1))
	f.Add(idx, uint16(2), uint16(3))
	f.Add(append(arcSig(f, ".SIGN.RSA.k.rsa.pub"), idx...), uint16(1), uint16(1))
	f.Fuzz(func(t *testing.T, b []byte, ctl, rest uint16) {
		lim := Limits{Control: int64(ctl)*512 + 1, Index: int64(rest)*1024 + 1, Data: int64(rest)*1024 + 1, Listing: int64(rest) + 1}
		maxHead := int64(maxSignatures+1) * 2 * lim.Control
		r := bytes.NewReader(b)
		before := InflatedBytes()
		_, perr := ReadPackage(r, int64(len(b)), "fuzz.apk", lim)
		if n := InflatedBytes() - before; n > maxHead+lim.Control+lim.Data+2*tarBlock {
			t.Fatalf("package: inflated %d bytes with limits %+v (%v)", n, lim, perr)
		}
		before = InflatedBytes()
		_, ierr := ReadIndex(r, int64(len(b)), "fuzz.tar.gz", lim)
		if n := InflatedBytes() - before; n > maxHead+lim.Index+2*tarBlock {
			t.Fatalf("index: inflated %d bytes with limits %+v (%v)", n, lim, ierr)
		}
		for _, err := range []error{perr, ierr} {
			if err != nil && !strings.Contains(err.Error(), "fuzz.") {
				t.Fatalf("error without the file name: %v", err)
			}
		}
	})
}
