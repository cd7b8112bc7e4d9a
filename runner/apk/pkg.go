package apk

import (
	"archive/tar"
	"bufio"
	"bytes"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/klauspost/compress/gzip"
)

// PkgInfo is the content of a package's .PKGINFO, the "key = value" file
// abuild writes at the top of the control member.
type PkgInfo struct {
	Name             string   // pkgname
	Version          string   // pkgver
	Description      string   // pkgdesc
	URL              string   // url
	BuildDate        int64    // builddate: unix seconds
	Packager         string   // packager
	Size             int64    // size: installed size in bytes
	Arch             string   // arch
	Origin           string   // origin
	Commit           string   // commit
	Maintainer       string   // maintainer
	ReplacesPriority string   // replaces_priority, as text
	ProviderPriority string   // provider_priority, as text
	License          string   // license
	Replaces         []string // replaces: one line per entry
	Depends          []string // depend: one line per entry
	Provides         []string // provides: one line per entry
	InstallIf        []string // install_if: one space-separated line
	Triggers         []string // triggers: one space-separated line of paths
	DataHash         string   // datahash: hex SHA-256 of the data member
	// Extra holds unknown keys in the order they were read.
	Extra []InfoField
}

// InfoField is one unknown "key = value" line of a .PKGINFO.
type InfoField struct {
	Key, Value string
}

// ParsePkgInfo reads .PKGINFO text. name is used in errors, with the line
// number. Comment lines (#) and blank lines are skipped; list keys may occur
// any number of times, each line holding one or more space-separated values;
// for the other known keys the last line wins, as in apk.
func ParsePkgInfo(b []byte, name string) (*PkgInfo, error) {
	info := &PkgInfo{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 4096), MaxIndexLine)
	line := 0
	for sc.Scan() {
		line++
		l := sc.Text()
		if l == "" || l[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(l, " = ")
		if !ok {
			return nil, fmt.Errorf("%s:%d: malformed line %q: want \"key = value\"", name, line, indexTrim([]byte(l)))
		}
		if err := info.set(k, v); err != nil {
			return nil, fmt.Errorf("%s:%d: %w", name, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("%s:%d: line longer than %d bytes", name, line+1, MaxIndexLine)
		}
		return nil, fmt.Errorf("%s:%d: %w", name, line+1, err)
	}
	if info.Name == "" {
		return nil, fmt.Errorf("%s: no pkgname", name)
	}
	return info, nil
}

func (info *PkgInfo) set(k, v string) error {
	var err error
	num := func(s string) int64 {
		n, e := strconv.ParseInt(s, 10, 64)
		if e != nil || n < 0 {
			err = fmt.Errorf("%s: %q is not a non-negative integer", k, s)
		}
		return n
	}
	switch k {
	case "pkgname":
		info.Name = v
	case "pkgver":
		info.Version = v
	case "pkgdesc":
		info.Description = v
	case "url":
		info.URL = v
	case "builddate":
		info.BuildDate = num(v)
	case "packager":
		info.Packager = v
	case "size":
		info.Size = num(v)
	case "arch":
		info.Arch = v
	case "origin":
		info.Origin = v
	case "commit":
		info.Commit = v
	case "maintainer":
		info.Maintainer = v
	case "replaces_priority":
		num(v)
		info.ReplacesPriority = v
	case "provider_priority":
		num(v)
		info.ProviderPriority = v
	case "license":
		info.License = v
	case "replaces":
		info.Replaces = append(info.Replaces, strings.Fields(v)...)
	case "depend":
		info.Depends = append(info.Depends, strings.Fields(v)...)
	case "provides":
		info.Provides = append(info.Provides, strings.Fields(v)...)
	case "install_if":
		info.InstallIf = append(info.InstallIf, strings.Fields(v)...)
	case "triggers":
		info.Triggers = append(info.Triggers, strings.Fields(v)...)
	case "datahash":
		info.DataHash = v
	default:
		info.Extra = append(info.Extra, InfoField{Key: k, Value: v})
	}
	return err
}

// Marshal returns the .PKGINFO text in the order abuild writes it. Empty
// optional keys are left out; pkgname, pkgver, pkgdesc, url, builddate,
// packager, size, arch and license are always written.
func (info *PkgInfo) Marshal() []byte {
	var b bytes.Buffer
	kv := func(k, v string) {
		b.WriteString(k)
		b.WriteString(" = ")
		b.WriteString(v)
		b.WriteByte('\n')
	}
	opt := func(k, v string) {
		if v != "" {
			kv(k, v)
		}
	}
	kv("pkgname", info.Name)
	kv("pkgver", info.Version)
	kv("pkgdesc", info.Description)
	kv("url", info.URL)
	kv("builddate", strconv.FormatInt(info.BuildDate, 10))
	kv("packager", info.Packager)
	kv("size", strconv.FormatInt(info.Size, 10))
	kv("arch", info.Arch)
	opt("origin", info.Origin)
	opt("commit", info.Commit)
	opt("maintainer", info.Maintainer)
	opt("replaces_priority", info.ReplacesPriority)
	opt("provider_priority", info.ProviderPriority)
	kv("license", info.License)
	for _, v := range info.Replaces {
		kv("replaces", v)
	}
	for _, v := range info.Depends {
		kv("depend", v)
	}
	for _, v := range info.Provides {
		kv("provides", v)
	}
	opt("triggers", strings.Join(info.Triggers, " "))
	opt("install_if", strings.Join(info.InstallIf, " "))
	for _, f := range info.Extra {
		kv(f.Key, f.Value)
	}
	opt("datahash", info.DataHash)
	return b.Bytes()
}

// PackageFile is one parsed .apk file.
type PackageFile struct {
	Name string // file name, for errors
	Size int64  // file size in bytes
	// Signature, Control and Data are the raw gzip members. Signature is
	// nil for an unsigned package.
	Signature []byte
	Control   []byte
	Data      []byte
	// SignatureName is the .SIGN.* entry name when signed.
	SignatureName string
	Info          *PkgInfo
	// Scripts holds the control member's other entries (.pre-install,
	// .post-upgrade, .trigger, ...) by name.
	Scripts map[string][]byte
	// Files lists the data member's entries in order, without content.
	Files []PackageEntry
}

// PackageEntry describes one entry of the data member.
type PackageEntry struct {
	Name     string
	Typeflag byte
	Mode     int64 // permission bits
	Size     int64
	Link     string // link target for symlinks and hard links
	SHA1     string // the APK-TOOLS.checksum.SHA1 PAX record, hex
}

// ReadPackageFile parses an .apk: an optional signature member, the control
// member (.PKGINFO and install scripts) and the data member. It checks the
// layout, every tar path (absolute paths and ".." are rejected), each
// regular file against its APK-TOOLS.checksum.SHA1 record and the data
// member against the datahash of .PKGINFO. It does not verify the
// signature. name is used in errors.
func ReadPackageFile(b []byte, name string) (*PackageFile, error) {
	pf, err := readPackageFile(b, name)
	if err != nil {
		return nil, fmt.Errorf("read package %q: %w", name, err)
	}
	return pf, nil
}

func readPackageFile(b []byte, name string) (*PackageFile, error) {
	pf := &PackageFile{Name: name, Size: int64(len(b)), Scripts: map[string][]byte{}}
	ctl, end, err := pkgInflate(b, 0)
	if err != nil {
		return nil, pkgGzipError(b, err)
	}
	ctlOff, members := 0, 1
	// A first member that is no well-formed tar on its own is not a
	// signature; reading it as the control member says what is wrong.
	if sigName, _, ok, err := signatureTar(ctl); err == nil && ok {
		pf.Signature, pf.SignatureName = b[:end], sigName
		if end == len(b) {
			return nil, errors.New("no control member after the signature")
		}
		ctlOff, members = end, 2
		if ctl, end, err = pkgInflate(b, ctlOff); err != nil {
			return nil, pkgGzipError(b, err)
		}
	}
	pf.Control = b[ctlOff:end]
	dataOff := end
	if dataOff == len(b) {
		return nil, fmt.Errorf("no data member after the control member at offset %d", ctlOff)
	}

	items, err := tarReadAll(bytes.NewReader(ctl), func(string) bool { return true })
	if err != nil {
		return nil, fmt.Errorf("control member at offset %d: %w", ctlOff, err)
	}
	for _, it := range items {
		h := it.Header
		if h.Name == ".PKGINFO" {
			if pf.Info != nil {
				return nil, fmt.Errorf("control member at offset %d: two .PKGINFO entries", ctlOff)
			}
			if pf.Info, err = ParsePkgInfo(it.Data, ".PKGINFO"); err != nil {
				return nil, fmt.Errorf("control member at offset %d: %w", ctlOff, err)
			}
			continue
		}
		if strings.Contains(h.Name, "/") || !strings.HasPrefix(h.Name, ".") {
			return nil, fmt.Errorf("control member at offset %d: entry %q: control entries are dot files at the top level", ctlOff, h.Name)
		}
		pf.Scripts[h.Name] = it.Data
	}
	if pf.Info == nil {
		return nil, fmt.Errorf("control member at offset %d: no .PKGINFO", ctlOff)
	}

	// The data member is streamed through the tar reader, never held
	// decompressed: packages can be large.
	r := bytes.NewReader(b[dataOff:])
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, pkgGzipError(b, err)
	}
	zr.Multistream(false)
	files, walkErr := readDataEntries(zr)
	if _, err := io.Copy(io.Discard, zr); err != nil {
		return nil, pkgGzipError(b, err)
	}
	dataEnd := len(b) - r.Len()
	pf.Data = b[dataOff:dataEnd]
	if want := pf.Info.DataHash; want != "" {
		sum := sha256.Sum256(pf.Data)
		if got := hex.EncodeToString(sum[:]); !strings.EqualFold(got, want) {
			return nil, fmt.Errorf("data member at offset %d: datahash mismatch: .PKGINFO says %s, the member's SHA-256 is %s", dataOff, want, got)
		}
	}
	if walkErr != nil {
		return nil, fmt.Errorf("data member at offset %d: %w", dataOff, walkErr)
	}
	if dataEnd != len(b) {
		return nil, fmt.Errorf("gzip member %d at offset %d: unexpected member after control and data", members+2, dataEnd)
	}
	pf.Files = files
	return pf, nil
}

// pkgInflate decompresses the gzip member of b at off and returns it with
// the offset where the member ends.
func pkgInflate(b []byte, off int) (plain []byte, end int, err error) {
	r := bytes.NewReader(b[off:])
	zr, err := gzip.NewReader(r)
	if err != nil {
		return nil, 0, err
	}
	zr.Multistream(false)
	var out bytes.Buffer
	if _, err := out.ReadFrom(zr); err != nil {
		return nil, 0, err
	}
	return out.Bytes(), len(b) - r.Len(), nil
}

// pkgGzipError turns a decompression error into one naming the member and
// its offset, by splitting b again.
func pkgGzipError(b []byte, err error) error {
	if _, gerr := splitMembers(b); gerr != nil {
		return gerr
	}
	return err
}

// readDataEntries lists the data tar and checks each regular file and
// symlink against its SHA-1 PAX record where there is one, hashing the
// content as it streams by.
func readDataEntries(data io.Reader) ([]PackageEntry, error) {
	var out []PackageEntry
	h1 := sha1.New()
	err := tarWalk(data, func(h *tar.Header, body io.Reader) error {
		e := PackageEntry{Name: h.Name, Typeflag: h.Typeflag, Mode: h.Mode & 0o7777, Size: h.Size,
			Link: h.Linkname, SHA1: h.PAXRecords[tarChecksumKey]}
		h1.Reset()
		switch h.Typeflag {
		case tar.TypeReg, tar.TypeCont:
			if _, err := io.Copy(h1, body); err != nil {
				return err
			}
		case tar.TypeSymlink:
			h1.Write([]byte(h.Linkname))
		default:
			out = append(out, e)
			return nil
		}
		if e.SHA1 != "" {
			if got := hex.EncodeToString(h1.Sum(nil)); !strings.EqualFold(got, e.SHA1) {
				return fmt.Errorf("content SHA-1 is %s, its %s record says %s", got, tarChecksumKey, e.SHA1)
			}
		}
		out = append(out, e)
		return nil
	})
	return out, err
}

// Checksum returns the package's identity as apk writes it in C: "Q1" and
// the base64 SHA-1 of the raw control member.
func (pf *PackageFile) Checksum() string {
	return controlChecksum(pf.Control)
}

func controlChecksum(control []byte) string {
	sum := sha1.Sum(control)
	return "Q1" + base64.StdEncoding.EncodeToString(sum[:])
}

// IndexEntry returns the APKINDEX record apk index makes of this file: S is
// the file size, I the .PKGINFO size, C the control checksum.
func (pf *PackageFile) IndexEntry() *Package {
	in := pf.Info
	return &Package{
		Checksum:         pf.Checksum(),
		Name:             in.Name,
		Version:          in.Version,
		Arch:             in.Arch,
		Size:             pf.Size,
		InstalledSize:    in.Size,
		Description:      in.Description,
		URL:              in.URL,
		License:          in.License,
		Origin:           in.Origin,
		Maintainer:       in.Maintainer,
		BuildTime:        in.BuildDate,
		Commit:           in.Commit,
		ProviderPriority: in.ProviderPriority,
		Depends:          slices.Clone(in.Depends),
		Provides:         slices.Clone(in.Provides),
		InstallIf:        slices.Clone(in.InstallIf),
	}
}

// ReadFile returns the content of the regular file name (a path inside the
// package, without a leading "/", as in Files) from the data member.
func (p *PackageFile) ReadFile(name string) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(p.Data))
	if err != nil {
		return nil, fmt.Errorf("read %s from %s: %w", name, p.Name, err)
	}
	defer zr.Close()
	var content []byte
	found := false
	err = tarWalk(zr, func(h *tar.Header, body io.Reader) error {
		if found || h.Name != name || h.Typeflag != tar.TypeReg {
			return nil
		}
		found = true
		content, err = io.ReadAll(body)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("read %s from %s: %w", name, p.Name, err)
	}
	if !found {
		return nil, fmt.Errorf("read %s from %s: no such regular file in the package", name, p.Name)
	}
	return content, nil
}
