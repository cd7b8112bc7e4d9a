package apk

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// MaxIndexLine is the longest APKINDEX line, in bytes without the newline,
// that ParseIndex accepts and WriteIndex writes: 128 KiB - 1. It is apk-tools
// 2.14's own limit (a line and its newline must fit its 128 KiB read
// buffer): on a longer line apk stops reading the index with "No buffer
// space available" and silently drops every later package, as the
// conformance tests show. The longest real lines (D: and p: of large
// packages) are a few kilobytes. The reader never holds more than this of
// one line, so a hostile 10 MB line is an error, not a big allocation.
const MaxIndexLine = 128<<10 - 1

// ParseIndex reads the APKINDEX text format: records of "X:value" lines
// separated by blank lines. name is the file name used in errors, which
// carry the line number ("APKINDEX:12: ...").
//
// Every field apk-tools 2.14 writes is read into its Package field. An
// unknown lowercase field is kept in Extra, in order (apk ignores those). An
// unknown uppercase field is an error: apk 2.14 marks a package carrying one
// uninstallable ("This apk-tools is OLD!"), so an index holding one is not
// something we republish. A record without P: or V: is an error naming the
// line the record starts on: apk cannot install a package without a
// version, and the planner could not compare it.
//
// What it reads and the records it holds count against
// DefaultLimits.Index (see Limits): more is an error wrapping ErrTooLarge.
func ParseIndex(r io.Reader, name string) ([]*Package, error) {
	b := newBudget(DefaultLimits.Index, "index")
	return parseIndex(&capReader{r: r, b: b}, name, b)
}

// indexFieldCost counts each field line against Limits.Index beyond its
// text while its record is read (where it is in the record), and after
// for the fields kept in Extra.
const indexFieldCost = 32

// parseIndex is ParseIndex charging each record and field to b (the text
// itself is charged by the caller's capped reader).
func parseIndex(r io.Reader, name string, b *budget) ([]*Package, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var (
		pkgs   []*Package
		rec    []byte       // the current record's values, back to back
		fields []indexField // where each of its fields is in rec
		line   int
	)
	// finish turns the buffered record into a Package. All its values are
	// substrings of one string: one allocation per record, not per field.
	finish := func() error {
		if len(fields) == 0 {
			return nil
		}
		s := string(rec)
		p := &Package{}
		for _, f := range fields {
			if err := p.setIndexField(f.key, s[f.start:f.end]); err != nil {
				return fmt.Errorf("%s:%d: %w", name, f.line, err)
			}
		}
		if p.Name == "" {
			return fmt.Errorf("%s:%d: record without P: field", name, fields[0].line)
		}
		if p.Version == "" {
			return fmt.Errorf("%s:%d: record of %q without V: field", name, fields[0].line, p.Name)
		}
		// The field list is reused for the next record; Extra stays.
		b.take(-indexFieldCost * int64(len(fields)-len(p.Extra)))
		if err := b.take(IndexRecordCost + indexListCost*int64(len(p.Depends)+len(p.Provides)+len(p.InstallIf))); err != nil {
			return fmt.Errorf("%s:%d: %w", name, fields[0].line, err)
		}
		pkgs = append(pkgs, p)
		rec, fields = rec[:0], fields[:0]
		return nil
	}
	for {
		l, err := indexReadLine(br)
		if err == io.EOF {
			break
		}
		line++
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		if len(l) == 0 {
			if err := finish(); err != nil {
				return nil, err
			}
			continue
		}
		if len(l) < 2 || l[1] != ':' {
			return nil, fmt.Errorf("%s:%d: malformed line %q: want \"X:value\"", name, line, indexTrim(l))
		}
		if err := b.take(indexFieldCost); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
		fields = append(fields, indexField{key: l[0], start: len(rec), end: len(rec) + len(l) - 2, line: line})
		rec = append(rec, l[2:]...)
	}
	if err := finish(); err != nil {
		return nil, err
	}
	return pkgs, nil
}

// indexField locates one field of a buffered record.
type indexField struct {
	key        byte
	start, end int
	line       int
}

// indexReadLine returns the next line without its newline (a final line
// without one counts), io.EOF at the end, and an error for a line longer
// than MaxIndexLine, which it does not hold in memory.
func indexReadLine(br *bufio.Reader) ([]byte, error) {
	l, err := br.ReadSlice('\n')
	if err == nil {
		if len(l) > MaxIndexLine+1 {
			return nil, fmt.Errorf("line longer than %d bytes (apk-tools' limit)", MaxIndexLine)
		}
		return l[:len(l)-1], nil
	}
	if err == io.EOF {
		if len(l) == 0 {
			return nil, io.EOF
		}
		if len(l) > MaxIndexLine {
			return nil, fmt.Errorf("line longer than %d bytes (apk-tools' limit)", MaxIndexLine)
		}
		return l, nil
	}
	if !errors.Is(err, bufio.ErrBufferFull) {
		return nil, err
	}
	buf := append([]byte(nil), l...)
	for {
		l, err = br.ReadSlice('\n')
		if n := len(buf) + len(l); n > MaxIndexLine+1 || n == MaxIndexLine+1 && err != nil {
			return nil, fmt.Errorf("line longer than %d bytes (apk-tools' limit)", MaxIndexLine)
		}
		buf = append(buf, l...)
		switch {
		case err == nil:
			return buf[:len(buf)-1], nil
		case err == io.EOF:
			return buf, nil
		case !errors.Is(err, bufio.ErrBufferFull):
			return nil, err
		}
	}
}

// indexTrim shortens a line for an error message.
func indexTrim(l []byte) string {
	if len(l) > 40 {
		return string(l[:40]) + "..."
	}
	return string(l)
}

// setIndexField sets the field with letter k from one index line.
func (p *Package) setIndexField(k byte, v string) error {
	var err error
	switch k {
	case 'C':
		p.Checksum = v
	case 'P':
		p.Name = v
	case 'V':
		p.Version = v
	case 'A':
		p.Arch = v
	case 'S':
		p.Size, err = indexUint(k, v)
	case 'I':
		p.InstalledSize, err = indexUint(k, v)
	case 'T':
		p.Description = v
	case 'U':
		p.URL = v
	case 'L':
		p.License = v
	case 'o':
		p.Origin = v
	case 'm':
		p.Maintainer = v
	case 't':
		p.BuildTime, err = indexUint(k, v)
	case 'c':
		p.Commit = v
	case 'k':
		_, err = indexUint(k, v)
		p.ProviderPriority = v
	case 'D':
		p.Depends = indexFields(v)
	case 'p':
		p.Provides = indexFields(v)
	case 'i':
		p.InstallIf = indexFields(v)
	default:
		if k < 'a' || k > 'z' {
			return fmt.Errorf("unknown field %q: apk 2.14 marks a package with an unknown uppercase field uninstallable", string(k)+":")
		}
		p.Extra = append(p.Extra, Field{Key: k, Value: v})
	}
	return err
}

// indexFields splits a dependency list; an empty one is nil, as if the
// line were absent (which is how WriteIndex writes it).
func indexFields(v string) []string {
	f := strings.Fields(v)
	if len(f) == 0 {
		return nil
	}
	return f
}

func indexUint(k byte, v string) (int64, error) {
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("field %c: %q is not a non-negative integer", k, v)
	}
	return n, nil
}

// indexVersionCompare orders versions in SortPackages.
var indexVersionCompare = CompareVersions

// SortPackages sorts pkgs the way WriteIndex writes them: by name ignoring
// case, then by name, then by version (apk order), then by checksum, so that
// the same set of packages always gives the same index.
func SortPackages(pkgs []*Package) {
	slices.SortStableFunc(pkgs, func(a, b *Package) int {
		if c := indexCompareFold(a.Name, b.Name); c != 0 {
			return c
		}
		if c := strings.Compare(a.Name, b.Name); c != 0 {
			return c
		}
		if a.Version != b.Version {
			if c := indexVersionCompare(a.Version, b.Version); c != 0 {
				return c
			}
			if c := strings.Compare(a.Version, b.Version); c != 0 {
				return c
			}
		}
		return strings.Compare(a.Checksum, b.Checksum)
	})
}

// indexCompareFold compares ASCII case-insensitively without allocating.
func indexCompareFold(a, b string) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		ca, cb := a[i], b[i]
		if 'A' <= ca && ca <= 'Z' {
			ca += 'a' - 'A'
		}
		if 'A' <= cb && cb <= 'Z' {
			cb += 'a' - 'A'
		}
		if ca != cb {
			if ca < cb {
				return -1
			}
			return 1
		}
	}
	return len(a) - len(b)
}

// WriteIndex writes pkgs as APKINDEX text in the given order (see
// SortPackages), each record followed by a blank line, fields in the order
// apk-tools 2.14 writes them (C P V A S I T U L o m t c k D p i), then the
// Extra fields. T:, U: and L: are always written, like apk does; the other
// optional fields only when set.
func WriteIndex(w io.Writer, pkgs []*Package) error {
	var buf []byte
	bw := bufio.NewWriterSize(w, 64<<10)
	for _, p := range pkgs {
		if err := p.checkWritable(); err != nil {
			return fmt.Errorf("write index: %w", err)
		}
		buf = p.appendIndex(buf[:0])
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}

// checkWritable refuses a record apk could not read back: no name, a
// newline in a value (it would split the record), a line longer than
// MaxIndexLine.
func (p *Package) checkWritable() error {
	if p.Name == "" {
		return errors.New("package without a name")
	}
	for _, s := range [...]string{p.Checksum, p.Name, p.Version, p.Arch, p.Description, p.URL,
		p.License, p.Origin, p.Maintainer, p.Commit, p.ProviderPriority} {
		if strings.IndexByte(s, '\n') >= 0 {
			return fmt.Errorf("package %q: newline in a field value", p.Name)
		}
		if len(s)+2 > MaxIndexLine {
			return fmt.Errorf("package %q: a field is longer than apk's line limit of %d bytes", p.Name, MaxIndexLine)
		}
	}
	for _, l := range [...][]string{p.Depends, p.Provides, p.InstallIf} {
		n := 2
		for _, s := range l {
			if s == "" || strings.ContainsAny(s, " \t\n") {
				return fmt.Errorf("package %q: dependency %q is empty or contains whitespace", p.Name, s)
			}
			n += len(s) + 1
		}
		if n-1 > MaxIndexLine {
			return fmt.Errorf("package %q: a dependency line is longer than apk's line limit of %d bytes", p.Name, MaxIndexLine)
		}
	}
	for _, f := range p.Extra {
		if f.Key < 'a' || f.Key > 'z' || strings.IndexByte(f.Value, '\n') >= 0 {
			return fmt.Errorf("package %q: extra field %q: want a lowercase letter and a value without newline", p.Name, string(f.Key))
		}
		if len(f.Value)+2 > MaxIndexLine {
			return fmt.Errorf("package %q: field %c: longer than apk's line limit of %d bytes", p.Name, f.Key, MaxIndexLine)
		}
	}
	return nil
}

// appendIndex appends p's record and the blank line after it.
func (p *Package) appendIndex(b []byte) []byte {
	str := func(k byte, v string) {
		b = append(b, k, ':')
		b = append(b, v...)
		b = append(b, '\n')
	}
	num := func(k byte, v int64) {
		b = append(b, k, ':')
		b = strconv.AppendInt(b, v, 10)
		b = append(b, '\n')
	}
	list := func(k byte, v []string) {
		if len(v) == 0 {
			return
		}
		b = append(b, k, ':')
		for i, s := range v {
			if i > 0 {
				b = append(b, ' ')
			}
			b = append(b, s...)
		}
		b = append(b, '\n')
	}
	if p.Checksum != "" {
		str('C', p.Checksum)
	}
	str('P', p.Name)
	str('V', p.Version)
	if p.Arch != "" {
		str('A', p.Arch)
	}
	num('S', p.Size)
	num('I', p.InstalledSize)
	str('T', p.Description)
	str('U', p.URL)
	str('L', p.License)
	if p.Origin != "" {
		str('o', p.Origin)
	}
	if p.Maintainer != "" {
		str('m', p.Maintainer)
	}
	if p.BuildTime != 0 {
		num('t', p.BuildTime)
	}
	if p.Commit != "" {
		str('c', p.Commit)
	}
	if p.ProviderPriority != "" {
		str('k', p.ProviderPriority)
	}
	list('D', p.Depends)
	list('p', p.Provides)
	list('i', p.InstallIf)
	for _, f := range p.Extra {
		str(f.Key, f.Value)
	}
	return append(b, '\n')
}

// MarshalIndex returns the APKINDEX text of pkgs in the given order.
func MarshalIndex(pkgs []*Package) ([]byte, error) {
	var b bytes.Buffer
	if err := WriteIndex(&b, pkgs); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}
