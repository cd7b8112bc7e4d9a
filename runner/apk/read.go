package apk

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"sync/atomic"

	"github.com/klauspost/compress/gzip"
)

// The readers take an io.ReaderAt and its size, so that a package or an
// index of any size is read from its file without being held in memory:
// only the small members (signatures, control) are held, capped; the data
// member and the index are streamed, and what they inflate is capped too.
// Signatures are checked on the compressed bytes before the member they
// cover is inflated, wherever the format allows.

// Limits caps what the readers inflate, for each kind of member. A field
// left zero takes its value from DefaultLimits.
type Limits struct {
	// Control bounds a signature or control member, compressed and
	// inflated alike: these are held in memory. Real ones are kilobytes.
	Control int64
	// Index bounds an index archive: its inflated bytes, plus for each
	// record of APKINDEX the memory its parsed form takes beyond its text
	// (IndexRecordCost, and 16 bytes per dependency, provide and
	// install_if, and 32 per field kept in Extra). It is thus a bound on the memory of a parsed index.
	// Alpine's largest index (community) costs about 25 MB.
	Index int64
	// Data bounds the inflated data member of a package. It is streamed,
	// never held; the cap bounds the time a decompression bomb takes.
	Data int64
	// Listing bounds the memory of PackageFile.Files: each entry counts
	// its name and link target plus 128 bytes.
	Listing int64
}

// DefaultLimits are the caps a zero Limits field means. With them a
// reader's peak heap stays well under 100 MB whatever the input.
var DefaultLimits = Limits{
	Control: 4 << 20,
	Index:   64 << 20,
	Data:    16 << 30,
	Listing: 32 << 20,
}

// IndexRecordCost is what each APKINDEX record counts against
// Limits.Index beyond its text: what a parsed Package takes on the heap,
// with its share of the slice that holds it.
const IndexRecordCost = 384

// indexListCost counts each element of D:, p: and i: against Limits.Index.
const indexListCost = 16

// maxSignatures bounds the leading signature members of a file: apk
// reads the first it can use, and abuild-sign writes one per key.
const maxSignatures = 16

func (l Limits) withDefaults() Limits {
	if l.Control <= 0 {
		l.Control = DefaultLimits.Control
	}
	if l.Index <= 0 {
		l.Index = DefaultLimits.Index
	}
	if l.Data <= 0 {
		l.Data = DefaultLimits.Data
	}
	if l.Listing <= 0 {
		l.Listing = DefaultLimits.Listing
	}
	return l
}

// ErrTooLarge is wrapped by the error of a reader that stopped at one of
// its Limits.
var ErrTooLarge = errors.New("too large")

// LimitError says which limit a member passed.
type LimitError struct {
	What  string // "control member", "index", "data member", ...
	Limit int64
	// Compressed is set when the compressed bytes passed the limit.
	Compressed bool
}

func (e *LimitError) Error() string {
	if e.Compressed {
		return fmt.Sprintf("%s is more than %s compressed: %v", e.What, FormatBytes(e.Limit), ErrTooLarge)
	}
	return fmt.Sprintf("%s inflates to more than %s (a decompression bomb, or raise the limit): %v",
		e.What, FormatBytes(e.Limit), ErrTooLarge)
}

func (e *LimitError) Unwrap() error { return ErrTooLarge }

// FormatBytes writes n in the largest binary unit that divides it
// ("64 MiB", "4097 B").
func FormatBytes(n int64) string {
	for _, u := range []struct {
		shift uint
		name  string
	}{{40, "TiB"}, {30, "GiB"}, {20, "MiB"}, {10, "KiB"}} {
		if n >= 1<<u.shift && n%(1<<u.shift) == 0 {
			return fmt.Sprintf("%d %s", n>>u.shift, u.name)
		}
	}
	return fmt.Sprintf("%d B", n)
}

// budget is what a capped stream may still produce; a parser can charge
// it for the memory its results take.
type budget struct {
	left int64
	err  *LimitError
}

func newBudget(limit int64, what string) *budget {
	return &budget{left: limit, err: &LimitError{What: what, Limit: limit}}
}

// take charges n bytes.
func (b *budget) take(n int64) error {
	if b == nil {
		return nil
	}
	b.left -= n
	if b.left < 0 {
		return b.err
	}
	return nil
}

// capReader passes on what r reads until the budget is spent; a byte
// more is the budget's LimitError.
type capReader struct {
	r io.Reader
	b *budget
	n int64 // bytes passed on
}

func (c *capReader) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if c.b.left <= 0 {
		var one [1]byte
		for {
			n, err := c.r.Read(one[:])
			if n > 0 {
				return 0, c.b.err
			}
			if err != nil {
				return 0, err
			}
		}
	}
	if int64(len(p)) > c.b.left {
		p = p[:c.b.left]
	}
	n, err := c.r.Read(p)
	c.b.left -= int64(n)
	c.n += int64(n)
	return n, err
}

// countReader counts (and hashes, when h is set) what is read through it.
type countReader struct {
	r io.Reader
	n int64
	h hash.Hash
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	if c.h != nil {
		c.h.Write(p[:n])
	}
	return n, err
}

// inflated counts the bytes the readers inflated.
var inflated atomic.Int64

// InflatedBytes returns how many bytes the readers of this package have
// inflated since the process started: a figure for tests and metrics.
func InflatedBytes() int64 { return inflated.Load() }

// source is a file being read: where its bytes are and its size.
type source struct {
	r    io.ReaderAt
	size int64
}

// gzStream inflates the gzip members of a file from an offset on: one
// member, or (multi) every member to the end of the file as one stream.
// Its errors say which member broke and where (memberError).
type gzStream struct {
	src    *source
	start  int64 // where the stream starts in the file
	window int64 // how many bytes of the file it may read from start
	cr     *countReader
	br     *bufio.Reader
	zr     *gzip.Reader
	multi  bool
	member int   // the member being read, counted from 1 in the file
	at     int64 // its offset
	what   string
}

// memberError is a gzip stream that could not be read: which member of
// the file, where, and why.
type memberError struct {
	member int
	off    int64
	err    error
}

func (e *memberError) Error() string {
	return fmt.Sprintf("gzip member %d at offset %d: %v", e.member, e.off, e.err)
}
func (e *memberError) Unwrap() error { return e.err }

// stream starts inflating at off, which is the file's member number
// member. maxRaw > 0 bounds the compressed bytes it may read (what names
// the member in that error); h, when set, sees every byte read from off on
// (more than the member when the file goes on after it: drain reads the
// rest).
func (s *source) stream(off int64, member int, maxRaw int64, what string, h hash.Hash, multi bool) (*gzStream, error) {
	window := s.size - off
	if maxRaw > 0 && maxRaw < window {
		window = maxRaw
	}
	g := &gzStream{src: s, start: off, window: window, multi: multi, member: member, at: off, what: what}
	g.cr = &countReader{r: io.NewSectionReader(s.r, off, window), h: h}
	// A bufio.Reader is an io.ByteReader: the inflater reads from it byte
	// by byte where it must and so never past a member's end.
	g.br = bufio.NewReaderSize(g.cr, 32<<10)
	zr, err := gzip.NewReader(g.br)
	if err != nil {
		return nil, g.fail(err)
	}
	zr.Multistream(false)
	g.zr = zr
	return g, nil
}

// pos returns the offset just past what the inflater consumed.
func (g *gzStream) pos() int64 { return g.start + g.cr.n - int64(g.br.Buffered()) }

func (g *gzStream) Read(p []byte) (int, error) {
	for {
		n, err := g.zr.Read(p)
		inflated.Add(int64(n))
		if err == io.EOF && g.multi && g.pos() < g.src.size {
			g.member, g.at = g.member+1, g.pos()
			if err := g.zr.Reset(g.br); err != nil {
				return n, g.fail(err)
			}
			g.zr.Multistream(false)
			if n > 0 {
				return n, nil
			}
			continue
		}
		if err != nil && err != io.EOF {
			return n, g.fail(err)
		}
		return n, err
	}
}

// fail says which member broke: an EOF inside it is unexpected, and one
// at the compressed cap is the cap.
func (g *gzStream) fail(err error) error {
	var me *memberError
	if errors.As(err, &me) {
		return err
	}
	switch {
	case g.cr.n >= g.window && g.window < g.src.size-g.start:
		err = &LimitError{What: g.what, Limit: g.window, Compressed: true}
	case errors.Is(err, io.EOF):
		err = io.ErrUnexpectedEOF
	}
	return &memberError{member: g.member, off: g.at, err: err}
}

// drain reads the rest of the file through the stream's hash.
func (g *gzStream) drain() error {
	_, err := io.Copy(io.Discard, g.br)
	return err
}

// inflateAll inflates the member at off (the file's member number member)
// into memory, both its compressed and its inflated bytes bounded by
// limit. It returns the content and the offset where the member ends.
func (s *source) inflateAll(off int64, member int, limit int64, what string) ([]byte, int64, error) {
	g, err := s.stream(off, member, limit, what, nil, false)
	if err != nil {
		return nil, 0, err
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(&capReader{r: g, b: newBudget(limit, what)}); err != nil {
		var le *LimitError
		if errors.As(err, &le) && !le.Compressed {
			return nil, 0, &memberError{member: member, off: off, err: err}
		}
		return nil, 0, err
	}
	return buf.Bytes(), g.pos(), nil
}

// section returns the bytes [from, to) of the file; the caller bounds the
// length.
func (s *source) section(from, to int64) ([]byte, error) {
	b := make([]byte, to-from)
	if _, err := s.r.ReadAt(b, from); err != nil {
		return nil, err
	}
	return b, nil
}

// digest returns the digest of the bytes [from, size) of the file, read
// in a stream.
func (s *source) digest(h crypto.Hash, from int64) ([]byte, error) {
	d := h.New()
	if _, err := io.Copy(d, io.NewSectionReader(s.r, from, s.size-from)); err != nil {
		return nil, err
	}
	return d.Sum(nil), nil
}

// head is what leads a package or an index: the signature members and
// the kind of the first member after them.
type head struct {
	sigs      []signature
	sigRaw    []byte // the first signature member's bytes
	bodyStart int64  // offset of the first member after the signatures
	kind      fileKind
	firstName string // first entry after the signatures
}

// errOnlySignatures: the file ends after its signature members.
var errOnlySignatures = errors.New("only signatures, no content")

// readHead reads the leading signature members of the file. When kind is
// set it also tells a package from an index by the first tar header after
// them. Finding where a member starts and what it is inflates a few
// blocks of it, not all of it; only signature members are inflated whole.
// A file that is only signatures returns the head with errOnlySignatures.
func (s *source) readHead(lim Limits, kind bool) (*head, error) {
	h := &head{}
	if s.size == 0 {
		return nil, errors.New("empty file: no gzip member")
	}
	for n := 1; ; n++ {
		if h.bodyStart == s.size {
			return h, errOnlySignatures
		}
		first, err := s.firstEntry(h.bodyStart, n, lim.Control)
		if err != nil {
			return nil, err
		}
		if !strings.HasPrefix(first, sigPrefix) {
			h.firstName = first
			break
		}
		if len(h.sigs) == maxSignatures {
			return nil, &memberError{n, h.bodyStart, fmt.Errorf("more than %d signature members", maxSignatures)}
		}
		t, end, err := s.inflateAll(h.bodyStart, n, lim.Control, "signature member")
		if err != nil {
			return nil, err
		}
		entry, sig, ok, err := signatureTar(t)
		if err != nil {
			return nil, &memberError{n, h.bodyStart, err}
		}
		if !ok {
			return nil, &memberError{n, h.bodyStart, fmt.Errorf("signature entry %q shares its member with other entries", first)}
		}
		if len(h.sigs) == 0 {
			if h.sigRaw, err = s.section(h.bodyStart, end); err != nil {
				return nil, err
			}
		}
		h.sigs = append(h.sigs, parseSignatureName(entry, sig))
		h.bodyStart = end
	}
	if !kind {
		return h, nil
	}
	switch first := h.firstName; {
	case first == "DESCRIPTION" || first == "APKINDEX":
		h.kind = kindIndex
	case strings.HasPrefix(first, "."):
		h.kind = kindPackage
	default:
		return nil, fmt.Errorf("neither a package nor an index: first entry %q (a package starts with .PKGINFO, an index with DESCRIPTION or APKINDEX)", first)
	}
	return h, nil
}

// firstEntry returns the name of the first tar entry of the gzip member
// at off (the file's member n), inflating no more than its header and
// reading at most limit bytes of either kind.
func (s *source) firstEntry(off int64, n int, limit int64) (string, error) {
	g, err := s.stream(off, n, limit, "member's first tar header", nil, false)
	if err != nil {
		return "", err
	}
	hd, err := tar.NewReader(&capReader{r: g, b: newBudget(limit, "first tar header")}).Next()
	if err == io.EOF {
		return "", &memberError{n, off, errors.New("no tar entries")}
	}
	if err != nil {
		var me *memberError
		if errors.As(err, &me) {
			return "", err
		}
		return "", &memberError{n, off, fmt.Errorf("read tar entry 1: %w", err)}
	}
	return hd.Name, nil
}

// asMemberError returns the gzip failure under err when there is one:
// it says more than the tar error it caused.
func asMemberError(err error) error {
	var me *memberError
	if errors.As(err, &me) {
		return me
	}
	return err
}

// pick returns the signature apk would check: the first of a known type
// by a trusted key.
func (k *Keyring) pick(sigs []signature) (*signature, error) {
	if len(sigs) == 0 {
		return nil, ErrNoSignature
	}
	var unknown []string
	for i := range sigs {
		s := &sigs[i]
		if s.alg == "" {
			continue
		}
		if _, ok := k.keys[s.keyName]; ok {
			return s, nil
		}
		unknown = append(unknown, s.keyName)
	}
	if len(unknown) == 0 {
		entries := make([]string, len(sigs))
		for i, s := range sigs {
			entries[i] = s.entry
		}
		return nil, fmt.Errorf("%w: only signatures of unsupported types %q", ErrNoSignature, entries)
	}
	from := ""
	if k.dir != "" {
		from = " (not in " + k.dir + ")"
	}
	if len(unknown) == 1 {
		return nil, fmt.Errorf("%w %q%s", ErrUnknownKey, unknown[0], from)
	}
	return nil, fmt.Errorf("%w: none of %q%s", ErrUnknownKey, unknown, from)
}
