// Package memtest is for the tests that prove the readers' caps: it
// measures the heap a call takes at its peak, and makes decompression
// bombs (gzip members that inflate to gigabytes) in milliseconds.
package memtest

import (
	"archive/tar"
	"bytes"
	"encoding/binary"
	"hash/crc32"
	"runtime"
	"runtime/metrics"
	"time"

	"github.com/klauspost/compress/flate"
)

// heapObjects is the heap memory occupied by objects, live or not yet
// swept: what a big allocation raises until the collector frees it.
const heapObjects = "/memory/classes/heap/objects:bytes"

// Peak runs f and returns the largest heap in use while it ran, above
// what was in use before it, sampled every 50 µs (a buffer that lived
// shorter than that is still counted: freed memory stays in the figure
// until the next collection).
func Peak(f func()) uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: heapObjects}}
	read := func() uint64 {
		metrics.Read(s)
		return s[0].Value.Uint64()
	}
	base := read()
	stop := make(chan struct{})
	done := make(chan uint64)
	go func() {
		peak := base
		for {
			if v := read(); v > peak {
				peak = v
			}
			select {
			case <-stop:
				if v := read(); v > peak {
					peak = v
				}
				done <- peak
				return
			default:
				time.Sleep(50 * time.Microsecond)
			}
		}
	}()
	f()
	close(stop)
	peak := <-done
	if peak < base {
		return 0
	}
	return peak - base
}

// MiB formats a byte count for test logs.
func MiB(n uint64) float64 { return float64(n) / (1 << 20) }

// GzipBomb returns one gzip member that inflates to prefix followed by
// zeros zero bytes, with a correct CRC and size: a valid file, about a
// thousandth of what it inflates to. It takes milliseconds per gigabyte
// to make (the deflate blocks of a run of zeros repeat, so they are
// compressed once and copied).
func GzipBomb(prefix []byte, zeros int64) []byte { return GzipFill(prefix, []byte{0}, zeros) }

// GzipFill is GzipBomb with n bytes of fill repeated instead of zeros
// (the length of fill must divide 1 MiB: 1, 2, 4, ... bytes).
func GzipFill(prefix, fill []byte, n int64) []byte {
	const chunk = 1 << 20
	if chunk%len(fill) != 0 {
		panic("memtest: the fill's length must divide 1 MiB")
	}
	zeros := n
	var out bytes.Buffer
	// gzip header: magic, deflate, no flags, no time, no extra flags, unix.
	out.Write([]byte{0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3})
	var body bytes.Buffer
	zw, _ := flate.NewWriter(&body, flate.BestCompression)
	zw.Write(prefix)
	zw.Flush()
	out.Write(body.Bytes())
	zero := bytes.Repeat(fill, chunk/len(fill))
	crc := crc32.Update(0, crc32.IEEETable, prefix)
	var last []byte
	left := zeros
	for left >= chunk {
		body.Reset()
		zw.Write(zero)
		zw.Flush()
		left -= chunk
		crc = crc32.Update(crc, crc32.IEEETable, zero)
		out.Write(body.Bytes())
		if bytes.Equal(body.Bytes(), last) {
			break // the compressor is in a steady state: copy
		}
		last = bytes.Clone(body.Bytes())
	}
	copies := left / chunk
	for range copies {
		out.Write(last)
	}
	if copies > 0 {
		crc = crc32Combine(crc, crcRepeat(crc32.ChecksumIEEE(zero), chunk, copies), copies*chunk)
	}
	left -= copies * chunk
	body.Reset()
	zw.Write(zero[:left])
	crc = crc32.Update(crc, crc32.IEEETable, zero[:left])
	zw.Close()
	out.Write(body.Bytes())
	var tail [8]byte
	binary.LittleEndian.PutUint32(tail[:4], crc)
	binary.LittleEndian.PutUint32(tail[4:], uint32(int64(len(prefix))+zeros))
	out.Write(tail[:])
	return out.Bytes()
}

// crc32Combine returns the CRC-32 (IEEE) of a followed by b from their
// CRCs and the length of b, in GF(2) as zlib's crc32_combine does.
func crc32Combine(crcA, crcB uint32, lenB int64) uint32 {
	if lenB <= 0 {
		return crcA
	}
	var even, odd [32]uint32
	odd[0] = 0xedb88320 // the operator for one zero bit
	row := uint32(1)
	for n := 1; n < 32; n++ {
		odd[n] = row
		row <<= 1
	}
	gf2Square(&even, &odd) // two zero bits
	gf2Square(&odd, &even) // four
	for {
		gf2Square(&even, &odd)
		if lenB&1 != 0 {
			crcA = gf2Times(&even, crcA)
		}
		if lenB >>= 1; lenB == 0 {
			break
		}
		gf2Square(&odd, &even)
		if lenB&1 != 0 {
			crcA = gf2Times(&odd, crcA)
		}
		if lenB >>= 1; lenB == 0 {
			break
		}
	}
	return crcA ^ crcB
}

// crcRepeat returns the CRC-32 of m copies of a block of n bytes whose
// CRC is c.
func crcRepeat(c uint32, n, m int64) uint32 {
	var out uint32
	for have := false; m > 0; m >>= 1 {
		if m&1 != 0 {
			if have {
				out = crc32Combine(out, c, n)
			} else {
				out, have = c, true
			}
		}
		c = crc32Combine(c, c, n)
		n *= 2
	}
	return out
}

func gf2Times(mat *[32]uint32, vec uint32) uint32 {
	var sum uint32
	for i := 0; vec != 0; i, vec = i+1, vec>>1 {
		if vec&1 != 0 {
			sum ^= mat[i]
		}
	}
	return sum
}

func gf2Square(square, mat *[32]uint32) {
	for n := range square {
		square[n] = gf2Times(mat, mat[n])
	}
}

// TarHeader returns the tar header block of a regular file name of size
// bytes, for a bomb's prefix.
func TarHeader(name string, size int64) []byte {
	var b bytes.Buffer
	tw := tar.NewWriter(&b)
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
		panic(err)
	}
	return b.Bytes()
}
