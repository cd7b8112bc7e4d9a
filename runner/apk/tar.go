package apk

import (
	"archive/tar"
	"bytes"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/klauspost/compress/gzip"
)

// Tar helpers shared by the index archive, the package reader and writer.
//
// Writing: tarHeader builds one 512-byte header block the way apk-tools'
// apk_tar_write_entry and abuild-tar fill it in (octal fields zero-padded and
// NUL-terminated, the checksum as six digits, NUL, space), so that what we
// write has the same bytes as what apk index and abuild produce. Reading uses
// archive/tar, which understands the PAX and GNU extensions apk accepts.

const tarBlock = 512

// tarMagic values: apk index writes GNU-style headers ("ustar  \0"),
// GNU tar --format=posix (as abuild runs it) writes POSIX ones.
const (
	tarMagicGNU   = "ustar  \x00"
	tarMagicPOSIX = "ustar\x0000"
)

// tarEntry is what tarHeader needs to know about one entry.
type tarEntry struct {
	Name     string
	Link     string // linkname field (symlink and hard link targets)
	Mode     int64  // permission bits only
	Size     int64
	MTime    int64
	Typeflag byte
	// Magic is tarMagicGNU for headers as apk index writes them (size and
	// mtime fill all 12 bytes, no NUL) or tarMagicPOSIX for headers as GNU
	// tar and abuild-tar write them (every number NUL-terminated).
	Magic string
}

// tarPutOctal writes v as zero-padded octal into field, leaving the last
// byte NUL, like put_octal in apk-tools and abuild-tar.
func tarPutOctal(field []byte, v int64) {
	n := len(field) - 1
	field[n] = 0
	tarPutOctalFull(field[:n], v)
}

// tarPutOctalFull writes v as zero-padded octal over the whole field, with
// no NUL (apk-tools' PUT_OCTAL(..., 0) for size and mtime).
func tarPutOctalFull(field []byte, v int64) {
	for i := len(field) - 1; i >= 0; i-- {
		field[i] = byte('0' + v&7)
		v >>= 3
	}
}

// tarSetChecksum computes the header checksum with the checksum field read
// as spaces and stores it as six octal digits, NUL, space.
func tarSetChecksum(h []byte) {
	copy(h[148:156], "        ")
	var sum int64
	for _, c := range h[:tarBlock] {
		sum += int64(c)
	}
	tarPutOctal(h[148:155], sum)
}

// tarHeader returns the header block of e. Name and Link must fit their
// 100-byte fields; longer ones go in a PAX header written before (see
// tarPAXRecord) with a truncated copy here.
func tarHeader(e tarEntry) []byte {
	h := make([]byte, tarBlock)
	copy(h[0:100], e.Name)
	tarPutOctal(h[100:108], e.Mode)
	tarPutOctal(h[108:116], 0)
	tarPutOctal(h[116:124], 0)
	if e.Magic == tarMagicGNU {
		tarPutOctalFull(h[124:136], e.Size)
		tarPutOctalFull(h[136:148], e.MTime)
	} else {
		tarPutOctal(h[124:136], e.Size)
		tarPutOctal(h[136:148], e.MTime)
	}
	h[156] = e.Typeflag
	copy(h[157:257], e.Link)
	copy(h[257:265], e.Magic)
	copy(h[265:297], "root")
	copy(h[297:329], "root")
	if e.Magic == tarMagicPOSIX {
		tarPutOctal(h[329:337], 0)
		tarPutOctal(h[337:345], 0)
	}
	tarSetChecksum(h)
	return h
}

// tarPadding returns the zero bytes that fill a body of n bytes up to a
// whole block.
func tarPadding(n int64) []byte {
	return make([]byte, (tarBlock-n%tarBlock)%tarBlock)
}

// tarEnd is the end-of-archive marker: two zero blocks.
var tarEnd = make([]byte, 2*tarBlock)

// tarPAXRecord formats one PAX extended header record "%d %s=%s\n", where
// the leading number counts the whole record including itself.
func tarPAXRecord(key, value string) string {
	n := len(key) + len(value) + 3 // space, '=', newline
	l := n + len(strconv.Itoa(n))
	if len(strconv.Itoa(l)) != len(strconv.Itoa(n)) {
		l++
	}
	return strconv.Itoa(l) + " " + key + "=" + value + "\n"
}

// tarPAXName is the name GNU tar gives a PAX header (exthdr.name
// %d/PaxHeaders/%f, as abuild configures it).
func tarPAXName(name string) string {
	dir, file := path.Split(strings.TrimSuffix(name, "/"))
	return dir + "PaxHeaders/" + file
}

// tarChecksumKey is the PAX key abuild-tar --hash adds to every regular file
// and symlink: the SHA-1 of the content (of the link target for symlinks).
const tarChecksumKey = "APK-TOOLS.checksum.SHA1"

// tarCheckName rejects entry names that would leave the extraction root:
// absolute paths and any ".." element.
func tarCheckName(name string) error {
	if name == "" {
		return errors.New("empty name")
	}
	if strings.HasPrefix(name, "/") {
		return errors.New("absolute path")
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return errors.New(`path has a ".." element`)
		}
	}
	return nil
}

// tarItem is one entry read from a tar stream, with its content when the
// reader asked for it.
type tarItem struct {
	Header *tar.Header
	Data   []byte // nil unless kept
	// SHA1 is the hex value of the APK-TOOLS.checksum.SHA1 PAX record.
	SHA1 string
}

// tarWalk calls visit for every entry of the tar stream r, with the
// entry's content as a reader (what visit leaves unread is skipped). Names
// and hard link targets are checked with tarCheckName first. A stream that
// stops right after an entry (a control member with its end blocks cut) is
// complete; one that stops inside an entry is an error.
func tarWalk(r io.Reader, visit func(h *tar.Header, body io.Reader) error) error {
	tr := tar.NewReader(r)
	for n := 1; ; n++ {
		h, err := tr.Next()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("read tar entry %d: %w", n, err)
		}
		if err := tarCheckName(h.Name); err != nil {
			return fmt.Errorf("entry %q: %w", h.Name, err)
		}
		if h.Typeflag == tar.TypeLink {
			if err := tarCheckName(h.Linkname); err != nil {
				return fmt.Errorf("entry %q: hard link target %q: %w", h.Name, h.Linkname, err)
			}
		}
		if err := visit(h, tr); err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return fmt.Errorf("read tar entry %q: %w", h.Name, err)
		}
	}
}

// tarReadAll reads every entry of the tar stream r (see tarWalk). keep says
// whose content to return (nil: none).
func tarReadAll(r io.Reader, keep func(name string) bool) ([]tarItem, error) {
	var items []tarItem
	err := tarWalk(r, func(h *tar.Header, body io.Reader) error {
		it := tarItem{Header: h, SHA1: h.PAXRecords[tarChecksumKey]}
		if keep != nil && keep(h.Name) {
			var buf bytes.Buffer
			buf.Grow(int(min(max(h.Size, 0), 64<<10))) // the header's size is only a hint
			if _, err := buf.ReadFrom(body); err != nil {
				return err
			}
			it.Data = buf.Bytes()
		} else if _, err := io.Copy(io.Discard, body); err != nil {
			return err
		}
		items = append(items, it)
		return nil
	})
	return items, err
}

// gzipWriter returns a gzip writer with a fixed header (no name, no mtime,
// OS unix) so that equal input gives equal bytes.
func gzipWriter(w io.Writer, level int) (*gzip.Writer, error) {
	zw, err := gzip.NewWriterLevel(w, level)
	if err != nil {
		return nil, err
	}
	zw.OS = 3
	zw.ModTime = time.Unix(0, 0) // the zero Time would be written as a nonzero date
	return zw, nil
}

// sha1Hex returns the hex SHA-1 of b.
func sha1Hex(b []byte) string {
	s := sha1.Sum(b)
	return hex.EncodeToString(s[:])
}
