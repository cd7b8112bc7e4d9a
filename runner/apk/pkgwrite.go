package apk

import (
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path"
	"slices"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// File is one entry of a package's data: a regular file, a directory or a
// symlink.
type File struct {
	// Name is the path inside the package, relative and "/"-separated
	// ("usr/bin/hello"), without a trailing slash.
	Name string
	// Mode holds the permission bits and the type: 0 for a regular file,
	// fs.ModeDir or fs.ModeSymlink. Zero permission bits mean 0644 for
	// files and 0755 for directories.
	Mode fs.FileMode
	Data []byte // content of a regular file
	Link string // target of a symlink
}

// PackageSpec is everything WritePackage needs to lay out one .apk.
type PackageSpec struct {
	// Info becomes .PKGINFO. WritePackage fills in DataHash, and Size
	// (the sum of the regular files' sizes) when it is zero; the caller's
	// value is not modified.
	Info PkgInfo
	// Scripts are the other control entries by name: ".pre-install",
	// ".post-install", ".pre-upgrade", ".post-upgrade", ".pre-deinstall",
	// ".post-deinstall", ".trigger". They are written with mode 0755.
	Scripts map[string][]byte
	// Files is the data. Missing parent directories are added (mode 0755);
	// entries are written sorted by name.
	Files []File
}

// PackageLevel is the gzip level of the control and data members (abuild
// runs gzip -9).
const PackageLevel = gzip.BestCompression

// WritePackage writes an unsigned .apk laid out the way abuild makes one:
//
//   - the control member: gzip of a tar holding .PKGINFO and the install
//     scripts, with the tar's end-of-archive blocks cut (abuild-tar --cut),
//     so that apk reads control and data as one tar stream;
//   - the data member: gzip of a tar of the files, where each regular file
//     and symlink is preceded by a PAX header carrying
//     APK-TOOLS.checksum.SHA1 and a regular file's header also carries the
//     legacy "APK2" digest in its linkname field (abuild-tar --hash), with
//     the end-of-archive blocks kept.
//
// .PKGINFO gets datahash = the SHA-256 of the data member. Every time in the
// archives is Info.BuildDate and the gzip headers carry no name or time, so
// the same spec always gives the same bytes. The signer prepends a
// signature member to sign the result.
func WritePackage(w io.Writer, spec *PackageSpec) error {
	ctl, data, err := buildPackage(spec)
	if err != nil {
		return fmt.Errorf("write package %q: %w", spec.Info.Name, err)
	}
	if _, err := w.Write(ctl); err != nil {
		return err
	}
	_, err = w.Write(data)
	return err
}

// MarshalPackage returns the bytes WritePackage writes.
func MarshalPackage(spec *PackageSpec) ([]byte, error) {
	var b bytes.Buffer
	if err := WritePackage(&b, spec); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func buildPackage(spec *PackageSpec) (control, data []byte, err error) {
	info := spec.Info
	if info.Name == "" || info.Version == "" {
		return nil, nil, errors.New("pkgname and pkgver are required")
	}
	if err := info.checkValues(); err != nil {
		return nil, nil, err
	}
	files, err := pkgwCompleteTree(spec.Files)
	if err != nil {
		return nil, nil, err
	}
	mtime := info.BuildDate
	if info.Size == 0 {
		for _, f := range files {
			if f.Mode.Type() == 0 {
				info.Size += int64(len(f.Data))
			}
		}
	}

	var tb bytes.Buffer
	for _, f := range files {
		pkgwDataEntry(&tb, f, mtime)
	}
	tb.Write(tarEnd)
	if data, err = pkgwGzip(tb.Bytes()); err != nil {
		return nil, nil, err
	}
	sum := sha256.Sum256(data)
	info.DataHash = hex.EncodeToString(sum[:])

	tb.Reset()
	pi := info.Marshal()
	tb.Write(tarHeader(tarEntry{Name: ".PKGINFO", Mode: 0o644, Size: int64(len(pi)), MTime: mtime,
		Typeflag: '0', Magic: tarMagicPOSIX}))
	tb.Write(pi)
	tb.Write(tarPadding(int64(len(pi))))
	names := make([]string, 0, len(spec.Scripts))
	for n := range spec.Scripts {
		if !strings.HasPrefix(n, ".") || strings.Contains(n, "/") || n == ".PKGINFO" || len(n) > 100 {
			return nil, nil, fmt.Errorf("script %q: want a top-level dot file like .post-install", n)
		}
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		s := spec.Scripts[n]
		tb.Write(tarHeader(tarEntry{Name: n, Mode: 0o755, Size: int64(len(s)), MTime: mtime,
			Typeflag: '0', Magic: tarMagicPOSIX}))
		tb.Write(s)
		tb.Write(tarPadding(int64(len(s))))
	}
	// No end-of-archive blocks: apk reads on into the data member.
	if control, err = pkgwGzip(tb.Bytes()); err != nil {
		return nil, nil, err
	}
	return control, data, nil
}

// checkValues refuses values that would break the .PKGINFO line format.
func (info *PkgInfo) checkValues() error {
	for _, s := range [...]string{info.Name, info.Version, info.Description, info.URL, info.Packager,
		info.Arch, info.Origin, info.Commit, info.Maintainer, info.ReplacesPriority,
		info.ProviderPriority, info.License} {
		if strings.ContainsAny(s, "\n\r") {
			return fmt.Errorf("newline in .PKGINFO value %q", s)
		}
	}
	for _, l := range [...][]string{info.Replaces, info.Depends, info.Provides, info.InstallIf, info.Triggers} {
		for _, s := range l {
			if s == "" || strings.ContainsAny(s, " \t\n\r") {
				return fmt.Errorf(".PKGINFO list value %q is empty or contains whitespace", s)
			}
		}
	}
	for _, f := range info.Extra {
		if f.Key == "" || strings.ContainsAny(f.Key, " =\n\r#") || strings.ContainsAny(f.Value, "\n\r") {
			return fmt.Errorf(".PKGINFO extra key %q: want a word and a one-line value", f.Key)
		}
	}
	return nil
}

// pkgwCompleteTree checks the names, adds missing parent directories and
// sorts the entries by name (so a directory precedes its content).
func pkgwCompleteTree(in []File) ([]File, error) {
	seen := map[string]bool{}
	var out []File
	for _, f := range in {
		n := f.Name
		if n == "" || n != path.Clean(n) || n == "." {
			return nil, fmt.Errorf("file %q: want a clean relative path", n)
		}
		if err := tarCheckName(n); err != nil {
			return nil, fmt.Errorf("file %q: %w", n, err)
		}
		if seen[n] {
			return nil, fmt.Errorf("file %q: listed twice", n)
		}
		switch f.Mode.Type() {
		case 0, fs.ModeDir, fs.ModeSymlink:
		default:
			return nil, fmt.Errorf("file %q: unsupported type %v", n, f.Mode.Type())
		}
		if f.Mode.Type() == fs.ModeSymlink && f.Link == "" {
			return nil, fmt.Errorf("file %q: symlink without a target", n)
		}
		seen[n] = true
		out = append(out, f)
	}
	for _, f := range in {
		for d := path.Dir(f.Name); d != "."; d = path.Dir(d) {
			if !seen[d] {
				seen[d] = true
				out = append(out, File{Name: d, Mode: fs.ModeDir | 0o755})
			}
		}
	}
	slices.SortFunc(out, func(a, b File) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// pkgwDataEntry appends one data entry: the PAX header with the checksum
// (and long names), then the ustar header and the content.
func pkgwDataEntry(b *bytes.Buffer, f File, mtime int64) {
	e := tarEntry{Name: f.Name, Mode: pkgwPermBits(f.Mode), MTime: mtime, Magic: tarMagicPOSIX}
	var records string
	var digest []byte
	switch f.Mode.Type() {
	case fs.ModeDir:
		e.Typeflag = '5'
		e.Name += "/"
		if e.Mode == 0 {
			e.Mode = 0o755
		}
	case fs.ModeSymlink:
		e.Typeflag = '2'
		e.Link = f.Link
		if e.Mode == 0 {
			e.Mode = 0o777
		}
		s := sha1.Sum([]byte(f.Link))
		records = tarPAXRecord(tarChecksumKey, hex.EncodeToString(s[:]))
	default:
		e.Typeflag = '0'
		e.Size = int64(len(f.Data))
		if e.Mode == 0 {
			e.Mode = 0o644
		}
		s := sha1.Sum(f.Data)
		digest = s[:]
		records = tarPAXRecord(tarChecksumKey, hex.EncodeToString(digest))
	}
	if len(e.Name) > 100 {
		records = tarPAXRecord("path", e.Name) + records
		e.Name = e.Name[:100]
	}
	if len(e.Link) > 100 {
		records = tarPAXRecord("linkpath", e.Link) + records
		e.Link = e.Link[:100]
	}
	if records != "" {
		pn := tarPAXName(f.Name)
		if len(pn) > 100 {
			pn = pn[:100]
		}
		b.Write(tarHeader(tarEntry{Name: pn, Mode: 0o644, Size: int64(len(records)), MTime: mtime,
			Typeflag: 'x', Magic: tarMagicPOSIX}))
		b.WriteString(records)
		b.Write(tarPadding(int64(len(records))))
	}
	h := tarHeader(e)
	if digest != nil {
		// abuild-tar's legacy checksum: "APK2", the OpenSSL NID of SHA-1
		// (64) and the digest length as native (little-endian) uint16s,
		// then the digest, from the fourth byte of the linkname field.
		l := h[157+3:]
		copy(l, "APK2")
		binary.LittleEndian.PutUint16(l[4:], 64)
		binary.LittleEndian.PutUint16(l[6:], uint16(len(digest)))
		copy(l[8:], digest)
		tarSetChecksum(h)
	}
	b.Write(h)
	if e.Typeflag == '0' {
		b.Write(f.Data)
		b.Write(tarPadding(e.Size))
	}
}

// pkgwPermBits returns the tar mode bits (permissions, setuid, setgid,
// sticky) of m.
func pkgwPermBits(m fs.FileMode) int64 {
	v := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		v |= 0o4000
	}
	if m&fs.ModeSetgid != 0 {
		v |= 0o2000
	}
	if m&fs.ModeSticky != 0 {
		v |= 0o1000
	}
	return v
}

func pkgwGzip(b []byte) ([]byte, error) {
	var out bytes.Buffer
	zw, err := gzipWriter(&out, PackageLevel)
	if err != nil {
		return nil, err
	}
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// FilesFromFS returns the files, directories and symlinks under root of
// fsys as package Files (a build's staging directory, through os.DirFS).
// Symlinks are read with fs.ReadLink.
func FilesFromFS(fsys fs.FS) ([]File, error) {
	var files []File
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == "." {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		f := File{Name: p, Mode: fi.Mode() & (fs.ModeType | fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)}
		switch fi.Mode().Type() {
		case fs.ModeDir:
		case fs.ModeSymlink:
			if f.Link, err = fs.ReadLink(fsys, p); err != nil {
				return err
			}
		case 0:
			if f.Data, err = fs.ReadFile(fsys, p); err != nil {
				return err
			}
		default:
			return fmt.Errorf("read files: %q: unsupported file type %v", p, fi.Mode().Type())
		}
		files = append(files, f)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("read files: %w", err)
	}
	return files, nil
}
