package apk

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// IndexArchiveLevel is the gzip level of the index archive: the default
// (6). apk index uses 9, but on a 20,000-record index that takes 0.5 s
// against 40 ms for an archive 4% smaller; the bytes differ from apk's
// anyway (another deflate implementation), only the tar inside is equal.
const IndexArchiveLevel = gzip.DefaultCompression

// WriteIndexArchive writes the unsigned APKINDEX.tar.gz of idx: one gzip
// member holding a tar with DESCRIPTION (when idx.Description is set) and
// APKINDEX, laid out like apk index writes it: GNU-style headers, mode 0644,
// owner root, and the tar's two end-of-archive blocks kept (the signer
// prepends its own member, whose end blocks abuild-sign cuts instead).
//
// The packages are written sorted (SortPackages; idx.Packages itself is not
// reordered). Every header time is the newest build time among the packages
// and the gzip header has no name and no time, so an unchanged repository
// gives a byte-identical archive.
func WriteIndexArchive(w io.Writer, idx *Index) error {
	if idx == nil {
		return errors.New("write index: nil index")
	}
	pkgs := slices.Clone(idx.Packages)
	SortPackages(pkgs)
	var text bytes.Buffer
	text.Grow(len(pkgs) * 320)
	if err := WriteIndex(&text, pkgs); err != nil {
		return err
	}
	var mtime int64
	for _, p := range pkgs {
		mtime = max(mtime, p.BuildTime)
	}
	zw, err := gzipWriter(w, IndexArchiveLevel)
	if err != nil {
		return err
	}
	if idx.Description != "" {
		if err := archiveWriteFile(zw, "DESCRIPTION", []byte(idx.Description), mtime); err != nil {
			return err
		}
	}
	if err := archiveWriteFile(zw, "APKINDEX", text.Bytes(), mtime); err != nil {
		return err
	}
	if _, err := zw.Write(tarEnd); err != nil {
		return err
	}
	return zw.Close()
}

// archiveWriteFile writes one regular file entry the way apk index does.
func archiveWriteFile(w io.Writer, name string, data []byte, mtime int64) error {
	h := tarHeader(tarEntry{Name: name, Mode: 0o644, Size: int64(len(data)), MTime: mtime,
		Typeflag: '0', Magic: tarMagicGNU})
	for _, b := range [][]byte{h, data, tarPadding(int64(len(data)))} {
		if _, err := w.Write(b); err != nil {
			return err
		}
	}
	return nil
}

// MarshalIndexArchive returns the bytes WriteIndexArchive writes.
func MarshalIndexArchive(idx *Index) ([]byte, error) {
	var b bytes.Buffer
	if err := WriteIndexArchive(&b, idx); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// ReadIndexArchive is ReadIndex on an archive in memory, with the default
// limits.
func ReadIndexArchive(b []byte, name string) (*Index, error) {
	return ReadIndex(bytes.NewReader(b), int64(len(b)), name, Limits{})
}

// ReadIndex reads the APKINDEX.tar.gz of size bytes that r holds, signed
// or not: leading signature members are skipped, not verified
// (Keyring.ReadIndex verifies). name is the file name used in errors. The
// tar must hold APKINDEX; DESCRIPTION is optional; other entries are
// ignored, as apk does, but their names are checked like any tar path.
//
// The archive after the signatures is inflated and parsed as one stream
// (its tar may span gzip members), never held whole: what it inflates
// and the records it holds count against lim.Index (see Limits), so a
// decompression bomb is an error, not a big allocation.
func ReadIndex(r io.ReaderAt, size int64, name string, lim Limits) (*Index, error) {
	src := &source{r, size}
	lim = lim.withDefaults()
	h, err := src.readHead(lim, false)
	if err != nil && !errors.Is(err, errOnlySignatures) {
		return nil, fmt.Errorf("read index %q: %w", name, err)
	}
	return readIndexBody(src, h, name, lim)
}

// readIndexBody reads the index after its head.
func readIndexBody(src *source, h *head, name string, lim Limits) (*Index, error) {
	idx, err := readIndexStream(src, h, name, lim)
	if err == nil {
		return idx, nil
	}
	var perr *indexParseError
	if errors.As(err, &perr) {
		return nil, fmt.Errorf("read index: %w", perr.err)
	}
	return nil, fmt.Errorf("read index %q: %w", name, err)
}

// indexParseError carries a ParseIndex error out of the tar walk unwrapped:
// it already names the file and line.
type indexParseError struct{ err error }

func (e *indexParseError) Error() string { return e.err.Error() }

// indexReadRecorder remembers the read error of the stream under
// ParseIndex.
type indexReadRecorder struct {
	r   io.Reader
	err error
}

func (r *indexReadRecorder) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		r.err = err
	}
	return n, err
}

// indexMaxDescription bounds the DESCRIPTION entry (Alpine's are a version
// string).
const indexMaxDescription = 64 << 10

// readIndexStream reads the archive from the member after the signatures
// to the end of the file as one gzip stream.
func readIndexStream(src *source, h *head, name string, lim Limits) (*Index, error) {
	if h.bodyStart == src.size {
		return nil, errors.New("no APKINDEX entry in the archive")
	}
	g, err := src.stream(h.bodyStart, len(h.sigs)+1, 0, "", nil, true)
	if err != nil {
		return nil, err
	}
	b := newBudget(lim.Index, "index")
	zr := &capReader{r: g, b: b}
	idx := &Index{}
	found := false
	err = tarWalk(zr, func(h *tar.Header, body io.Reader) error {
		switch h.Name {
		case "DESCRIPTION":
			d, err := io.ReadAll(io.LimitReader(body, indexMaxDescription+1))
			if err != nil {
				return err
			}
			if len(d) > indexMaxDescription {
				return fmt.Errorf("longer than %d bytes", indexMaxDescription)
			}
			idx.Description = string(d)
		case "APKINDEX":
			found = true
			rec := &indexReadRecorder{r: body}
			pkgs, err := parseIndex(rec, name+": APKINDEX", b)
			if rec.err != nil {
				return rec.err // the archive is broken, not the text
			}
			if err != nil {
				return &indexParseError{err}
			}
			idx.Packages = pkgs
		}
		return nil
	})
	var perr *indexParseError
	if errors.As(err, &perr) {
		return nil, perr
	}
	if err != nil {
		return nil, asMemberError(err)
	}
	// Read to the end: the gzip checksums, and nothing but gzip after.
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return nil, asMemberError(err)
	}
	if !found {
		return nil, errors.New("no APKINDEX entry in the archive")
	}
	return idx, nil
}

// signatureTar reads a decompressed member as a signature member: a tar
// whose only entry is named ".SIGN.<type>.<key name>" (for example
// .SIGN.RSA.alpine-devel@lists.alpinelinux.org-6165ee59.rsa.pub or
// .SIGN.RSA256.key.rsa.pub), with its end-of-archive blocks cut or not.
// It returns that name and the entry's content (the signature bytes). ok
// is false, with no error, for a well-formed member that is not a
// signature (the control member of an unsigned package, an unsigned
// index); err is set for a corrupt tar stream or a signature entry with a
// bad path.
func signatureTar(t []byte) (name string, sig []byte, ok bool, err error) {
	items, err := tarReadAll(bytes.NewReader(t), func(n string) bool { return strings.HasPrefix(n, ".SIGN.") })
	if err != nil {
		return "", nil, false, err
	}
	if len(items) != 1 || !strings.HasPrefix(items[0].Header.Name, ".SIGN.") {
		return "", nil, false, nil
	}
	return items[0].Header.Name, items[0].Data, true, nil
}
